/**
 * Main-thread access to the SQLite source: in a worker thread (default; the
 * conversion runs on the second core while this thread feeds PostgreSQL) or
 * inline, on the calling thread, when the caller asks for it (`inline`).
 */
import type { Worker } from 'node:worker_threads';
import { closeWorker, workerPath } from '../util/worker.js';
import {
  inspectSource,
  produceChunks,
  SourceTypeError,
  type ProblemRecord,
  type SourceTable,
  type TableSpec,
  type TableSummary,
} from './source.js';

export interface ChunkSink {
  /** Write a chunk of COPY text; call `done` once it has been handed to the socket. */
  write(buf: Uint8Array, done: () => void): void;
  /** Rows read / written so far in this table, and problems found in this chunk. */
  progress(read: number, written: number, problems: ProblemRecord[]): void;
  /** Resolve when the sink can take more (inline mode's backpressure). */
  ready(): Promise<void>;
}

export interface SourceReader {
  readonly mode: 'worker' | 'inline';
  plan(): Promise<SourceTable[]>;
  /** Stream one table into the sink. Rejects with SourceTypeError or Error. */
  table(spec: TableSpec, sink: ChunkSink): Promise<TableSummary>;
  /** Ask a running table() to stop (it rejects with 'aborted'). */
  abort(): void;
  close(): Promise<void>;
}

export interface ReaderOptions {
  path: string;
  busyTimeoutMs: number;
  /** Chunks in flight between the worker and the socket (memory bound). Default 4. */
  maxInFlight?: number;
  /** Force inline mode (no worker thread). */
  inline?: boolean;
}

/** Bytes per shared chunk slot: a chunk ends once it passes MAX_CHUNK_BYTES (1 MiB), so one more row fits unless it is huge (then it travels in a buffer of its own). */
const SLOT_BYTES = 2 * 1024 * 1024;

class InlineReader implements SourceReader {
  readonly mode = 'inline' as const;
  private aborted = false;
  private constructor(private readonly db: import('better-sqlite3').Database) {}

  static async open(o: ReaderOptions): Promise<InlineReader> {
    const { openSqliteSnapshot } = await import('../db/index.js');
    return new InlineReader(await openSqliteSnapshot(o.path, o.busyTimeoutMs));
  }
  async plan(): Promise<SourceTable[]> {
    return inspectSource(this.db);
  }
  async table(spec: TableSpec, sink: ChunkSink): Promise<TableSummary> {
    this.aborted = false;
    const gen = produceChunks(this.db, spec);
    let read = 0;
    let written = 0;
    for (;;) {
      if (this.aborted) throw new Error('aborted');
      const next = gen.next();
      if (next.done) return next.value;
      const c = next.value;
      read += c.read;
      written += c.rows;
      if (c.encoded) {
        sink.write(c.encoded.bytes.subarray(0, c.encoded.len), () => undefined);
        await sink.ready();
      } else if (read % (spec.batchRows * 20) < spec.batchRows) {
        await new Promise((r) => setImmediate(r)); // let progress render during a hash-only pass
      }
      sink.progress(read, written, c.problems);
    }
  }
  abort(): void {
    this.aborted = true;
  }
  async close(): Promise<void> {
    try {
      this.db.exec('COMMIT');
    } catch {
      /* nothing to commit */
    }
    this.db.close();
  }
}

class WorkerReader implements SourceReader {
  readonly mode = 'worker' as const;
  private readonly credits: Int32Array;
  private constructor(
    private readonly worker: Worker,
    shared: SharedArrayBuffer,
    private readonly slots: SharedArrayBuffer,
  ) {
    this.credits = new Int32Array(shared);
  }

  static async open(o: ReaderOptions, file: string): Promise<WorkerReader> {
    const { Worker } = await import('node:worker_threads');
    const shared = new SharedArrayBuffer(8);
    const maxInFlight = o.maxInFlight ?? 4;
    const slots = new SharedArrayBuffer(maxInFlight * SLOT_BYTES);
    // A larger young generation: the producer makes many short-lived strings, and scavenges dominate otherwise.
    const worker = new Worker(file, {
      workerData: { path: o.path, busyTimeoutMs: o.busyTimeoutMs, shared, slots, slotBytes: SLOT_BYTES, maxInFlight },
      resourceLimits: { maxYoungGenerationSizeMb: 12, maxOldGenerationSizeMb: 48 },
    });
    await new Promise<void>((resolve, reject) => {
      const onMsg = (m: { type: string; message?: string }) => {
        if (m.type === 'ready') {
          worker.off('message', onMsg);
          worker.off('error', reject);
          resolve();
        } else if (m.type === 'fatal') reject(new Error(m.message));
      };
      worker.on('message', onMsg);
      worker.once('error', reject);
    });
    return new WorkerReader(worker, shared, slots);
  }

  private request<T>(
    msg: unknown,
    // biome-ignore lint/suspicious/noExplicitAny: messages come from our own worker and are told apart by their `type` field
    onMessage: (m: any, resolve: (v: T) => void, reject: (e: Error) => void) => void,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const cleanup = () => {
        this.worker.off('message', handler);
        this.worker.off('error', onError);
        this.worker.off('exit', onExit);
      };
      const res = (v: T) => {
        cleanup();
        resolve(v);
      };
      const rej = (e: Error) => {
        cleanup();
        reject(e);
      };
      // biome-ignore lint/suspicious/noExplicitAny: see onMessage
      const handler = (m: any) => onMessage(m, res, rej);
      const onError = (e: Error) => rej(e);
      const onExit = (code: number) => rej(new Error(`copy worker exited (${code})`));
      this.worker.on('message', handler);
      this.worker.once('error', onError);
      this.worker.once('exit', onExit);
      this.worker.postMessage(msg);
    });
  }

  plan(): Promise<SourceTable[]> {
    return this.request<SourceTable[]>({ type: 'plan' }, (m, resolve, reject) => {
      if (m.type === 'plan') resolve(m.tables);
      else if (m.type === 'error') reject(new Error(m.message));
    });
  }

  table(spec: TableSpec, sink: ChunkSink): Promise<TableSummary> {
    Atomics.store(this.credits, 0, 0);
    Atomics.store(this.credits, 1, 0);
    let read = 0;
    let written = 0;
    const release = () => {
      Atomics.sub(this.credits, 0, 1);
      Atomics.notify(this.credits, 0);
    };
    return this.request<TableSummary>({ type: 'table', spec }, (m, resolve, reject) => {
      if (m.type === 'chunk') {
        read += m.read;
        written += m.rows;
        if (m.slot !== undefined) sink.write(Buffer.from(this.slots, m.slot * SLOT_BYTES, m.len), release);
        else if (m.buf) sink.write(m.buf, release);
        sink.progress(read, written, m.problems);
      } else if (m.type === 'done') resolve(m.summary);
      else if (m.type === 'aborted') reject(new Error('aborted'));
      else if (m.type === 'error') reject(m.record ? new SourceTypeError(m.record) : new Error(m.message));
    });
  }

  abort(): void {
    Atomics.store(this.credits, 1, 1);
    Atomics.notify(this.credits, 0);
  }

  close(): Promise<void> {
    return closeWorker(this.worker);
  }
}

/** Open the source in a worker thread, or on the calling thread with `inline`. The caller must close() it. */
export async function openSourceReader(o: ReaderOptions): Promise<SourceReader> {
  if (o.inline) return InlineReader.open(o);
  return WorkerReader.open(o, workerPath(import.meta.url, 'worker.js'));
}
