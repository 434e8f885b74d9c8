/**
 * The copy worker thread: reads SQLite (one read snapshot for the whole run)
 * and converts rows to COPY text while the main thread streams the previous
 * chunk to PostgreSQL, so the two cores both work.
 *
 * Protocol (see reader.ts for the main-thread side):
 *   main -> worker  {type:'plan'}                         -> {type:'plan', tables}
 *   main -> worker  {type:'table', spec}                  -> {type:'chunk', buf, rows, read, problems}* then {type:'done', summary} | {type:'error', ...}
 *   main -> worker  {type:'close'}                        -> the worker ends its snapshot and exits
 * Backpressure: `credits[0]` counts chunks posted but not yet written to the
 * socket; the worker blocks (Atomics.wait) while it is at `maxInFlight`.
 * `credits[1]` set to 1 asks the worker to stop the current table.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { inspectSource, produceChunks, SourceTypeError, type Encoded, type TableSpec } from './source.js';
import { openSqliteSnapshot } from '../db/index.js';

interface Init {
  path: string;
  busyTimeoutMs: number;
  shared: SharedArrayBuffer;
  /** maxInFlight slots of slotBytes each: chunks are encoded here, so no buffer is allocated per chunk. */
  slots: SharedArrayBuffer;
  slotBytes: number;
  maxInFlight: number;
}

const init = workerData as Init;
const credits = new Int32Array(init.shared);
const port = parentPort!;

let db: import('better-sqlite3').Database;
try {
  // One read transaction for the whole run: counts, rows and checksums all come from the same snapshot.
  db = await openSqliteSnapshot(init.path, init.busyTimeoutMs);
} catch (err) {
  port.postMessage({ type: 'fatal', message: (err as Error).message });
  throw err;
}

let seq = 0;

function runTable(spec: TableSpec): void {
  const t0 = performance.now();
  let waitMs = 0;
  // Called by the producer at the end of each chunk: wait for a free slot, copy the bytes into it.
  const publish = (bytes: Uint8Array, len: number): Encoded => {
    if (Atomics.load(credits, 0) >= init.maxInFlight) {
      const w0 = performance.now();
      while (Atomics.load(credits, 0) >= init.maxInFlight) {
        if (Atomics.load(credits, 1) !== 0) break;
        Atomics.wait(credits, 0, Atomics.load(credits, 0), 200);
      }
      waitMs += performance.now() - w0;
    }
    // Releases happen in order (one socket), so slot seq % maxInFlight is the free one.
    const slot = seq++ % init.maxInFlight;
    if (len <= init.slotBytes) {
      const view = new Uint8Array(init.slots, slot * init.slotBytes, len);
      view.set(bytes.subarray(0, len));
      return { bytes: view, len, slot };
    }
    const own = bytes.slice(0, len); // larger than a slot (one huge row): a buffer of its own
    return { bytes: own, len };
  };
  const gen = produceChunks(db, spec, publish);
  for (;;) {
    if (Atomics.load(credits, 1) !== 0) {
      port.postMessage({ type: 'aborted' });
      return;
    }
    const next = gen.next();
    if (next.done) {
      port.postMessage({
        type: 'done',
        summary: {
          ...next.value,
          readerBusyMs: Math.round(performance.now() - t0 - waitMs),
          readerWaitMs: Math.round(waitMs),
        },
      });
      return;
    }
    const c = next.value;
    const e = c.encoded;
    if (e) {
      Atomics.add(credits, 0, 1);
      if (e.slot !== undefined)
        port.postMessage({ type: 'chunk', slot: e.slot, len: e.len, rows: c.rows, read: c.read, problems: c.problems });
      else
        port.postMessage(
          { type: 'chunk', buf: e.bytes, len: e.len, rows: c.rows, read: c.read, problems: c.problems },
          [e.bytes.buffer as ArrayBuffer],
        );
    } else {
      port.postMessage({ type: 'chunk', rows: c.rows, read: c.read, problems: c.problems });
    }
  }
}

port.on('message', (msg: { type: string; spec?: TableSpec }) => {
  try {
    if (msg.type === 'plan') port.postMessage({ type: 'plan', tables: inspectSource(db) });
    else if (msg.type === 'table') runTable(msg.spec!);
    else if (msg.type === 'close') {
      try {
        db.exec('COMMIT');
      } catch {
        /* read-only snapshot: nothing to commit */
      }
      db.close();
      port.close();
    }
  } catch (err) {
    if (err instanceof SourceTypeError) port.postMessage({ type: 'error', record: err.record, message: err.message });
    else port.postMessage({ type: 'error', message: (err as Error).message });
  }
});
port.postMessage({ type: 'ready' });
