/**
 * The database layer's entry point: `openDatabase(config)` picks the SQLite
 * or PostgreSQL adapter from configuration (database.type, which PG_ENABLED
 * also sets), and `withDb(config, fn)` always closes it.
 */
import type { Config } from '../config/index.js';
import type { DatabaseAdapter, OpenOptions } from './types.js';
import type { SqliteAdapter } from './sqlite.js';
import type { PostgresAdapter, PostgresSettings } from './postgres.js';

/** The PostgreSQL connection settings derived from configuration. */
export function postgresSettings(config: Config): PostgresSettings {
  const d = config.database;
  return {
    url: d.postgresql.url,
    host: d.postgresql.host,
    port: d.postgresql.port,
    database: d.postgresql.database,
    user: d.postgresql.user,
    password: d.postgresql.password,
    ssl: d.postgresql.ssl,
    sslMode: d.postgresql.ssl_mode ?? (d.postgresql.ssl ? 'verify-full' : 'disable'),
    sslCaFile: d.postgresql.ssl_ca_file,
    poolMin: d.pooling.enabled ? d.pooling.min : 0,
    poolMax: d.pooling.enabled ? d.pooling.max : 1,
    idleTimeoutMs: d.pooling.idle_timeout_ms,
    connectionTimeoutMs: d.pooling.connection_timeout_ms,
    statementTimeoutMs: d.query_timeout_ms,
  };
}

/**
 * Open the configured database.
 * - SQLite (database.type 'sqlite'): the file at database.path, WAL mode,
 *   busy timeout database.busy_timeout_ms, foreign keys on. Created when
 *   missing unless `opts.create === false` (then NotFoundError, exit 5).
 * - PostgreSQL otherwise: a pg.Pool with the DB_POOL_* settings, checked
 *   with one round trip. Unreachable -> DependencyError (exit 1) with a hint.
 * The caller must close() it; prefer withDb().
 */
export async function openDatabase(config: Config, opts: OpenOptions = {}): Promise<DatabaseAdapter> {
  if (config.database.type === 'sqlite') {
    const { openSqlite } = await import('./sqlite.js');
    return openSqlite({ path: config.database.path, busyTimeoutMs: config.database.busy_timeout_ms }, opts);
  }
  const { openPostgres } = await import('./postgres.js');
  return openPostgres(postgresSettings(config), opts);
}

/** Open the database, run `fn`, and close the database in `finally`. Throws what openDatabase or fn throws. */
export async function withDb<T>(
  config: Config,
  fn: (db: DatabaseAdapter) => Promise<T>,
  opts: OpenOptions = {},
): Promise<T> {
  const db = await openDatabase(config, opts);
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}

/** Narrowing helpers for code that needs dialect-specific APIs. */
export function isSqlite(db: DatabaseAdapter): db is SqliteAdapter {
  return db.dialect === 'sqlite';
}
export function isPostgres(db: DatabaseAdapter): db is PostgresAdapter {
  return db.dialect === 'postgres' && typeof (db as PostgresAdapter).pinned === 'function';
}
