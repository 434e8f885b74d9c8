/**
 * The one way wks finds the module a worker thread runs. A worker needs JavaScript: from the built
 * package (`dist/`) that is the `.js` file beside the caller; when the caller itself runs from
 * TypeScript source (the test suite, which builds first), it is the same file in `dist/`. A missing
 * worker module is an error that says how to build it, never a silent fallback to the calling thread:
 * running inline is a mode a caller asks for explicitly.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Worker } from 'node:worker_threads';
import { OperationError } from '../errors.js';

/**
 * The path of the compiled worker module `name` (for example `worker.js`) that sits beside the module
 * at `callerUrl` (its `import.meta.url`). Throws OperationError (exit 1) when it is not built.
 */
export function workerPath(callerUrl: string, name: string): string {
  const here = fileURLToPath(new URL(`./${name}`, callerUrl));
  if (!callerUrl.endsWith('.ts')) return here;
  // From src/<area>/x.ts to dist/<area>/<name>.
  const src = fileURLToPath(new URL('.', callerUrl));
  const at = src.lastIndexOf('/src/');
  const dist = at < 0 ? here : `${src.slice(0, at)}/dist/${src.slice(at + '/src/'.length)}${name}`;
  if (!existsSync(dist)) {
    throw new OperationError(`the worker module ${name} is not built (looked for ${dist})`, {
      hint: 'run `npm run build` first',
    });
  }
  return dist;
}

/** Ask a worker to finish (`{ type: 'close' }`) and wait until it exits; it is terminated after `graceMs` (default 2 s). Never rejects. */
export async function closeWorker(worker: Worker, graceMs = 2000): Promise<void> {
  const exited = new Promise<void>((r) => worker.once('exit', () => r()));
  worker.postMessage({ type: 'close' });
  const timer = setTimeout(() => void worker.terminate(), graceMs);
  await exited;
  clearTimeout(timer);
}
