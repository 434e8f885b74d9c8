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

type Hashed = { size: number; sha256: string };

/** Below this size a file is hashed on the calling thread: starting a worker costs more than the hash. */
const INLINE_BYTES = 16 << 20;

/** sha256 and size of `file`: on a worker thread, or on this one when the file is small. Rejects on I/O errors. */
export async function hashFileSoon(file: string): Promise<Hashed> {
  return (await stat(file)).size < INLINE_BYTES ? hashHere(file) : hashFileInWorker(file);
}

/** sha256 and size of `file`, computed on a worker thread. Rejects on I/O errors. */
export function hashFileInWorker(file: string): Promise<Hashed> {
  return hashWorker(file).result;
}

/**
 * A hasher for a file that is still being written: when it is expected to be big, the worker thread
 * starts now (its start-up overlaps the writing) and hashes the file once `hash(file)` hands it over;
 * otherwise `hash` is hashFileSoon. `cancel()` ends a worker that was not used (or is no longer needed).
 */
export function hashAhead(expectedBytes: number | null): { hash(file: string): Promise<Hashed>; cancel(): void } {
  if (!expectedBytes || expectedBytes < INLINE_BYTES) return { hash: hashFileSoon, cancel: () => undefined };
  const w = hashWorker(null);
  w.worker.unref(); // an idle worker never keeps the process alive
  w.result.catch(() => undefined); // a cancelled worker's exit is not an error anyone waits for
  return {
    hash: (file) => {
      w.worker.ref();
      w.worker.postMessage({ file });
      return w.result;
    },
    cancel: () => void w.worker.terminate(),
  };
}

/** A worker thread hashing `file`, or (null) the file it is later sent as `{ file }`. */
function hashWorker(file: string | null): { worker: Worker; result: Promise<Hashed> } {
  const worker = new Worker(workerPath(import.meta.url, 'hash-worker.js'), {
    workerData: { wksHashFile: file, wksHashWait: file === null },
  });
  const result = new Promise<Hashed>((resolve, reject) => {
    worker.once('message', (m: Hashed | { error: string; code?: string }) => {
      if ('error' in m) reject(Object.assign(new Error(m.error), { code: m.code }));
      else resolve(m);
    });
    worker.once('error', reject);
    worker.once('exit', (code) => {
      if (code !== 0) reject(new Error(`hash worker exited with code ${code}`));
    });
  });
  return { worker, result };
}

const job = workerData as { wksHashFile?: string | null; wksHashWait?: boolean } | null;
if (!isMainThread && parentPort && (job?.wksHashFile || job?.wksHashWait)) {
  const port = parentPort;
  const run = (file: string) =>
    hashHere(file).then(
      (r) => port.postMessage(r),
      (err: NodeJS.ErrnoException) => port.postMessage({ error: err.message, code: err.code }),
    );
  if (job.wksHashFile) void run(job.wksHashFile);
  else port.once('message', (m: { file: string }) => void run(m.file));
}
