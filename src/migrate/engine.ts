/**
 * The migration engine: plan, lock, apply, roll back, record. Library
 * functions take the validated Config; commands in src/commands/migrate are
 * thin adapters over them.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Config } from '../config/index.js';
import type { DatabaseAdapter, Dialect } from '../db/index.js';
import { openDatabase, isSqlite, isPostgres } from '../db/index.js';
import { DatabaseError } from '../db/index.js';
import { parseDbTime, quoteIdent } from '../db/index.js';
import { NotFoundError, OperationError, UsageError, VerificationError } from '../errors.js';
import { withPgLock, withSqliteLock, pgApplicationName, type LockHolder } from './lock.js';
import { splitStatements, type Section, type Statement } from './parse.js';
import { compareVersions, findMigration, loadMigrations, type MigrationFile } from './source.js';
import { takePreMigrationBackup, type PreMigrationBackup, type PreMigrationBackupOptions } from './pre-backup.js';
import {
  deleteApplied,
  ensureTable,
  markClean,
  markFailed,
  readApplied,
  recordApplied,
  recordDriftAccepted,
  TABLE,
  type AppliedRow,
} from './store.js';

export type { LockHolder } from './lock.js';

/** The dialect the configuration selects. */
export function dialectOf(config: Config): Dialect {
  return config.database.type === 'sqlite' ? 'sqlite' : 'postgres';
}

/** A migration as reported to callers and in --json. */
export interface MigrationInfo {
  version: string;
  name: string;
  source: 'builtin' | 'user';
  file: string;
  /** Whether the section that would run uses a transaction. */
  transaction: boolean;
  /** The statements that would run (dry-run plans only). */
  statements?: Statement[];
}

export interface AppliedResult {
  version: string;
  name: string;
  source: 'builtin' | 'user';
  durationMs: number;
}

export interface SessionOptions {
  /** Called once when another runner holds the migration mutex and this one starts waiting. */
  onLockWait?: (holder: LockHolder | null) => void;
  /** Override database.migrations.lock_timeout_ms. */
  lockTimeoutMs?: number;
  /** Called before each migration starts (progress reporting). */
  onStart?: (m: MigrationInfo) => void;
  /** Called after each migration is applied or rolled back. */
  onDone?: (r: AppliedResult) => void;
  /** Clock for applied_at (default: real time). */
  now?: () => Date;
}

/** Thrown when a migration statement fails. Exit 1; details name file, line, statement and the database's message. */
export class MigrationFailedError extends OperationError {}

/** Thrown when a non-transactional migration was left half-applied (schema_migrations.dirty). */
export class DirtyDatabaseError extends OperationError {}

// ---------------------------------------------------------------------------
// Sessions: open, lock, run, unlock, close.

async function openForMigrations(config: Config, create: boolean): Promise<DatabaseAdapter> {
  // Migrations may legitimately run longer than the 10 s query timeout (an index
  // on a big table), so the migration session has no statement timeout.
  return openDatabase(config, { create, statementTimeoutMs: 0, applicationName: pgApplicationName() });
}

/**
 * Open the database (creating a missing SQLite file), take the migration
 * lock, run `fn` with a connection that holds it, then unlock and close.
 * Throws ConflictError (exit 4) when the lock stays held past the timeout.
 */
export async function withMigrationMutex<T>(
  config: Config,
  opts: SessionOptions,
  fn: (db: DatabaseAdapter) => Promise<T>,
): Promise<T> {
  const db = await openForMigrations(config, true);
  const lockOpts = {
    timeoutMs: opts.lockTimeoutMs ?? config.database.migrations.lock_timeout_ms,
    onWait: opts.onLockWait,
  };
  try {
    if (isSqlite(db)) return await withSqliteLock(db, lockOpts, () => fn(db));
    if (isPostgres(db)) return await db.pinned((conn) => withPgLock(conn, lockOpts, () => fn(conn)));
    throw new OperationError(`unsupported database dialect ${db.dialect}`);
  } finally {
    await db.close();
  }
}

/** Open for reading only: null when the SQLite file does not exist yet (nothing applied). */
async function withReadSession<T>(config: Config, fn: (db: DatabaseAdapter | null) => Promise<T>): Promise<T> {
  if (dialectOf(config) === 'sqlite' && !existsSync(config.database.path)) return fn(null);
  const db = await openForMigrations(config, false);
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}

