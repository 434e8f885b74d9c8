/**
 * Target-side verification: worker threads (verify-worker.ts), each with its
 * own PostgreSQL connection, when the compiled worker exists; else the given
 * client on the main thread. Both compute targetChecksum() identically.
 *
 * With workers, a big table is read in two ctid ranges at once (one per
 * worker) and the two checksums are added: the verification left after the
 * last COPY then uses both cores.
 */
import type pg from 'pg';
import type { Worker } from 'node:worker_threads';
import { closeWorker, workerPath } from '../util/worker.js';
import { combineDigests, ctidParts, targetChecksum, type TargetColumn } from './target.js';

export interface Verifier {
  readonly mode: 'worker' | 'inline';
  /** Count and checksum of the table's rows over `columns` (canonical form). */
  checksum(table: string, columns: TargetColumn[], expectedRows: number): Promise<{ rows: number; checksum: string }>;
  close(): Promise<void>;
}

/** Tables with at least this many rows are verified in two parts in parallel. */
const SPLIT_ROWS = 200_000;
const WORKERS = 2;

type Result = { rows: number; checksum: string };

class VerifyWorker {
  private next = 0;
  private readonly waiting = new Map<number, { resolve: (v: Result) => void; reject: (e: Error) => void }>();
  private constructor(private readonly worker: Worker) {
    worker.on(
      'message',
      (m: { type: string; id: number; rows?: number; checksum?: string; message?: string; code?: string | null }) => {
        const w = this.waiting.get(m.id);
        if (!w) return;
        this.waiting.delete(m.id);
        if (m.type === 'result') w.resolve({ rows: m.rows!, checksum: m.checksum! });
        else w.reject(Object.assign(new Error(m.message), { code: m.code ?? undefined }));
      },
    );
    worker.on('error', (e) => this.failAll(e));
    worker.on('exit', (code) => this.failAll(new Error(`verification worker exited (${code})`)));
  }
  static async start(file: string, clientConfig: pg.ClientConfig, sessionSql: string): Promise<VerifyWorker> {
    const { Worker } = await import('node:worker_threads');
    const worker = new Worker(file, {
      workerData: { client: clientConfig, sessionSql },
      resourceLimits: { maxYoungGenerationSizeMb: 2, maxOldGenerationSizeMb: 16 },
    });
    await new Promise<void>((resolve, reject) => {
      worker.once('message', () => resolve());
      worker.once('error', reject);
    });
    return new VerifyWorker(worker);
  }
  private failAll(e: Error): void {
    for (const w of this.waiting.values()) w.reject(e);
    this.waiting.clear();
  }
  run(table: string, columns: TargetColumn[], where?: string): Promise<Result> {
    return new Promise((resolve, reject) => {
      const id = ++this.next;
      this.waiting.set(id, { resolve, reject });
      this.worker.postMessage({ type: 'table', id, table, columns, where });
    });
  }
  close(): Promise<void> {
    return closeWorker(this.worker);
  }
}

/**
 * Open a verifier. `clientConfig` is the pg connection config the workers
 * use; `fallback` yields a connected client (with `sessionSql` applied) for
 * the inline mode, also used to size ctid ranges.
 */
export async function openVerifier(
  clientConfig: pg.ClientConfig,
  sessionSql: string,
  fallback: () => Promise<pg.ClientBase>,
  inline = false,
): Promise<Verifier> {
  const file = inline ? null : workerPath(import.meta.url, 'verify-worker.js');
  const client = await fallback();
  if (!file) {
    return { mode: 'inline', checksum: (t, c) => targetChecksum(client, t, c), close: async () => undefined };
  }
  const workers: VerifyWorker[] = [];
  try {
    for (let i = 0; i < WORKERS; i++) workers.push(await VerifyWorker.start(file, clientConfig, sessionSql));
  } catch (err) {
    await Promise.all(workers.map((w) => w.close().catch(() => undefined)));
    throw err;
  }
  let rr = 0;
  return {
    mode: 'worker',
    async checksum(table, columns, expectedRows) {
      const parts = expectedRows >= SPLIT_ROWS ? await ctidParts(client, table, WORKERS) : [];
      if (parts.length === 0) return workers[rr++ % WORKERS]!.run(table, columns);
      const res = await Promise.all(parts.map((where, i) => workers[i]!.run(table, columns, where)));
      return res.reduce((a, b) => ({ rows: a.rows + b.rows, checksum: combineDigests(a.checksum, b.checksum) }));
    },
    async close() {
      await Promise.all(workers.map((w) => w.close().catch(() => undefined)));
    },
  };
}
