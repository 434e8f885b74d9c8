/**
 * sha256 of a file on a worker thread, so hashing overlaps with work on the
 * main thread (row counts after a snapshot, quick_check during verify).
 * When this module runs from TypeScript source (tests through vitest), a
 * worker cannot load it, so the hash runs on the calling thread instead.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';

function hashHere(file: string): Promise<{ size: number; sha256: string }> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    let size = 0;
    createReadStream(file, { highWaterMark: 1 << 20 })
      .on('data', (c) => {
        const b = c as Buffer;
        h.update(b);
        size += b.length;
      })
      .on('end', () => resolve({ size, sha256: h.digest('hex') }))
      .on('error', reject);
  });
}

/** sha256 and size of `file`, computed on a worker thread. Rejects on I/O errors. */
export function hashFileInWorker(file: string): Promise<{ size: number; sha256: string }> {
  if (!import.meta.url.endsWith('.js')) return hashHere(file);
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL(import.meta.url), { workerData: { wksHashFile: file } });
    w.once('message', (m: { size: number; sha256: string } | { error: string; code?: string }) => {
      if ('error' in m) reject(Object.assign(new Error(m.error), { code: m.code }));
      else resolve(m);
    });
    w.once('error', reject);
    w.once('exit', (code) => {
      if (code !== 0) reject(new Error(`hash worker exited with code ${code}`));
    });
  });
}

const job = (workerData as { wksHashFile?: string } | null)?.wksHashFile;
if (!isMainThread && parentPort && job) {
  hashHere(job).then(
    (r) => parentPort!.postMessage(r),
    (err: NodeJS.ErrnoException) => parentPort!.postMessage({ error: err.message, code: err.code }),
  );
}
