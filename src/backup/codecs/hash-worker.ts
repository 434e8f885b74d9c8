/**
 * sha256 of a file on a worker thread, so hashing overlaps with work on the
 * main thread (row counts after a snapshot, quick_check during verify).
 * The worker runs this same module, compiled (util/worker.ts finds it, also
 * when the caller runs from TypeScript source under the test suite).
 */
import { createHash } from 'node:crypto';
import { open, stat } from 'node:fs/promises';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { workerPath } from '../../util/worker.js';

/** Hash with one reused 1 MiB buffer: no per-chunk allocation, so memory stays flat for any size. */
async function hashHere(file: string): Promise<{ size: number; sha256: string }> {
  const h = createHash('sha256');
  const buf = Buffer.allocUnsafe(1 << 20);
  const fh = await open(file, 'r');
  let size = 0;
  try {
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      h.update(buf.subarray(0, bytesRead));
      size += bytesRead;
    }
  } finally {
    await fh.close();
  }
  return { size, sha256: h.digest('hex') };
}

/** Below this size a file is hashed on the calling thread: starting a worker costs more than the hash. */
const INLINE_BYTES = 16 << 20;

/** sha256 and size of `file`: on a worker thread, or on this one when the file is small. Rejects on I/O errors. */
export async function hashFileSoon(file: string): Promise<{ size: number; sha256: string }> {
  return (await stat(file)).size < INLINE_BYTES ? hashHere(file) : hashFileInWorker(file);
}

/** sha256 and size of `file`, computed on a worker thread. Rejects on I/O errors. */
export function hashFileInWorker(file: string): Promise<{ size: number; sha256: string }> {
  return new Promise((resolve, reject) => {
    const w = new Worker(workerPath(import.meta.url, 'hash-worker.js'), { workerData: { wksHashFile: file } });
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
