/**
 * The migration mutex: only one runner applies migrations at a time, across
 * processes and hosts.
 *
 * - PostgreSQL: a session-level advisory lock (pg_try_advisory_lock) held on
 *   the pinned connection that runs the migrations; the server releases it
 *   if the process dies. The holder is read from pg_locks/pg_stat_activity.
 * - SQLite: a one-row lock table claimed inside BEGIN IMMEDIATE (so two
 *   claimants are serialised by SQLite's own write lock), naming the holder's
 *   pid, host and start time, with a heartbeat. A row whose process is gone
 *   (same host, pid not alive) or whose heartbeat is older than
 *   STALE_AFTER_MS is taken over.
 *
 * A runner that finds the lock held polls until `timeoutMs` has passed, then
 * throws ConflictError (exit 4) naming the holder.
 */
import { hostname } from 'node:os';
import type { DatabaseAdapter } from '../db/index.js';
import type { SqliteAdapter } from '../db/index.js';
import { formatSqliteTime, parseDbTime } from '../db/index.js';
import { ConflictError } from '../errors.js';
import { pidAlive, sleep } from '../util/process.js';

export const LOCK_TABLE = 'wks_migration_lock';
/** PostgreSQL advisory lock key: the bytes of "wks_mig". */
export const ADVISORY_KEY = '33613665494985063';
export const STALE_AFTER_MS = 5 * 60_000;
const HEARTBEAT_MS = 5_000;

export interface LockHolder {
  pid: number | null;
  host: string | null;
  since: Date | null;
  /** Free text: PostgreSQL application_name / client address, SQLite holder label. */
  detail: string;
}

export interface LockOptions {
  timeoutMs: number;
  /** Called once, when the lock is found held and the runner starts waiting. */
  onWait?: (holder: LockHolder | null) => void;
  /** Poll interval (default 100 ms). */
  pollMs?: number;
}

export function describeHolder(h: LockHolder | null): string {
  if (!h) return 'another wks process';
  const since = h.since ? ` since ${h.since.toISOString()}` : '';
  return `pid ${h.pid ?? '?'} on ${h.host ?? '?'}${since}${h.detail ? ` (${h.detail})` : ''}`;
}

function conflict(holder: LockHolder | null, waitedMs: number): ConflictError {
  return new ConflictError(
    `another migration run holds the migration mutex: ${describeHolder(holder)}; gave up after ${waitedMs} ms`,
    {
      hint: 'wait for it to finish and re-run; raise phase4.database.migrations.lock_timeout_ms to wait longer',
      details: { holder },
    },
  );
}

/**
 * Poll `tryClaim` until it claims the lock: calls `opts.onWait` once with the
 * first holder seen, sleeps `opts.pollMs` (default 100 ms) between attempts,
 * and throws ConflictError (exit 4) naming the holder once `opts.timeoutMs`
 * has passed.
 */
async function pollForLock(
  opts: LockOptions,
  tryClaim: () => Promise<{ claimed: boolean; holder: LockHolder | null }>,
): Promise<void> {
  const started = Date.now();
  let notified = false;
  for (;;) {
    const { claimed, holder } = await tryClaim();
    if (claimed) return;
    const waited = Date.now() - started;
    if (waited >= opts.timeoutMs) throw conflict(holder, waited);
    if (!notified) {
      notified = true;
      opts.onWait?.(holder);
    }
    await sleep(Math.min(opts.pollMs ?? 100, Math.max(1, opts.timeoutMs - waited)));
  }
}

/** PostgreSQL: the label this process puts in application_name (shown to other runners). */
export function pgApplicationName(): string {
  return `wks migrate pid=${process.pid} host=${hostname()}`.slice(0, 63);
}

async function pgHolder(conn: DatabaseAdapter): Promise<LockHolder | null> {
  const rows = await conn.query<{
    pid: number;
    application_name: string;
    client_addr: string | null;
    backend_start: Date;
  }>(
    `SELECT a.pid, a.application_name, a.client_addr::text AS client_addr, a.backend_start
       FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
      WHERE l.locktype = 'advisory' AND l.granted
        AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
        AND l.classid = ($1::bigint >> 32)::oid AND l.objid = ($1::bigint & 4294967295)::oid AND l.objsubid = 1
      LIMIT 1`,
    [ADVISORY_KEY],
  );
  const r = rows[0];
  if (!r) return null;
  const m = /pid=(\d+) host=(\S+)/.exec(r.application_name ?? '');
  return {
    pid: m ? Number(m[1]) : null,
    host: m ? m[2]! : (r.client_addr ?? 'local socket'),
    since: r.backend_start ?? null,
    detail: `backend pid ${r.pid}${r.application_name ? `, ${r.application_name}` : ''}`,
  };
}

