/**
 * The public surface of src/db: other areas import only from here (ARCHITECTURE.md).
 */
export type { DatabaseAdapter, Dialect, OpenOptions, PoolStats } from './types.js';
export type { SqliteAdapter } from './sqlite.js';
export type { PostgresAdapter } from './postgres.js';
export { DatabaseError } from './errors.js';
export { parseDbTime, dbNow, toDbTime, formatSqliteTime } from './time.js';
export * from './open.js';
export * from './errors.js';
export * from './postgres.js';
export * from './sql.js';
export * from './sqlite.js';
export * from './time.js';
export * from './types.js';
export * from './sqlite-check.js';
export * from './identity.js';