// ---------------------------------------------------------------------------
// Planning helpers.

function info(m: MigrationFile, section: 'up' | 'down', withStatements: boolean, dialect: Dialect): MigrationInfo {
  const s = section === 'up' ? m.parsed().up : m.parsed().down;
  return {
    version: m.version,
    name: m.name,
    source: m.source,
    file: m.file,
    transaction: s ? s.options.transaction : true,
    ...(withStatements && s ? { statements: splitStatements(s.sql, dialect, s.startLine) } : {}),
  };
}

/** Index names created by `CREATE [UNIQUE] INDEX CONCURRENTLY [IF NOT EXISTS] name` statements. */
export function concurrentIndexNames(sql: string[]): string[] {
  const re = /\bCREATE\s+(?:UNIQUE\s+)?INDEX\s+CONCURRENTLY\s+(?:IF\s+NOT\s+EXISTS\s+)?("(?:[^"]|"")+"|[\w$]+)/gi;
  const names: string[] = [];
  for (const s of sql)
    for (const m of s.matchAll(re))
      names.push(m[1]!.startsWith('"') ? m[1]!.slice(1, -1).replace(/""/g, '"') : m[1]!.toLowerCase());
  return names;
}

/**
 * PostgreSQL: the INVALID indexes (pg_index.indisvalid = false) among those
 * the statements create concurrently: a failed CREATE INDEX CONCURRENTLY
 * leaves its index behind, invalid, and a re-run then fails with "already
 * exists". Empty on SQLite or when the catalog cannot be read.
 */
async function invalidIndexes(db: DatabaseAdapter, sql: string[]): Promise<string[]> {
  const names = concurrentIndexNames(sql);
  if (db.dialect !== 'postgres' || names.length === 0) return [];
  try {
    const rows = await db.query<{ name: string }>(
      `SELECT c.relname AS name FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        WHERE NOT i.indisvalid AND c.relnamespace = current_schema()::regnamespace AND c.relname = ANY($1)`,
      [names],
    );
    return rows.map((r) => r.name);
  } catch {
    return [];
  }
}

/** The recovery's first step when invalid indexes were left behind. */
function invalidNote(names: string[]): string {
  if (!names.length) return '';
  const drops = names.map((n) => `DROP INDEX CONCURRENTLY IF EXISTS ${quoteIdent(n)};`).join(' ');
  return `PostgreSQL kept the INVALID index${names.length > 1 ? 'es' : ''} ${names.join(', ')} from the failed CREATE INDEX CONCURRENTLY: drop ${names.length > 1 ? 'them' : 'it'} first (\`${drops}\`), whichever way you recover. `;
}

/** The `message` of a dirty row whose run stopped without reporting an error (kill -9, lost connection). */
const INTERRUPTED = 'interrupted';

function recovery(row: AppliedRow, file: string | undefined): string {
  let detail: {
    statement?: number;
    line?: number;
    message?: string;
    direction?: string;
    of?: number;
    invalid?: string[];
  } = {};
  try {
    detail = row.error ? JSON.parse(row.error) : {};
  } catch {
    detail = { message: row.error ?? undefined };
  }
  const where = file ? `${file}${detail.line ? `:${detail.line}` : ''}` : `${row.version}_${row.name}`;
  const done =
    detail.statement && detail.statement > 1
      ? `statements 1-${detail.statement - 1} were applied and remain applied`
      : 'no statement had completed';
  const dir = detail.direction === 'down' ? 'rolling back' : 'applying';
  const interrupted = detail.message === INTERRUPTED;
  const what = interrupted
    ? `the run was interrupted (process killed or connection lost) while statement ${detail.statement ?? '?'}${detail.of ? ` of ${detail.of}` : ''} at ${where} was running; check whether that statement took effect. `
    : `statement ${detail.statement ?? '?'}${detail.of ? ` of ${detail.of}` : ''} at ${where} failed${detail.message ? `: ${detail.message}` : ''}. `;
  const head =
    `migration ${row.version}_${row.name} ${interrupted ? 'stopped' : 'failed'} part-way while ${dir} (it is marked transaction:false, so it could not be rolled back): ` +
    `${done}; ${what}${invalidNote(detail.invalid ?? [])}`;
  if (detail.direction === 'down') {
    return (
      head +
      `Recovery: EITHER finish the rollback by hand (run the remaining down statements from that line on) and then run \`wks migrate resolve ${row.version} --rolled-back\`, ` +
      `OR re-apply what the down statements undid and then run \`wks migrate resolve ${row.version} --applied\`.`
    );
  }
  return (
    head +
    `Recovery: EITHER finish it by hand (run the remaining statements from that line on) and then run \`wks migrate resolve ${row.version} --applied\`, ` +
    `OR undo the statements that were applied and then run \`wks migrate resolve ${row.version} --rolled-back\` and re-run \`wks migrate up\`.`
  );
}

