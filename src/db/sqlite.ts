/**
 * SQLite adapter (better-sqlite3). One connection per adapter, opened in WAL
 * mode with a busy timeout (database.busy_timeout_ms) and foreign keys on.
 * better-sqlite3 is synchronous; the async interface keeps callers identical
 * across dialects.
 *
 * Concurrency note: one adapter is one connection. Top-level transactions
 * are queued; but a plain query()/run() issued on the adapter while another
 * caller's transaction is open runs inside that transaction (it is the same
 * connection). Code that mixes concurrent work should open its own adapter.
 */
import { onReadOnlyFs, readOnlyFsText } from '../util/fs.js';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import type Database from 'better-sqlite3';
import { NotFoundError, DependencyError } from '../errors.js';
import { wrapDbError } from './errors.js';
import { rewritePlaceholders } from './placeholders.js';
import { formatSqliteTime } from './time.js';
import type { DatabaseAdapter, OpenOptions, PoolStats } from './types.js';

export interface SqliteOpenSettings {
  path: string;
  busyTimeoutMs: number;
}

function bindValue(v: unknown): unknown {
  if (v === undefined) return null;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (v instanceof Date) return formatSqliteTime(v);
  if (v !== null && typeof v === 'object' && !Buffer.isBuffer(v)) return JSON.stringify(v);
  return v;
}

function bindAll(order: number[], params: unknown[] | undefined): unknown[] {
  if (!params || params.length === 0) return [];
  return order.map((i) => bindValue(params[i]));
}

export class SqliteAdapter implements DatabaseAdapter {
  readonly dialect = 'sqlite' as const;
  readonly target: string;
  /** The raw better-sqlite3 handle, for SQLite-specific APIs (online backup, pragmas). */
  readonly handle: Database.Database;
  private closed = false;
  /** Top-level transactions on this connection run one at a time (see transaction()). */
  private queue: Promise<void> = Promise.resolve();

  /** `level` > 0: the adapter handed to a transaction callback (nested calls use SAVEPOINTs). */
  constructor(
    handle: Database.Database,
    target: string,
    private readonly level = 0,
  ) {
    this.handle = handle;
    this.target = target;
  }

  async query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]> {
    try {
      const r = rewritePlaceholders(sql);
      const stmt = this.handle.prepare(r.sql);
      const args = bindAll(r.order, params);
      if (stmt.reader) return stmt.all(...args) as T[];
      stmt.run(...args);
      return [];
    } catch (err) {
      throw wrapDbError(err, this.target);
    }
  }

  async queryRows(sql: string, params?: unknown[]): Promise<unknown[][]> {
    try {
      const r = rewritePlaceholders(sql);
      return this.handle
        .prepare(r.sql)
        .raw(true)
        .all(...bindAll(r.order, params)) as unknown[][];
    } catch (err) {
      throw wrapDbError(err, this.target);
    }
  }

  async run(sql: string, params?: unknown[]): Promise<{ changes: number }> {
    try {
      const r = rewritePlaceholders(sql);
      const stmt = this.handle.prepare(r.sql);
      const args = bindAll(r.order, params);
      if (stmt.reader) {
        stmt.all(...args);
        return { changes: 0 };
      }
      return { changes: stmt.run(...args).changes };
    } catch (err) {
      throw wrapDbError(err, this.target);
    }
  }

  async exec(sql: string): Promise<void> {
    try {
      this.handle.exec(sql);
    } catch (err) {
      throw wrapDbError(err, this.target);
    }
  }

  /**
   * BEGIN IMMEDIATE ... COMMIT around `fn`; ROLLBACK when it rejects.
   * Concurrent top-level calls on the same adapter are queued, so two async
   * callers never share one transaction by accident. Calls on the `tx`
   * adapter passed to `fn` nest as SAVEPOINTs.
   */
  async transaction<T>(fn: (tx: DatabaseAdapter) => Promise<T>): Promise<T> {
    if (this.level > 0) return this.savepoint(fn);
    const prev = this.queue;
    let release!: () => void;
    this.queue = new Promise<void>((r) => (release = r));
    await prev;
    try {
      await this.exec('BEGIN IMMEDIATE');
      try {
        const result = await fn(new SqliteAdapter(this.handle, this.target, 1));
        await this.exec('COMMIT');
        return result;
      } catch (err) {
        try {
          if (this.handle.inTransaction) this.handle.exec('ROLLBACK');
        } catch {
          // The original error is what matters; SQLite rolls back on close anyway.
        }
        throw err;
      }
    } finally {
      release();
    }
  }

  private async savepoint<T>(fn: (tx: DatabaseAdapter) => Promise<T>): Promise<T> {
    const sp = `wks_sp_${this.level}`;
    await this.exec(`SAVEPOINT ${sp}`);
    try {
      const result = await fn(new SqliteAdapter(this.handle, this.target, this.level + 1));
      await this.exec(`RELEASE ${sp}`);
      return result;
    } catch (err) {
      try {
        this.handle.exec(`ROLLBACK TO ${sp}; RELEASE ${sp}`);
      } catch {
        /* keep the original error */
      }
      throw err;
    }
  }

  /** Close the connection (no-op on a transaction's adapter). Idempotent. */
  async close(): Promise<void> {
    if (this.closed || this.level > 0) return;
    this.closed = true;
    this.handle.close();
  }

  poolStats(): PoolStats | null {
    return null;
  }
}

