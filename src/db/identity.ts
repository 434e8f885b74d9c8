/**
 * A database's identity: what tells one database apart from another whatever
 * its path, host name or connection URL. Backups record it (their manifest's
 * `source_identity`) so that `--latest`, health, rotation and the metrics only
 * ever consider backups of the configured database.
 *
 * - SQLite has no built-in identifier, so wks keeps one in the database
 *   itself: the one-row table `wks_identity` (a random UUID and when it was
 *   made), written the first time wks backs the database up. It travels with
 *   the data: a backup and the database restored from it carry the same id.
 *   (PRAGMA application_id and user_version are not used: the first is a
 *   32-bit file-format tag, the second belongs to the application.)
 * - PostgreSQL: the cluster's system identifier (`pg_control_system()`,
 *   readable by any role) plus the database name.
 */
import { randomUUID } from 'node:crypto';

/** wks's own SQLite table holding the database id (never copied by `db copy`, ignored by baseline). */
export const IDENTITY_TABLE = 'wks_identity';

/** The minimal better-sqlite3 surface used here (raw handles, so the backup engine can pass its own). */
interface RawSqlite {
  prepare(sql: string): { get(...p: unknown[]): unknown; run(...p: unknown[]): unknown };
  exec(sql: string): unknown;
}

const keyOf = (id: string): string => `sqlite:${id}`;

/** The SQLite database's identity key (`sqlite:<uuid>`), or null when it has none yet. Throws SQLite's error for an unreadable database. */
export function readSqliteIdentity(db: RawSqlite): string | null {
  const has = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(IDENTITY_TABLE);
  if (!has) return null;
  const row = db.prepare(`SELECT database_id AS id FROM ${IDENTITY_TABLE} ORDER BY created_at LIMIT 1`).get() as
    | { id?: unknown }
    | undefined;
  return row?.id ? keyOf(String(row.id)) : null;
}

/**
 * Give the database an id if it has none, and return its key. `replace`
 * sets this exact id instead (a restore that keeps the replaced database's
 * identity). Throws the SQLite error when the database cannot be written.
 */
export function stampSqliteIdentity(db: RawSqlite, replace?: string): string {
  db.exec(
    `CREATE TABLE IF NOT EXISTS ${IDENTITY_TABLE} (database_id TEXT PRIMARY KEY NOT NULL, created_at TEXT NOT NULL)`,
  );
  if (!replace) {
    const have = readSqliteIdentity(db);
    if (have) return have;
  }
  const id = replace ? replace.replace(/^sqlite:/, '') : randomUUID();
  db.exec('BEGIN IMMEDIATE');
  try {
    db.prepare(`DELETE FROM ${IDENTITY_TABLE}`).run();
    db.prepare(`INSERT INTO ${IDENTITY_TABLE} (database_id, created_at) VALUES (?, ?)`).run(
      id,
      new Date().toISOString(),
    );
    db.exec('COMMIT');
  } catch (err) {
    db.exec('ROLLBACK');
    throw err;
  }
  return keyOf(id);
}

/** The query giving a PostgreSQL database's identity key (`postgres:<system identifier>/<database>`) as column `key`. */
export const PG_IDENTITY_SQL =
  "SELECT 'postgres:' || system_identifier::text || '/' || current_database() AS key FROM pg_control_system()";
