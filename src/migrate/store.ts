/**
 * The schema_migrations table: one row per applied migration with version,
 * name, checksum, applied_at and duration; `dirty` marks a non-transactional
 * migration that started but did not finish (see docs/migrations.md).
 */
import type { DatabaseAdapter } from '../db/index.js';
import { toDbTime } from '../db/index.js';
import { LOCK_TABLE } from './lock.js';
import { IDENTITY_TABLE } from '../db/index.js';

export const TABLE = 'schema_migrations';
/** wks's record of who accepted a changed applied migration (`migrate up --allow-drift`). */
export const DRIFT_TABLE = 'wks_migration_drift_accepted';

export interface AppliedRow {
  version: string;
  name: string;
  checksum: string;
  source: string;
  applied_at: unknown;
  duration_ms: number;
  dirty: boolean;
  baseline: boolean;
  /** JSON text describing the failure of a dirty migration. */
  error: string | null;
}

const DDL = {
  sqlite: `CREATE TABLE IF NOT EXISTS ${TABLE} (
  version TEXT PRIMARY KEY,
  name TEXT NOT NULL DEFAULT '',
  checksum TEXT NOT NULL DEFAULT '',
  source TEXT NOT NULL DEFAULT 'builtin',
  applied_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
  duration_ms INTEGER NOT NULL DEFAULT 0,
  dirty INTEGER NOT NULL DEFAULT 0,
  baseline INTEGER NOT NULL DEFAULT 0,
  error TEXT
)`,
  postgres: `CREATE TABLE IF NOT EXISTS ${TABLE} (
  version TEXT PRIMARY KEY,
  name TEXT NOT NULL DEFAULT '',
  checksum TEXT NOT NULL DEFAULT '',
  source TEXT NOT NULL DEFAULT 'builtin',
  applied_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  duration_ms INTEGER NOT NULL DEFAULT 0,
  dirty BOOLEAN NOT NULL DEFAULT false,
  baseline BOOLEAN NOT NULL DEFAULT false,
  error TEXT
)`,
};

/** True when `table` exists (SQLite main schema, or PostgreSQL current_schema()). */
export async function tableExists(db: DatabaseAdapter, table: string): Promise<boolean> {
  const rows =
    db.dialect === 'sqlite'
      ? await db.query(`SELECT 1 AS x FROM sqlite_master WHERE type = 'table' AND name = $1`, [table])
      : await db.query(
          `SELECT 1 AS x FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = $1`,
          [table],
        );
  return rows.length > 0;
}

/**
 * How many tables the database has besides wks's own bookkeeping
 * (schema_migrations, and the SQLite migration mutex table): zero means a
 * fresh database with nothing worth a pre-migration backup.
 */
export async function userTableCount(db: DatabaseAdapter): Promise<number> {
  const rows =
    db.dialect === 'sqlite'
      ? await db.query<{ n: number }>(
          `SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT IN ('${TABLE}', '${LOCK_TABLE}', '${IDENTITY_TABLE}', '${DRIFT_TABLE}')`,
        )
      : await db.query<{ n: number }>(
          `SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = current_schema() AND table_name NOT IN ('${TABLE}', '${DRIFT_TABLE}')`,
        );
  return Number(rows[0]?.n ?? 0);
}

/**
 * Create schema_migrations if needed (call under the migration mutex). The
 * table stays dbmate-compatible: every column but `version` is defaulted, and
 * a table dbmate created (only `version`) gets wks's columns added; its rows
 * read as applied by another tool, checksum unknown.
 */
export async function ensureTable(db: DatabaseAdapter): Promise<void> {
  await db.exec(DDL[db.dialect]);
  const cols = await columnsOf(db);
  // dbmate's table has only `version`: add wks's columns, defaulted, so both tools keep working on it.
  for (const [col, def] of Object.entries(ADOPT_COLUMNS[db.dialect])) {
    if (!cols.includes(col)) await db.exec(`ALTER TABLE ${TABLE} ADD COLUMN ${col} ${def}`);
  }
  // wks tables made before the defaults: let dbmate insert its bare (version) rows (PostgreSQL can add a default in place).
  if (db.dialect === 'postgres')
    await db.exec(`ALTER TABLE ${TABLE} ALTER COLUMN name SET DEFAULT '', ALTER COLUMN checksum SET DEFAULT ''`);
}

/** Columns wks adds to a schema_migrations table created by dbmate (constant defaults, as SQLite's ADD COLUMN requires). */
const ADOPT_COLUMNS: Record<'sqlite' | 'postgres', Record<string, string>> = {
  sqlite: {
    name: "TEXT NOT NULL DEFAULT ''",
    checksum: "TEXT NOT NULL DEFAULT ''",
    source: "TEXT NOT NULL DEFAULT 'other'",
    applied_at: 'DATETIME',
    duration_ms: 'INTEGER NOT NULL DEFAULT 0',
    dirty: 'INTEGER NOT NULL DEFAULT 0',
    baseline: 'INTEGER NOT NULL DEFAULT 0',
    error: 'TEXT',
  },
  postgres: {
    name: "TEXT NOT NULL DEFAULT ''",
    checksum: "TEXT NOT NULL DEFAULT ''",
    source: "TEXT NOT NULL DEFAULT 'other'",
    applied_at: 'TIMESTAMPTZ',
    duration_ms: 'INTEGER NOT NULL DEFAULT 0',
    dirty: 'BOOLEAN NOT NULL DEFAULT false',
    baseline: 'BOOLEAN NOT NULL DEFAULT false',
    error: 'TEXT',
  },
};