function assertClean(applied: AppliedRow[], all: MigrationFile[]): void {
  const dirty = applied.find((r) => r.dirty);
  if (!dirty) return;
  const file = all.find((m) => m.version === dirty.version)?.file;
  throw new DirtyDatabaseError(`the database is dirty at migration ${dirty.version}_${dirty.name}`, {
    hint: recovery(dirty, file),
    details: { dirty: { version: dirty.version, name: dirty.name, error: dirty.error } },
  });
}

function lineOf(st: Statement, err: DatabaseError): number {
  if (!err.position) return st.line;
  const before = st.sql.slice(0, Math.max(0, err.position - 1));
  return st.line + (before.match(/\n/g)?.length ?? 0);
}

function shorten(sql: string): string {
  const one = sql.replace(/\s+/g, ' ').trim();
  return one.length > 120 ? `${one.slice(0, 117)}...` : one;
}

async function runStatements(
  db: DatabaseAdapter,
  m: MigrationFile,
  section: Section,
  direction: 'up' | 'down',
  onFail: (e: { statement: number; of: number; line: number; message: string }) => Promise<void>,
  /** Non-transactional runs: record which statement is about to run, so a kill -9 leaves an exact state. */
  beforeEach?: (e: {
    statement: number;
    of: number;
    line: number;
    message: string;
    direction: string;
  }) => Promise<void>,
): Promise<void> {
  const stmts = splitStatements(section.sql, db.dialect, section.startLine);
  for (let i = 0; i < stmts.length; i++) {
    const st = stmts[i]!;
    if (beforeEach)
      await beforeEach({ statement: i + 1, of: stmts.length, line: st.line, message: INTERRUPTED, direction });
    try {
      await db.exec(st.sql);
    } catch (err) {
      const dbErr = err instanceof DatabaseError ? err : null;
      if (!dbErr) throw err;
      const line = lineOf(st, dbErr);
      const tx = section.options.transaction;
      const invalid = tx
        ? []
        : await invalidIndexes(
            db,
            stmts.slice(0, i + 1).map((x) => x.sql),
          );
      const failure = {
        statement: i + 1,
        of: stmts.length,
        line,
        message: dbErr.message,
        direction,
        ...(invalid.length ? { invalid } : {}),
      };
      await onFail(failure);
      throw new MigrationFailedError(
        `migration ${m.id} (${direction}) failed at ${m.file}:${line}, statement ${i + 1} of ${stmts.length} [${shorten(st.sql)}]: ${dbErr.message}`,
        {
          cause: err,
          hint: tx
            ? m.source === 'builtin'
              ? // A built-in migration is part of wks: never ask to edit a file inside the installed package.
                `the migration was rolled back completely and nothing of it was applied; it is one of wks's own migrations, so the database differs from the schema it expects: compare it with \`wks migrate status\` and \`wks migrate baseline --dry-run\`, fix the database (or restore a backup: \`wks backup list\`), then re-run \`wks migrate ${direction}\``
              : `the migration was rolled back completely and nothing of it was applied; fix ${m.file} and re-run \`wks migrate ${direction}\``
            : recovery({ version: m.version, name: m.name, error: JSON.stringify(failure) } as AppliedRow, m.file),
          details: {
            invalidIndexes: invalid,
            migration: { version: m.version, name: m.name, file: m.file, direction },
            statement: { index: i + 1, of: stmts.length, line, sql: st.sql },
            database: { message: dbErr.message, code: dbErr.dbCode ?? null },
            rolledBack: tx,
            dirty: !tx,
          },
        },
      );
    }
  }
}

