/**
 * The verification worker thread: re-reads copied tables from PostgreSQL
 * (COPY TO, its own connection and session settings) and computes their
 * checksums, so that this CPU work neither blocks the main thread, which
 * keeps feeding the COPY of the next table, nor grows its heap (the thread
 * runs with small heap limits; see verifier.ts).
 *
 * Protocol: {type:'table', id, table, columns} -> {type:'result', id, rows, checksum} | {type:'error', id, message, code}
 *           {type:'close'} -> the connection is closed and the thread exits.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { targetChecksum, type TargetColumn } from './target.js';

const port = parentPort!;
const { default: pgmod } = await import('pg');
const client = new pgmod.Client(workerData.client as import('pg').ClientConfig);
let ready: Promise<void> | null = null;
const connect = () =>
  (ready ??= (async () => {
    await client.connect();
    await client.query(workerData.sessionSql as string);
  })());

port.on(
  'message',
  async (m: { type: string; id?: number; table?: string; columns?: TargetColumn[]; where?: string }) => {
    if (m.type === 'close') {
      await client.end().catch(() => undefined);
      port.close();
      return;
    }
    try {
      await connect();
      const r = await targetChecksum(client, m.table!, m.columns!, undefined, m.where);
      port.postMessage({ type: 'result', id: m.id, rows: r.rows, checksum: r.checksum });
    } catch (err) {
      const e = err as { message: string; code?: string };
      port.postMessage({ type: 'error', id: m.id, message: e.message, code: e.code ?? null });
    }
  },
);
port.postMessage({ type: 'ready' });
