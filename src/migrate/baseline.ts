/**
 * `wks migrate baseline`: adopt a database that the old application created
 * with `CREATE TABLE IF NOT EXISTS` by recording migrations up to a version
 * as applied, without running them, after checking that the tables are
 * really there and match.
 *
 * "Match" is decided against the real thing: the same migrations are applied
 * to a scratch database (SQLite :memory:, or a PostgreSQL schema created and
 * rolled back inside one transaction) and both are introspected. Missing
 * tables, columns or indexes, and columns whose type, NOT NULL or primary
 * key differ, are refusals; extra columns and tables are reported as notes.
 */
import type { Config } from '../config/index.js';
import type { DatabaseAdapter } from '../db/index.js';
import { VerificationError, OperationError } from '../errors.js';
import { dialectOf, withMigrationMutex, type SessionOptions } from './engine.js';
import { LOCK_TABLE } from './lock.js';
import { IDENTITY_TABLE } from '../db/index.js';
import { splitStatements } from './parse.js';
import { findMigration, loadMigrations, type MigrationFile } from './source.js';
import { DRIFT_TABLE, ensureTable, readApplied, recordApplied, TABLE } from './store.js';
import { quoteIdent } from '../db/index.js';

interface Column {
  name: string;
  type: string;
  notnull: boolean;
  pk: boolean;
}
interface Shape {
  tables: Map<string, Map<string, Column>>;
  indexes: Set<string>;
}

const IGNORED = new Set([TABLE, LOCK_TABLE, IDENTITY_TABLE, DRIFT_TABLE]);
const norm = (t: string) => t.trim().replace(/\s+/g, ' ').toUpperCase();