async function applyUp(db: DatabaseAdapter, m: MigrationFile, now: () => Date): Promise<number> {
  const up = m.parsed().up;
  const t0 = performance.now();
  const row = { version: m.version, name: m.name, checksum: m.checksum, source: m.source };
  if (up.options.transaction) {
    await db.transaction(async (tx) => {
      await runStatements(tx, m, up, 'up', async () => undefined);
      await recordApplied(tx, { ...row, appliedAt: now(), durationMs: performance.now() - t0 });
    });
  } else {
    // Recorded dirty first: if the process dies mid-way, the state says so.
    await recordApplied(db, {
      ...row,
      appliedAt: now(),
      durationMs: 0,
      dirty: true,
      error: JSON.stringify({ direction: 'up', statement: 1, message: INTERRUPTED }),
    });
    const progress = (f: object) => markFailed(db, m.version, JSON.stringify(f));
    await runStatements(db, m, up, 'up', progress, progress);
    await markClean(db, m.version, performance.now() - t0);
  }
  return performance.now() - t0;
}

/**
 * Throw OperationError (exit 1) when `m` has no down section to roll back
 * with. The hint never asks to edit the applied file (that would be drift):
 * revert it with a new migration, or by hand.
 */
function assertCanRollBack(m: MigrationFile, dialect: Dialect, dryRun = false): void {
  const down = m.parsed().down;
  if (down && splitStatements(down.sql, dialect).length > 0) return;
  throw new OperationError(
    `${dryRun ? 'dry run: ' : ''}migration ${m.id} has no "-- migrate:down" section; it cannot be rolled back${dryRun ? ' (nothing was changed)' : ''}`,
    {
      hint: `revert it with a new migration (\`wks migrate new revert_${m.name}\`, write the reverting SQL in its up section, then \`wks migrate up\`); editing ${path.basename(m.file)} now would make it differ from what was applied`,
      details: { migration: { version: m.version, name: m.name, file: m.file } },
    },
  );
}

async function applyDown(db: DatabaseAdapter, m: MigrationFile): Promise<number> {
  assertCanRollBack(m, db.dialect);
  const down = m.parsed().down!;
  const t0 = performance.now();
  if (down.options.transaction) {
    await db.transaction(async (tx) => {
      await runStatements(tx, m, down, 'down', async () => undefined);
      await deleteApplied(tx, m.version);
    });
  } else {
    await db.run(`UPDATE ${TABLE} SET dirty = $1, error = $2 WHERE version = $3`, [
      db.dialect === 'sqlite' ? 1 : true,
      JSON.stringify({ direction: 'down', statement: 1, message: INTERRUPTED }),
      m.version,
    ]);
    const progress = (f: object) => markFailed(db, m.version, JSON.stringify(f));
    await runStatements(db, m, down, 'down', progress, progress);
    await deleteApplied(db, m.version);
  }
  return performance.now() - t0;
}

function pendingOf(all: MigrationFile[], applied: AppliedRow[], to?: string): MigrationFile[] {
  const done = new Set(applied.map((r) => r.version));
  let limit = all.length - 1;
  if (to !== undefined) limit = all.indexOf(findMigration(all, to));
  return all.filter((m, i) => i <= limit && !done.has(m.version));
}

// ---------------------------------------------------------------------------
// up

export interface MigrateUpOptions extends SessionOptions {
  /** Apply only up to and including this version (default: all). NotFoundError when unknown. */
  to?: string;
  /** Report what would run (with statements) without changing anything or taking the lock. */
  dryRun?: boolean;
  /**
   * The pre-migration backup (pre-backup.ts), taken under the lock before the first pending migration
   * is applied, only when something is pending and not in dry-run; `false` skips it (`--no-backup`).
   * Default false. A failed backup aborts the run before anything is applied.
   */
  backup?: false | Omit<PreMigrationBackupOptions, 'db' | 'what'>;
  /**
   * Apply even though applied migrations' files changed (drift), recording who
   * accepted it (`--allow-drift`, default the OS user@host): each changed file's
   * checksum becomes the recorded one. Without it drift is a VerificationError (exit 3).
   */
  allowDrift?: { by: string };
}

