/**
 * Target-side verification: a worker thread (verify-worker.ts) with its own
 * PostgreSQL connection when the compiled worker exists, else the given
 * client on the main thread. Both compute targetChecksum() identically.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import type { Worker } from 'node:worker_threads';
import { targetChecksum, type TargetColumn } from './target.js';

export interface Verifier {
  checksum(table: string, columns: TargetColumn[]): Promise<{ rows: number; checksum: string }>;
  close(): Promise<void>;
}

function verifyWorkerPath(): string | null {
  const here = fileURLToPath(new URL('./verify-worker.js', import.meta.url));
  if (!import.meta.url.endsWith('.ts') && existsSync(here)) return here;
  const dist = fileURLToPath(new URL('../../dist/copy/verify-worker.js', import.meta.url));
  return existsSync(dist) ? dist : null;
}

/**
 * Open a verifier. `clientConfig` is the pg connection config (used by the
 * worker); `fallback` is a connected client for the inline mode, with
 * `sessionSql` already applied.
 */
export async function openVerifier(clientConfig: pg.ClientConfig, sessionSql: string, fallback: () => Promise<pg.ClientBase>, inline = false): Promise<Verifier & { mode: 'worker' | 'inline' }> {
  const file = inline ? null : verifyWorkerPath();
  if (!file) {
    const client = await fallback();
    return { mode: 'inline', checksum: (t, c) => targetChecksum(client, t, c), close: async () => undefined };
  }
  const { Worker } = await import('node:worker_threads');
  const worker: Worker = new Worker(file, {
    workerData: { client: clientConfig, sessionSql },
    resourceLimits: { maxYoungGenerationSizeMb: 8, maxOldGenerationSizeMb: 32 },
  });
  await new Promise<void>((resolve, reject) => {
    worker.once('message', () => resolve());
    worker.once('error', reject);
  });
  let next = 0;
  const waiting = new Map<number, { resolve: (v: { rows: number; checksum: string }) => void; reject: (e: Error) => void }>();
  const failAll = (e: Error) => {
    for (const w of waiting.values()) w.reject(e);
    waiting.clear();
  };
  worker.on('message', (m: { type: string; id: number; rows?: number; checksum?: string; message?: string; code?: string | null }) => {
    const w = waiting.get(m.id);
    if (!w) return;
    waiting.delete(m.id);
    if (m.type === 'result') w.resolve({ rows: m.rows!, checksum: m.checksum! });
    else w.reject(Object.assign(new Error(m.message), { code: m.code ?? undefined }));
  });
  worker.on('error', failAll);
  worker.on('exit', (code) => failAll(new Error(`verification worker exited (${code})`)));
  return {
    mode: 'worker',
    checksum: (table, columns) =>
      new Promise((resolve, reject) => {
        const id = ++next;
        waiting.set(id, { resolve, reject });
        worker.postMessage({ type: 'table', id, table, columns });
      }),
    close: async () => {
      const exited = new Promise<void>((r) => worker.once('exit', () => r()));
      worker.postMessage({ type: 'close' });
      const timer = setTimeout(() => void worker.terminate(), 2000);
      await exited;
      clearTimeout(timer);
    },
  };
}