/** Hold the PostgreSQL advisory lock on `conn` (a pinned connection) while `fn` runs. */
export async function withPgLock<T>(conn: DatabaseAdapter, opts: LockOptions, fn: () => Promise<T>): Promise<T> {
  await pollForLock(opts, async () => {
    const [r] = await conn.query<{ ok: boolean }>(`SELECT pg_try_advisory_lock($1::bigint) AS ok`, [ADVISORY_KEY]);
    if (r?.ok) return { claimed: true, holder: null };
    return { claimed: false, holder: await pgHolder(conn).catch(() => null) };
  });
  try {
    return await fn();
  } finally {
    await conn.query(`SELECT pg_advisory_unlock($1::bigint)`, [ADVISORY_KEY]).catch(() => undefined);
  }
}

interface SqliteLockRow {
  pid: number;
  host: string;
  acquired_at: string;
  heartbeat_at: string;
  token: string;
}

function sqliteHolder(r: SqliteLockRow): LockHolder {
  return { pid: r.pid, host: r.host, since: parseDbTime(r.acquired_at), detail: `heartbeat ${r.heartbeat_at} UTC` };
}

function isStale(r: SqliteLockRow, now: Date): boolean {
  // Same host: the process table is the truth (a long statement blocks the
  // holder's heartbeat, so the heartbeat alone would misjudge it).
  if (r.host === hostname()) return !pidAlive(r.pid);
  const hb = parseDbTime(r.heartbeat_at);
  return !hb || now.getTime() - hb.getTime() > STALE_AFTER_MS;
}

/** Hold the SQLite migration mutex (see module comment) while `fn` runs. */
export async function withSqliteLock<T>(db: SqliteAdapter, opts: LockOptions, fn: () => Promise<T>): Promise<T> {
  const h = db.handle;
  const token = `${process.pid}-${hostname()}-${Date.now()}-${Math.random().toString(36).slice(2)}`;
  await pollForLock(opts, async () => {
    let holder: LockHolder | null = null;
    // BEGIN IMMEDIATE waits (busy_timeout) for any other writer, then makes the
    // read-check-write below atomic across processes.
    const claim = h.transaction(() => {
      h.exec(`CREATE TABLE IF NOT EXISTS ${LOCK_TABLE} (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        pid INTEGER NOT NULL,
        host TEXT NOT NULL,
        token TEXT NOT NULL,
        acquired_at TEXT NOT NULL,
        heartbeat_at TEXT NOT NULL
      )`);
      const row = h
        .prepare(`SELECT pid, host, token, acquired_at, heartbeat_at FROM ${LOCK_TABLE} WHERE id = 1`)
        .get() as SqliteLockRow | undefined;
      const now = new Date();
      if (row && !isStale(row, now)) {
        holder = sqliteHolder(row);
        return false;
      }
      const ts = formatSqliteTime(now);
      h.prepare(
        `INSERT OR REPLACE INTO ${LOCK_TABLE} (id, pid, host, token, acquired_at, heartbeat_at) VALUES (1, ?, ?, ?, ?, ?)`,
      ).run(process.pid, hostname(), token, ts, ts);
      return true;
    });
    let claimed: boolean;
    try {
      claimed = claim.immediate();
    } catch (err) {
      // SQLITE_BUSY: a writer (typically the holder, inside a migration longer
      // than busy_timeout) kept the write lock; that is "held", not a failure.
      if (!String((err as { code?: string }).code ?? '').startsWith('SQLITE_BUSY')) throw err;
      claimed = false;
      try {
        const row = h
          .prepare(`SELECT pid, host, token, acquired_at, heartbeat_at FROM ${LOCK_TABLE} WHERE id = 1`)
          .get() as SqliteLockRow | undefined;
        if (row) holder = sqliteHolder(row);
      } catch {
        /* the lock table may not be visible yet */
      }
    }
    return { claimed, holder };
  });
  // Heartbeat between statements (never inside a migration's own transaction).
  const beat = setInterval(() => {
    if (h.open && !h.inTransaction) {
      try {
        h.prepare(`UPDATE ${LOCK_TABLE} SET heartbeat_at = ? WHERE id = 1 AND token = ?`).run(
          formatSqliteTime(new Date()),
          token,
        );
      } catch {
        /* busy: the next beat will do */
      }
    }
  }, HEARTBEAT_MS);
  beat.unref();
  try {
    return await fn();
  } finally {
    clearInterval(beat);
    // Release; retried on SQLITE_BUSY because a live process's row is never
    // taken over on the same host.
    for (let attempt = 0; h.open && attempt < 50; attempt++) {
      try {
        h.prepare(`DELETE FROM ${LOCK_TABLE} WHERE id = 1 AND token = ?`).run(token);
        break;
      } catch (err) {
        if (!String((err as { code?: string }).code ?? '').startsWith('SQLITE_BUSY')) break;
        await sleep(50);
      }
    }
  }
}