export interface MigrateUpResult {
  dialect: Dialect;
  database: string;
  dryRun: boolean;
  /** Migrations applied by this run (dry-run: empty). */
  applied: AppliedResult[];
  /** Dry-run: what would be applied, with statements. Otherwise: what was pending when the lock was taken. */
  pending: MigrationInfo[];
  /** The schema version after the run. */
  current: string | null;
  /** The pre-migration backup taken, or why none was (absent when the caller did not ask for one). */
  backup?: PreMigrationBackup | null;
  /** Drift accepted by this run (`allowDrift`). */
  driftAccepted?: DriftEntry[];
}

/** Applied migrations whose file changed since (checksum) or is gone, in `applied` order. */
function driftOf(all: MigrationFile[], applied: AppliedRow[]): DriftEntry[] {
  const byVersion = new Map(all.map((m) => [m.version, m]));
  const drift: DriftEntry[] = [];
  for (const r of applied) {
    // A row another tool (dbmate) wrote has no checksum: applied by another tool, checksum unknown; not drift.
    if (r.checksum === '') continue;
    const m = byVersion.get(r.version);
    if (!m)
      drift.push({ version: r.version, name: r.name, kind: 'missing', file: null, recorded: r.checksum, actual: null });
    else if (m.checksum !== r.checksum)
      drift.push({
        version: r.version,
        name: r.name,
        kind: 'changed',
        file: m.file,
        recorded: r.checksum,
        actual: m.checksum,
      });
  }
  return drift;
}

/** VerificationError (exit 3) when an applied migration's file changed: `migrate up` does not build on a history that differs from its files. */
function assertNoDrift(drift: DriftEntry[]): void {
  const changed = drift.filter((d) => d.kind === 'changed');
  if (!changed.length) return;
  const d = changed[0]!;
  throw new VerificationError(
    `migration ${d.version}_${d.name} changed since it was applied: ${d.file} has checksum ${d.actual}, the database recorded ${d.recorded}${changed.length > 1 ? ` (and ${changed.length - 1} more)` : ''}; nothing was applied`,
    {
      hint: 'restore the file as it was applied (git), or, if the change is intended, accept it: `wks migrate up --allow-drift` (records who accepted it)',
      details: { drift: changed },
    },
  );
}

/**
 * Apply pending migrations (built-ins, then the user's directory), each in
 * its own transaction unless marked transaction:false, under the migration
 * lock. Creates a missing SQLite file. Idempotent: nothing pending -> no-op.
 * Throws MigrationFailedError (exit 1; rolled back, or dirty for
 * non-transactional), DirtyDatabaseError (exit 1) when a previous
 * non-transactional migration failed, ConflictError (exit 4) on lock
 * timeout, NotFoundError (exit 5) for an unknown --to version,
 * DependencyError when the database is unreachable.
 */
