/**
 * SQLite adapter (better-sqlite3). One connection per adapter, opened in WAL
 * mode with a busy timeout (database.busy_timeout_ms) and foreign keys on.
 * better-sqlite3 is synchronous; the async interface keeps callers identical
 * across dialects.
 *
 * Concurrency note: one adapter is one connection. `transaction()` holds the
 * connection for its duration; do not run unrelated statements on the same
 * adapter while another async transaction on it is open.
 */
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
  private depth = 0;

  constructor(handle: Database.Database, target: string) {
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

  async transaction<T>(fn: (tx: DatabaseAdapter) => Promise<T>): Promise<T> {
    const nested = this.depth > 0;
    const sp = `wks_sp_${this.depth}`;
    await this.exec(nested ? `SAVEPOINT ${sp}` : 'BEGIN IMMEDIATE');
    this.depth++;
    try {
      const result = await fn(this);
      this.depth--;
      await this.exec(nested ? `RELEASE ${sp}` : 'COMMIT');
      return result;
    } catch (err) {
      this.depth--;
      try {
        if (nested) this.handle.exec(`ROLLBACK TO ${sp}; RELEASE ${sp}`);
        else if (this.handle.inTransaction) this.handle.exec('ROLLBACK');
      } catch {
        // The original error is what matters; a failed rollback leaves the
        // transaction to be rolled back when the connection closes.
      }
      throw err;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.handle.close();
  }

  poolStats(): PoolStats | null {
    return null;
  }
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
    handle = new BetterSqlite3(memory ? ':memory:' : file, { readonly: !!opts.readonly, fileMustExist: opts.create === false });
  } catch (err) {
    throw new DependencyError(`cannot open SQLite database ${file}: ${(err as Error).message}`, {
      cause: err,
      hint: 'check the path and its permissions (DATABASE_PATH)',
    });
  }
  try {
    // busy_timeout first, so that switching to WAL waits for other openers instead of failing.
    handle.pragma(`busy_timeout = ${Math.max(0, Math.floor(settings.busyTimeoutMs))}`);
    if (!opts.readonly && !memory) handle.pragma('journal_mode = WAL');
    handle.pragma('foreign_keys = ON');
  } catch (err) {
    handle.close();
    throw new DependencyError(`cannot use SQLite database ${file}: ${(err as Error).message}`, {
      cause: err,
      hint: 'is it a SQLite database? another process may hold an exclusive lock',
    });
  }
  return new SqliteAdapter(handle, memory ? ':memory:' : file);
}