/** The shape of a SQLite schema, read through `q` (the adapter, or a raw in-memory handle). */
async function sqliteShape(q: (sql: string) => Promise<Array<Record<string, unknown>>>): Promise<Shape> {
  const tables = new Map<string, Map<string, Column>>();
  for (const t of await q(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`)) {
    const name = String(t.name);
    if (IGNORED.has(name)) continue;
    const cols = new Map<string, Column>();
    for (const c of await q(`PRAGMA table_info(${quoteIdent(name)})`)) {
      cols.set(String(c.name), {
        name: String(c.name),
        type: norm(String(c.type ?? '')),
        notnull: Number(c.notnull) === 1,
        pk: Number(c.pk) > 0,
      });
    }
    tables.set(name, cols);
  }
  const indexes = new Set(
    (await q(`SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL`)).map((r) => String(r.name)),
  );
  return { tables, indexes };
}

async function pgShape(db: DatabaseAdapter, schema: string | null): Promise<Shape> {
  const s = schema ? '$1' : 'current_schema()';
  const p = schema ? [schema] : [];
  const cols = await db.query<{
    table_name: string;
    column_name: string;
    data_type: string;
    is_nullable: string;
    pk: boolean;
  }>(
    `SELECT c.table_name, c.column_name, c.data_type, c.is_nullable,
            EXISTS (SELECT 1 FROM information_schema.table_constraints tc
                      JOIN information_schema.key_column_usage k ON k.constraint_name = tc.constraint_name AND k.table_schema = tc.table_schema
                     WHERE tc.table_schema = c.table_schema AND tc.table_name = c.table_name AND tc.constraint_type = 'PRIMARY KEY'
                       AND k.column_name = c.column_name) AS pk
       FROM information_schema.columns c
       JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name AND t.table_type = 'BASE TABLE'
      WHERE c.table_schema = ${s}`,
    p,
  );
  const tables = new Map<string, Map<string, Column>>();
  for (const c of cols) {
    if (IGNORED.has(c.table_name)) continue;
    if (!tables.has(c.table_name)) tables.set(c.table_name, new Map());
    tables.get(c.table_name)!.set(c.column_name, {
      name: c.column_name,
      type: norm(c.data_type),
      notnull: c.is_nullable === 'NO',
      pk: !!c.pk,
    });
  }
  const idx = await db.query<{ indexname: string }>(`SELECT indexname FROM pg_indexes WHERE schemaname = ${s}`, p);
  return { tables, indexes: new Set(idx.map((r) => r.indexname)) };
}

function upStatements(ms: MigrationFile[], dialect: 'sqlite' | 'postgres'): string[] {
  const out: string[] = [];
  for (const m of ms) {
    const up = m.parsed().up;
    for (const st of splitStatements(up.sql, dialect, up.startLine)) out.push(st.sql);
  }
  return out;
}

async function expectedShape(db: DatabaseAdapter, ms: MigrationFile[]): Promise<Shape> {
  if (db.dialect === 'sqlite') {
    const { openSqliteHandle } = await import('../db/index.js');
    const mem = await openSqliteHandle(':memory:');
    try {
      for (const sql of upStatements(ms, 'sqlite')) mem.exec(sql);
      return await sqliteShape(async (sql) => mem.prepare(sql).all() as Array<Record<string, unknown>>);
    } finally {
      mem.close();
    }
  }
  const schema = `wks_baseline_${process.pid}_${Date.now().toString(36)}`;
  let shape: Shape | undefined;
  const ROLLBACK = new Error('rollback');
  try {
    await db.transaction(async (tx) => {
      await tx.exec(`CREATE SCHEMA ${schema}`);
      await tx.exec(`SET LOCAL search_path TO ${schema}`);
      for (const sql of upStatements(ms, 'postgres')) await tx.exec(sql);
      shape = await pgShape(tx, schema);
      throw ROLLBACK;
    });
  } catch (err) {
    if (err !== ROLLBACK) throw err;
  }
  return shape!;
}

async function actualShape(db: DatabaseAdapter): Promise<Shape> {
  return db.dialect === 'sqlite' ? sqliteShape((sql) => db.query(sql)) : pgShape(db, null);
}

export interface BaselineCheck {
  problems: string[];
  notes: string[];
}

function compare(expected: Shape, actual: Shape): BaselineCheck {
  const problems: string[] = [];
  const notes: string[] = [];
  for (const [table, cols] of expected.tables) {
    const have = actual.tables.get(table);
    if (!have) {
      problems.push(`table ${table} is missing`);
      continue;
    }
    for (const [name, c] of cols) {
      const a = have.get(name);
      if (!a) problems.push(`column ${table}.${name} is missing`);
      else {
        if (a.type !== c.type)
          problems.push(`column ${table}.${name} has type ${a.type || '(none)'}, expected ${c.type || '(none)'}`);
        if (a.notnull !== c.notnull)
          problems.push(
            `column ${table}.${name} is ${a.notnull ? 'NOT NULL' : 'nullable'}, expected ${c.notnull ? 'NOT NULL' : 'nullable'}`,
          );
        if (a.pk !== c.pk)
          problems.push(
            `column ${table}.${name} is ${a.pk ? '' : 'not '}part of the primary key, expected ${c.pk ? '' : 'not '}to be`,
          );
      }
    }
    for (const name of have.keys())
      if (!cols.has(name)) notes.push(`column ${table}.${name} is not in the migrations (kept as is)`);
  }
  for (const idx of expected.indexes)
    if (!actual.indexes.has(idx) && !idx.endsWith('_pkey') && !idx.endsWith('_key'))
      problems.push(`index ${idx} is missing`);
  for (const t of actual.tables.keys())
    if (!expected.tables.has(t)) notes.push(`table ${t} is not created by migrations up to this version`);
  return { problems, notes };
}

export interface BaselineOptions extends SessionOptions {
  /** Mark migrations up to and including this version as applied (default 0001). */
  version?: string;
  /** Check only; record nothing. */
  dryRun?: boolean;
}

export interface BaselineResult {
  dialect: 'sqlite' | 'postgres';
  database: string;
  version: string;
  dryRun: boolean;
  /** Migrations recorded (dry-run: that would be recorded) as applied. */
  marked: Array<{ version: string; name: string }>;
  notes: string[];
}

/**
 * Record migrations up to `opts.version` (default 0001) as applied on a
 * database whose tables already exist, after checking they match.
 * Throws OperationError when schema_migrations already has rows,
 * VerificationError (exit 3) listing every difference when the tables do
 * not match, NotFoundError (exit 5) for an unknown version.
 */
export async function baselineDatabase(config: Config, opts: BaselineOptions = {}): Promise<BaselineResult> {
  const dialect = dialectOf(config);
  const all = loadMigrations(config, dialect);
  const target = findMigration(all, opts.version ?? '0001');
  const upto = all.slice(0, all.indexOf(target) + 1);
  return withMigrationMutex(config, opts, async (db) => {
    const applied = await readApplied(db);
    if (applied.length > 0) {
      throw new OperationError(
        `the database already has migration history (${applied.length} recorded in ${TABLE}); baseline is only for databases without it`,
        {
          hint: 'run `wks migrate status`; use `wks migrate up` to apply what is pending',
        },
      );
    }
    const check = compare(await expectedShape(db, upto), await actualShape(db));
    if (check.problems.length > 0) {
      throw new VerificationError(
        `refusing to baseline at ${target.id}: the database does not match the migrations (${check.problems.length} difference${check.problems.length === 1 ? '' : 's'}): ${check.problems.join('; ')}`,
        {
          hint: 'fix the differences (or choose the --version the database really is at); for an empty database run `wks migrate up` instead',
          details: { problems: check.problems, notes: check.notes },
        },
      );
    }
    const result: BaselineResult = {
      dialect,
      database: db.target,
      version: target.version,
      dryRun: !!opts.dryRun,
      marked: upto.map((m) => ({ version: m.version, name: m.name })),
      notes: check.notes,
    };
    if (opts.dryRun) return result;
    await ensureTable(db);
    const now = (opts.now ?? (() => new Date()))();
    await db.transaction(async (tx) => {
      for (const m of upto) {
        await recordApplied(tx, {
          version: m.version,
          name: m.name,
          checksum: m.checksum,
          source: m.source,
          appliedAt: now,
          durationMs: 0,
          baseline: true,
        });
      }
    });
    return result;
  });
}