export async function migrateUp(config: Config, opts: MigrateUpOptions = {}): Promise<MigrateUpResult> {
  const dialect = dialectOf(config);
  const all = loadMigrations(config, dialect);
  const now = opts.now ?? (() => new Date());
  if (opts.to !== undefined) findMigration(all, opts.to);

  if (opts.dryRun) {
    return withReadSession(config, async (db) => {
      const applied = db ? await readApplied(db) : [];
      assertClean(applied, all);
      if (!opts.allowDrift) assertNoDrift(driftOf(all, applied));
      const pending = pendingOf(all, applied, opts.to);
      return {
        dialect,
        database: db?.target ?? config.database.path,
        dryRun: true,
        applied: [],
        pending: pending.map((m) => info(m, 'up', true, dialect)),
        current: currentOf(applied, all),
      };
    });
  }

  return withMigrationMutex(config, opts, async (db) => {
    await ensureTable(db);
    const appliedRows = await readApplied(db);
    assertClean(appliedRows, all);
    const drift = driftOf(all, appliedRows);
    if (!opts.allowDrift) assertNoDrift(drift);
    const accepted: DriftEntry[] = [];
    for (const d of drift) {
      if (d.kind !== 'changed' || !opts.allowDrift) continue;
      await recordDriftAccepted(db, {
        version: d.version,
        name: d.name,
        recorded: d.recorded,
        accepted: d.actual!,
        by: opts.allowDrift.by,
        at: now(),
      });
      accepted.push(d);
    }
    const pending = pendingOf(all, appliedRows, opts.to);
    const pendingInfo = pending.map((m) => info(m, 'up', false, dialect)); // parses every pending file before anything runs
    const result: MigrateUpResult = {
      dialect,
      database: db.target,
      dryRun: false,
      applied: [],
      pending: pendingInfo,
      current: currentOf(appliedRows, all),
      ...(accepted.length ? { driftAccepted: accepted } : {}),
    };
    if (pending.length === 0) return result;
    if (opts.backup) result.backup = await takePreMigrationBackup(config, { ...opts.backup, db, what: 'migrated' });
    for (const m of pending) {
      opts.onStart?.(info(m, 'up', false, dialect));
      const durationMs = await applyUp(db, m, now).catch((err) => {
        if (err instanceof MigrationFailedError && appliedRows.length === 0 && /already exists/i.test(err.message)) {
          throw new MigrationFailedError(err.message, {
            cause: err,
            hint: `${err.hint}. The tables already exist but nothing is recorded as applied: if the old application created this database, run \`wks migrate baseline\` first`,
            details: err.details,
          });
        }
        throw err;
      });
      const r = { version: m.version, name: m.name, source: m.source, durationMs: Math.round(durationMs * 10) / 10 };
      result.applied.push(r);
      opts.onDone?.(r);
    }
    result.current = currentOf(await readApplied(db), all);
    return result;
  });
}

// ---------------------------------------------------------------------------
// down

export interface MigrateDownOptions extends SessionOptions {
  /** How many of the latest applied migrations to roll back (default 1). */
  steps?: number;
  /** Roll back everything applied after this version ('0' = everything). Exclusive with steps. */
  to?: string;
  dryRun?: boolean;
}

export interface MigrateDownResult {
  dialect: Dialect;
  database: string;
  dryRun: boolean;
  rolledBack: AppliedResult[];
  /** What is (dry-run: would be) rolled back, newest first. */
  plan: MigrationInfo[];
  current: string | null;
}

function downPlan(all: MigrationFile[], applied: AppliedRow[], opts: MigrateDownOptions): MigrationFile[] {
  const order = new Map(all.map((m, i) => [m.version, i]));
  const unknown = applied.filter((r) => !order.has(r.version));
  const newestFirst = applied
    .filter((r) => order.has(r.version))
    .sort((a, b) => order.get(b.version)! - order.get(a.version)!)
    .map((r) => all[order.get(r.version)!]!);
  let plan: MigrationFile[];
  if (opts.to !== undefined) {
    if (opts.steps !== undefined) throw new UsageError('use either --steps or --to, not both');
    const keep = opts.to === '0' ? -1 : order.get(findMigration(all, opts.to).version)!;
    plan = newestFirst.filter((m) => order.get(m.version)! > keep);
  } else {
    const steps = opts.steps ?? 1;
    if (!Number.isInteger(steps) || steps < 1)
      throw new UsageError(`--steps must be a positive integer (got ${steps})`);
    plan = newestFirst.slice(0, steps);
  }
  if (unknown.length > 0 && plan.length > 0) {
    const newestUnknown = unknown
      .map((r) => r.version)
      .sort(compareVersions)
      .pop()!;
    if (compareVersions(newestUnknown, plan[0]!.version) > 0) {
      throw new NotFoundError(`applied migration ${newestUnknown} has no file, so it cannot be rolled back`, {
        hint: 'restore the file (check database.migrations.directory), or roll it back by hand',
      });
    }
  }
  return plan;
}

/**
 * Roll back the latest applied migrations (newest first) with their
 * `-- migrate:down` sections, under the migration mutex. Throws UsageError
 * for bad steps, NotFoundError for an unknown --to version, OperationError
 * when a migration has no down section, MigrationFailedError on failure.
 */
