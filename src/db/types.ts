/**
 * The DatabaseAdapter contract shared by every area of wks (ARCHITECTURE.md:
 * connections are opened through src/db only).
 *
 * SQL in application code uses `$1, $2, ...` placeholders in both dialects;
 * the SQLite adapter rewrites them. Timestamps: see time.ts.
 */

export type Dialect = 'sqlite' | 'postgres';

export interface PoolStats {
  total: number;
  idle: number;
  waiting: number;
}

export interface DatabaseAdapter {
  readonly dialect: Dialect;
  /** Redacted target: the SQLite file path, or postgres://user:****@host:port/db. */
  readonly target: string;
  /** Run a statement and return its rows (an empty array for statements without rows). */
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  /**
   * A reading statement's rows as arrays of their values in SELECT order: no object per row, for
   * reads of many rows (`lock list` joins 100k+ locks).
   */
  queryRows(sql: string, params?: unknown[]): Promise<unknown[][]>;
  /** Run a statement and return the number of rows it changed. */
  run(sql: string, params?: unknown[]): Promise<{ changes: number }>;
  /** Run several `;`-separated statements without parameters. */
  exec(sql: string): Promise<void>;
  /**
   * Run `fn` inside a transaction (SQLite: BEGIN IMMEDIATE; PostgreSQL: one
   * pooled connection, BEGIN). Commits when `fn` resolves, rolls back and
   * rethrows when it rejects. Nested calls on `tx` use SAVEPOINTs.
   */
  transaction<T>(fn: (tx: DatabaseAdapter) => Promise<T>): Promise<T>;
  /** Close the connection / drain the pool. Idempotent. */
  close(): Promise<void>;
  /** PostgreSQL pool statistics; null for SQLite (one connection, no pool). */
  poolStats(): PoolStats | null;
}

export interface OpenOptions {
  /**
   * SQLite only: create the database file when it does not exist (default
   * true). Read-only commands pass false so a typo in DATABASE_PATH is not
   * silently turned into an empty database.
   */
  create?: boolean;
  /** SQLite only: open read-only (default false). */
  readonly?: boolean;
  /** PostgreSQL only: application_name shown in pg_stat_activity (default `wks`). */
  applicationName?: string;
  /** PostgreSQL only: override the server-side statement timeout in ms (0 = none). Default database.query_timeout_ms. */
  statementTimeoutMs?: number;
}