/** Why a SQLite file could not be opened or used: a read-only file system said as such, else the driver's words. */
function sqliteOpenError(
  verb: 'open' | 'use',
  file: string,
  memory: boolean,
  err: unknown,
  hint: string,
): DependencyError {
  if (!memory && onReadOnlyFs(file)) {
    const ro = readOnlyFsText(file);
    return new DependencyError(`cannot ${verb} SQLite database: ${ro.reason}`, { cause: err, hint: ro.hint });
  }
  return new DependencyError(`cannot ${verb} SQLite database ${file}: ${(err as Error).message}`, { cause: err, hint });
}

/**
 * Open a SQLite database file. Creates it (and its directory) unless
 * `opts.create === false`, in which case a missing file throws NotFoundError.
 * Throws DependencyError when the file cannot be opened (permissions, not a database).
 */
export async function openSqlite(settings: SqliteOpenSettings, opts: OpenOptions = {}): Promise<SqliteAdapter> {
  const file = path.resolve(settings.path);
  const memory = settings.path === ':memory:';
  if (!memory && !existsSync(file)) {
    if (opts.create === false || opts.readonly) {
      throw new NotFoundError(`SQLite database not found: ${file}`, {
        hint: 'check DATABASE_PATH / phase4.database.path, or run `wks migrate up` to create it',
        details: { database: file },
      });
    }
    mkdirSync(path.dirname(file), { recursive: true });
  }
  const { default: BetterSqlite3 } = await import('better-sqlite3');
  let handle: Database.Database;
  try {
    handle = new BetterSqlite3(memory ? ':memory:' : file, {
      readonly: !!opts.readonly,
      fileMustExist: opts.create === false,
    });
  } catch (err) {
    throw sqliteOpenError('open', file, memory, err, 'check the path and its permissions (DATABASE_PATH)');
  }
  try {
    // busy_timeout first, so that switching to WAL waits for other openers instead of failing.
    handle.pragma(`busy_timeout = ${Math.max(0, Math.floor(settings.busyTimeoutMs))}`);
    if (!opts.readonly && !memory) handle.pragma('journal_mode = WAL');
    handle.pragma('foreign_keys = ON');
  } catch (err) {
    handle.close();
    throw sqliteOpenError(
      'use',
      file,
      memory,
      err,
      'is it a SQLite database? another process may hold an exclusive lock',
    );
  }
  return new SqliteAdapter(handle, memory ? ':memory:' : file);
}

/** Options of a raw better-sqlite3 handle. */
export interface SqliteHandleOptions {
  readonly?: boolean;
  /** Default true: a missing file is an error, never silently created. */
  fileMustExist?: boolean;
  /** PRAGMA busy_timeout, set first. Default: none. */
  busyTimeoutMs?: number;
}

/**
 * The one way to open a raw better-sqlite3 handle, for code that needs the driver itself (the online
 * backup API, a snapshot reader, an in-memory scratch schema); everything else uses openSqlite's
 * adapter. The caller closes it. Throws the driver's error (callers add their own context).
 */
export async function openSqliteHandle(file: string, o: SqliteHandleOptions = {}): Promise<Database.Database> {
  const { default: BetterSqlite3 } = await import('better-sqlite3');
  const handle = new BetterSqlite3(file, {
    readonly: !!o.readonly,
    fileMustExist: o.fileMustExist ?? file !== ':memory:',
  });
  if (o.busyTimeoutMs !== undefined) handle.pragma(`busy_timeout = ${Math.max(0, Math.floor(o.busyTimeoutMs))}`);
  return handle;
}

/**
 * A read-only handle inside one read transaction: counts, rows and checksums read through it all come
 * from one consistent snapshot while writers go on (db copy's reader, inline or on its worker thread).
 */
export async function openSqliteSnapshot(file: string, busyTimeoutMs: number): Promise<Database.Database> {
  const db = await openSqliteHandle(file, { readonly: true, busyTimeoutMs });
  db.exec('BEGIN');
  db.prepare('SELECT COUNT(*) FROM sqlite_master').get();
  return db;
}