export async function migrateDown(config: Config, opts: MigrateDownOptions = {}): Promise<MigrateDownResult> {
  const dialect = dialectOf(config);
  const all = loadMigrations(config, dialect);
  if (opts.dryRun) {
    return withReadSession(config, async (db) => {
      const applied = db ? await readApplied(db) : [];
      assertClean(applied, all);
      const plan = downPlan(all, applied, opts);
      // The dry run fails the way the real run would: a migration without a down section cannot be rolled back.
      for (const m of plan) assertCanRollBack(m, dialect, true);
      return {
        dialect,
        database: db?.target ?? config.database.path,
        dryRun: true,
        rolledBack: [],
        plan: plan.map((m) => info(m, 'down', true, dialect)),
        current: currentOf(applied, all),
      };
    });
  }
  return withMigrationMutex(config, opts, async (db) => {
    await ensureTable(db);
    const applied = await readApplied(db);
    assertClean(applied, all);
    const plan = downPlan(all, applied, opts);
    const result: MigrateDownResult = {
      dialect,
      database: db.target,
      dryRun: false,
      rolledBack: [],
      plan: plan.map((m) => info(m, 'down', false, dialect)),
      current: null,
    };
    for (const m of plan) {
      opts.onStart?.(info(m, 'down', false, dialect));
      const durationMs = await applyDown(db, m);
      const r = { version: m.version, name: m.name, source: m.source, durationMs: Math.round(durationMs * 10) / 10 };
      result.rolledBack.push(r);
      opts.onDone?.(r);
    }
    result.current = currentOf(await readApplied(db), all);
    return result;
  });
}

// ---------------------------------------------------------------------------
// status / validate / current version

function currentOf(applied: AppliedRow[], all: MigrationFile[]): string | null {
  const order = new Map(all.map((m, i) => [m.version, i]));
  const clean = applied.filter((r) => !r.dirty);
  if (clean.length === 0) return null;
  const known = clean.filter((r) => order.has(r.version)).sort((a, b) => order.get(a.version)! - order.get(b.version)!);
  const unknown = clean
    .filter((r) => !order.has(r.version))
    .map((r) => r.version)
    .sort(compareVersions);
  return unknown.length > 0 &&
    (known.length === 0 || compareVersions(unknown[unknown.length - 1]!, known[known.length - 1]!.version) > 0)
    ? unknown[unknown.length - 1]!
    : known[known.length - 1]!.version;
}

export interface AppliedInfo {
  version: string;
  name: string;
  source: string;
  checksum: string;
  appliedAt: string | null;
  durationMs: number;
  dirty: boolean;
  baseline: boolean;
}

export interface DriftEntry {
  version: string;
  name: string;
  /** changed: the file's checksum differs from the recorded one; missing: no file for an applied version. */
  kind: 'changed' | 'missing';
  file: string | null;
  recorded: string;
  actual: string | null;
}

export interface MigrationStatus {
  dialect: Dialect;
  database: string;
  /** false when the SQLite file does not exist yet. */
  exists: boolean;
  current: string | null;
  applied: AppliedInfo[];
  pending: Array<{ version: string; name: string; source: 'builtin' | 'user'; file: string }>;
  drift: DriftEntry[];
  dirty: Array<{ version: string; name: string; recovery: string }>;
}

function statusFrom(
  dialect: Dialect,
  database: string,
  exists: boolean,
  all: MigrationFile[],
  applied: AppliedRow[],
): MigrationStatus {
  const byVersion = new Map(all.map((m) => [m.version, m]));
  const order = new Map(all.map((m, i) => [m.version, i]));
  const sorted = [...applied].sort((a, b) => {
    const x = order.get(a.version);
    const y = order.get(b.version);
    if (x !== undefined && y !== undefined) return x - y;
    return compareVersions(a.version, b.version);
  });
  const drift = driftOf(all, sorted);
  return {
    dialect,
    database,
    exists,
    current: currentOf(applied, all),
    applied: sorted.map((r) => ({
      version: r.version,
      name: r.name,
      source: r.source,
      checksum: r.checksum,
      appliedAt: parseDbTime(r.applied_at)?.toISOString() ?? null,
      durationMs: r.duration_ms,
      dirty: r.dirty,
      baseline: r.baseline,
    })),
    pending: pendingOf(all, applied).map((m) => ({ version: m.version, name: m.name, source: m.source, file: m.file })),
    drift,
    dirty: sorted
      .filter((r) => r.dirty)
      .map((r) => ({ version: r.version, name: r.name, recovery: recovery(r, byVersion.get(r.version)?.file) })),
  };
}