async function columnsOf(db: DatabaseAdapter): Promise<string[]> {
  return db.dialect === 'sqlite'
    ? (await db.query<{ name: string }>(`PRAGMA table_info(${TABLE})`)).map((r) => r.name)
    : (
        await db.query<{ name: string }>(
          `SELECT column_name AS name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1`,
          [TABLE],
        )
      ).map((r) => r.name);
}

function toRow(r: Record<string, unknown>): AppliedRow {
  return {
    version: String(r.version),
    name: String(r.name),
    checksum: String(r.checksum),
    source: String(r.source),
    applied_at: r.applied_at,
    duration_ms: Number(r.duration_ms),
    dirty: r.dirty === true || r.dirty === 1,
    baseline: r.baseline === true || r.baseline === 1,
    error: (r.error as string | null) ?? null,
  };
}

/** Every recorded migration (empty when the table does not exist yet). */
export async function readApplied(db: DatabaseAdapter): Promise<AppliedRow[]> {
  if (!(await tableExists(db, TABLE))) return [];
  // Read-only commands (status, validate) may meet a table dbmate made: missing columns read as "unknown".
  const cols = new Set(await columnsOf(db));
  const fallback: Record<string, string> = {
    name: "''",
    checksum: "''",
    source: "'other'",
    applied_at: 'NULL',
    duration_ms: '0',
    dirty: db.dialect === 'sqlite' ? '0' : 'false',
    baseline: db.dialect === 'sqlite' ? '0' : 'false',
    error: 'NULL',
  };
  const select = ['version', ...Object.keys(fallback).map((c) => (cols.has(c) ? c : `${fallback[c]} AS ${c}`))];
  const rows = await db.query(`SELECT ${select.join(', ')} FROM ${TABLE}`);
  return rows.map(toRow);
}

export interface RecordInput {
  version: string;
  name: string;
  checksum: string;
  source: string;
  appliedAt: Date;
  durationMs: number;
  dirty?: boolean;
  baseline?: boolean;
  error?: string | null;
}

/**
 * Insert the row of one migration. Callers only record versions that have no
 * row (pending ones), so a duplicate is a real conflict and fails loudly.
 */
export async function recordApplied(db: DatabaseAdapter, r: RecordInput): Promise<void> {
  const b = (v: boolean | undefined) => (db.dialect === 'sqlite' ? (v ? 1 : 0) : !!v);
  await db.run(
    `INSERT INTO ${TABLE} (version, name, checksum, source, applied_at, duration_ms, dirty, baseline, error) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
    [
      r.version,
      r.name,
      r.checksum,
      r.source,
      toDbTime(r.appliedAt, db.dialect),
      Math.round(r.durationMs),
      b(r.dirty),
      b(r.baseline),
      r.error ?? null,
    ],
  );
}

/** Mark a dirty row clean, with its final duration. */
export async function markClean(db: DatabaseAdapter, version: string, durationMs: number): Promise<void> {
  await db.run(`UPDATE ${TABLE} SET dirty = $1, error = NULL, duration_ms = $2 WHERE version = $3`, [
    db.dialect === 'sqlite' ? 0 : false,
    Math.round(durationMs),
    version,
  ]);
}

/** Record the failure of a non-transactional migration on its dirty row. */
export async function markFailed(db: DatabaseAdapter, version: string, error: string): Promise<void> {
  await db.run(`UPDATE ${TABLE} SET error = $1 WHERE version = $2`, [error, version]);
}

/** Remove the row of a migration (rolled back). */
export async function deleteApplied(db: DatabaseAdapter, version: string): Promise<void> {
  await db.run(`DELETE FROM ${TABLE} WHERE version = $1`, [version]);
}

/** One accepted drift: the applied migration, the checksum recorded when it was applied, the file's checksum now, who accepted it and when. */
export interface DriftAcceptance {
  version: string;
  name: string;
  recorded: string;
  accepted: string;
  by: string;
  at: Date;
}

/**
 * Record that `a.by` accepted a changed applied migration: append to
 * DRIFT_TABLE (created when missing) and make the file's checksum the
 * recorded one, so later runs compare against what was accepted.
 */
export async function recordDriftAccepted(db: DatabaseAdapter, a: DriftAcceptance): Promise<void> {
  await db.exec(`CREATE TABLE IF NOT EXISTS ${DRIFT_TABLE} (
  version TEXT NOT NULL,
  name TEXT NOT NULL,
  recorded_checksum TEXT NOT NULL,
  accepted_checksum TEXT NOT NULL,
  accepted_by TEXT NOT NULL,
  accepted_at TEXT NOT NULL
)`);
  await db.run(
    `INSERT INTO ${DRIFT_TABLE} (version, name, recorded_checksum, accepted_checksum, accepted_by, accepted_at) VALUES ($1, $2, $3, $4, $5, $6)`,
    [a.version, a.name, a.recorded, a.accepted, a.by, a.at.toISOString()],
  );
  await db.run(`UPDATE ${TABLE} SET checksum = $1 WHERE version = $2`, [a.accepted, a.version]);
}
