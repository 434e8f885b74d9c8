/** Worker-thread plumbing shared by the source reader and the verifier. */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Worker } from 'node:worker_threads';

/**
 * Where the compiled worker module `name` (e.g. `worker.js`) is: beside this
 * module, or in dist/copy/ when running from src/ (vitest). Null when neither
 * exists (callers then fall back to inline mode).
 */
export function compiledWorker(name: string): string | null {
  const here = fileURLToPath(new URL(`./${name}`, import.meta.url));
  if (!import.meta.url.endsWith('.ts') && existsSync(here)) return here;
  const dist = fileURLToPath(new URL(`../../dist/copy/${name}`, import.meta.url));
  return existsSync(dist) ? dist : null;
}

/** Ask a worker to finish (`{ type: 'close' }`) and wait until it exits; it is terminated after `graceMs` (default 2 s). Never rejects. */
export async function closeWorker(worker: Worker, graceMs = 2000): Promise<void> {
  const exited = new Promise<void>((r) => worker.once('exit', () => r()));
  worker.postMessage({ type: 'close' });
  const timer = setTimeout(() => void worker.terminate(), graceMs);
  await exited;
  clearTimeout(timer);
}