/**
 * Applied, pending, drifted (changed or missing files) and dirty migrations.
 * Read-only: never creates the SQLite file or schema_migrations; a missing
 * SQLite file reports everything pending with `exists: false`.
 */
export async function migrationStatus(config: Config): Promise<MigrationStatus> {
  const dialect = dialectOf(config);
  const all = loadMigrations(config, dialect);
  return withReadSession(config, async (db) => {
    const applied = db ? await readApplied(db) : [];
    return statusFrom(dialect, db?.target ?? config.database.path, !!db, all, applied);
  });
}

export interface ValidateResult {
  ok: boolean;
  /** Number of applied migrations whose files were checked. */
  checked: number;
  drift: DriftEntry[];
  /** Files that do not parse (dbmate format). */
  invalid: Array<{ file: string; message: string }>;
  dirty: MigrationStatus['dirty'];
}

/**
 * Check every applied migration against its file (normalised checksum) and
 * that every known file parses. Returns the findings; the command turns
 * drift into exit 3. Read-only.
 */
export async function validateMigrations(config: Config): Promise<ValidateResult> {
  const dialect = dialectOf(config);
  const all = loadMigrations(config, dialect);
  const invalid: ValidateResult['invalid'] = [];
  for (const m of all) {
    try {
      m.parsed();
    } catch (err) {
      invalid.push({ file: m.file, message: (err as Error).message });
    }
  }
  const st = await withReadSession(config, async (db) =>
    statusFrom(dialect, db?.target ?? config.database.path, !!db, all, db ? await readApplied(db) : []),
  );
  return {
    ok: st.drift.length === 0 && invalid.length === 0 && st.dirty.length === 0,
    checked: st.applied.length,
    drift: st.drift,
    invalid,
    dirty: st.dirty,
  };
}

/**
 * The schema version recorded in an open database: the highest cleanly
 * applied version, or null when nothing is applied or schema_migrations does
 * not exist. Used by backup manifests and health checks.
 */
export async function currentSchemaVersion(db: DatabaseAdapter): Promise<string | null> {
  const rows = await readApplied(db);
  const versions = rows
    .filter((r) => !r.dirty)
    .map((r) => r.version)
    .sort(compareVersions);
  return versions.length ? versions[versions.length - 1]! : null;
}

// ---------------------------------------------------------------------------
// resolve (recovery from a dirty state)

export interface ResolveResult {
  version: string;
  name: string;
  resolution: 'applied' | 'rolled-back';
}

/**
 * Record the operator's manual recovery of a dirty (half-applied,
 * non-transactional) migration: `applied` keeps its row as applied and
 * clean; `rolled-back` deletes the row so `migrate up` runs it again.
 * Throws NotFoundError when the version has no row, UsageError when it is not dirty.
 */
export async function resolveDirty(
  config: Config,
  version: string,
  resolution: 'applied' | 'rolled-back',
  opts: SessionOptions = {},
): Promise<ResolveResult> {
  const all = loadMigrations(config, dialectOf(config));
  return withMigrationMutex(config, opts, async (db) => {
    await ensureTable(db);
    const row = (await readApplied(db)).find((r) => r.version === version || `${r.version}_${r.name}` === version);
    if (!row)
      throw new NotFoundError(`migration ${version} is not recorded in ${TABLE}`, {
        hint: 'run `wks migrate status` to see the dirty version',
      });
    if (!row.dirty) throw new UsageError(`migration ${row.version}_${row.name} is not dirty; nothing to resolve`);
    const m = all.find((x) => x.version === row.version);
    let direction = 'up';
    try {
      direction = row.error ? (JSON.parse(row.error).direction ?? 'up') : 'up';
    } catch {
      /* keep 'up' */
    }
    void direction;
    const keepRow = resolution === 'applied';
    if (keepRow) {
      await db.run(`UPDATE ${TABLE} SET dirty = $1, error = NULL, checksum = $2 WHERE version = $3`, [
        db.dialect === 'sqlite' ? 0 : false,
        m?.checksum ?? row.checksum,
        row.version,
      ]);
    } else {
      await deleteApplied(db, row.version);
    }
    return { version: row.version, name: row.name, resolution };
  });
}
