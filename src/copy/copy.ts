/**
 * `wks db copy`: move a SQLite database into PostgreSQL, exactly.
 *
 * Order of operations (the safety argument):
 *  1. a `pre-migration` backup of the source (unless backup: false);
 *  2. `migrateUp` on the target: the schema is wks's own, never guessed;
 *  3. under a PostgreSQL advisory lock (one copy per target at a time), the
 *     run row of wks_copy_progress is set to `in_progress`;
 *     and the foreign keys of the tables to copy are set aside (dropped and
 *     listed in wks_copy_deferred, in the same transaction);
 *  4. tables are copied in foreign-key order, each in ONE transaction:
 *     its indexes dropped, COPY FROM STDIN, the indexes built again from the
 *     rows, the foreign keys whose two tables are now copied added back
 *     (validating every row), sequence reset, and the table's `done`
 *     progress row commit together, so a crash (kill -9, lost connection)
 *     leaves each table either complete, indexed and marked or empty and
 *     unmarked, with its foreign keys still listed for the next run;
 *  5. every table is verified (row count + order-independent checksum,
 *     computed the same way from SQLite and from PostgreSQL's own output);
 *  6. only then is the run row set to `verified`. A target whose run row is
 *     not `verified` is not a finished copy (the runbook says so).
 *
 * The source is read inside one SQLite read transaction, so counts, rows
 * and checksums all come from one consistent snapshot while the
 * application keeps running (stop writers first if the copy must be the
 * latest data: writes after the snapshot are not copied).
 */
import { closeSync, openSync, writeSync, existsSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import type pg from 'pg';
import type { Config } from '../config/index.js';
import type { PreMigrationBackup } from '../migrate/index.js';
import { ConflictError, NotFoundError, OperationError, UsageError, VerificationError, isWksError } from '../errors.js';
import type { ColumnKind } from './convert.js';
import { openSourceReader, type SourceReader } from './reader.js';
import { openVerifier, type Verifier } from './verifier.js';
import {
  SourceTypeError,
  type OnTypeError,
  type ProblemRecord,
  type SourceTable,
  type TableSpec,
  type TableSummary,
} from './source.js';
import {
  COPY_LOCK_KEY,
  PROGRESS_TABLE,
  RUN_ROW,
  deferForeignKeys,
  dropIndexes,
  ensureProgressTable,
  fkOrder,
  hasRows,
  inspectTarget,
  isReferenced,
  readProgress,
  resetSequences,
  restoreForeignKeys,
  writeProgress,
  type TargetTable,
} from './target.js';
import { isConnectionLoss, quoteIdent } from '../db/index.js';

/** The zone assumed for SQLite DATETIME text without an explicit offset. */
export const ASSUMED_ZONE = 'UTC';
export const DEFAULT_BATCH_ROWS = 10_000;

export type CopyEvent =
  | { type: 'phase'; phase: 'backup' | 'migrate' | 'plan' | 'copy' | 'verify' | 'done'; detail?: string }
  | { type: 'table-start'; table: string; mode: 'copy' | 'resume-check' | 'verify'; total: number }
  | {
      type: 'table-progress';
      table: string;
      mode: 'copy' | 'resume-check' | 'verify';
      done: number;
      total: number;
      rowsPerSec: number;
      etaMs: number | null;
    }
  | {
      type: 'table-done';
      table: string;
      mode: 'copy' | 'resume-check' | 'verify';
      /** Rows written (copy), hashed (resume-check) or read back (verify). */
      rows: number;
      /** Rows read from SQLite: `rows` plus the rows a type problem kept out (the table-start `total`). */
      read: number;
      /** Values with a type problem in this table. */
      problems: number;
      durationMs: number;
    };

export interface CopyOptions {
  /** SQLite file to copy. Default: config.database.path. */
  from?: string;
  /** Only these tables (default: every table of the source except wks's own). */
  tables?: string[];
  /** Rows per chunk handed from the reader to the COPY stream. Default 10000. */
  batchRows?: number;
  /** Print the plan and scan for type problems; write nothing anywhere. */
  dryRun?: boolean;
  /** Continue an interrupted run: tables marked done are checked, not copied again. */
  resume?: boolean;
  /** Empty the target tables first (and forget earlier progress for them). */
  truncate?: boolean;
  /** Take a pre-migration backup of the source first. Default true. */
  backup?: boolean;
  /** What to do with a value that does not fit its target column. Default 'fail'. */
  onTypeError?: OnTypeError;
  /** Where skipped/nulled rows are listed (JSON lines, mode 0600). Default ./wks-db-copy-<run>.problems.jsonl, created only when needed. */
  reportFile?: string;
  /** Read SQLite on the main thread instead of a worker thread. */
  inline?: boolean;
  /** Progress callback. */
  onEvent?: (e: CopyEvent) => void;
  /** Clock (progress-row timestamps, report name). */
  now?: () => Date;
}

export interface ColumnPlan {
  name: string;
  sqliteType: string;
  targetType: string;
  kind: ColumnKind;
}

export interface TablePlan {
  table: string;
  rows: number;
  columns: ColumnPlan[];
  /** Target columns the source does not have (filled by their defaults). */
  targetOnlyColumns: string[];
}

export interface TableResult {
  table: string;
  status: 'copied' | 'resumed';
  sourceRows: number;
  rows: number;
  skipped: number;
  nulled: number;
  targetRows: number | null;
  sourceChecksum: string;
  targetChecksum: string | null;
  match: boolean | null;
  durationMs: number;
  rowsPerSec: number;
  sequences: Array<{ column: string; next: string }>;
  /** Worker reader: ms converting rows vs ms waiting for PostgreSQL (null inline). */
  readerBusyMs: number | null;
  readerWaitMs: number | null;
}

export interface CopyResult {
  source: string;
  target: string;
  dryRun: boolean;
  runId: string;
  assumedZone: string;
  onTypeError: OnTypeError;
  backup: PreMigrationBackup | null;
  migrations: { applied: string[]; current: string | null } | null;
  plan: TablePlan[];
  tables: TableResult[];
  problems: { count: number; reportFile: string | null; sample: ProblemRecord[] };
  verified: boolean;
  /** copyMs: the copy loop; verifyMs: time spent verifying (overlaps the copy); verifyWaitMs: verification left after the copy. */
  totals: {
    rows: number;
    durationMs: number;
    copyMs: number;
    verifyMs: number;
    verifyWaitMs: number;
    rowsPerSec: number;
  };
  reader: 'worker' | 'inline';
  verifier: 'worker' | 'inline' | null;
}

/** Verification found differences (exit 3). `result` holds the per-table comparison. */
export class CopyVerificationError extends VerificationError {
  constructor(
    message: string,
    readonly result: CopyResult,
    opts: ConstructorParameters<typeof VerificationError>[1],
  ) {
    super(message, opts);
  }
}

/** The Config with database.type forced to sqlite at `file` (the source). */
export function sourceConfigOf(config: Config, file: string): Config {
  return { ...config, database: { ...config.database, type: 'sqlite', path: file } };
}

/** The Config with database.type forced to postgresql (the target). */
export function targetConfigOf(config: Config): Config {
  const d = config.database;
  // Two connections at least: the copy session and the verification session.
  const pooling = { ...d.pooling, enabled: true, min: 0, max: Math.max(2, d.pooling.enabled ? d.pooling.max : 2) };
  return { ...config, database: { ...d, type: 'postgresql', pooling, postgresql: { ...d.postgresql, enabled: true } } };
}

function hasTarget(config: Config): boolean {
  const p = config.database.postgresql;
  return !!p.url || p.enabled || config.database.type === 'postgresql';
}

function rate(rows: number, ms: number): number {
  return ms > 0 ? Math.round((rows * 1000) / ms) : rows;
}

/** Session settings that make PostgreSQL's COPY TO output match the canonical forms in convert.ts. */
export const SESSION_SQL = `SET DateStyle = 'ISO, YMD'; SET TimeZone = 'UTC'; SET bytea_output = 'hex'; SET extra_float_digits = 1; SET statement_timeout = 0; SET client_encoding = 'UTF8'`;

/**
 * Plan the tables to copy: match source tables to target tables and their
 * columns. Throws NotFoundError for a --tables name the source lacks and
 * OperationError for a source table or column the target schema lacks.
 */
export function planTables(source: SourceTable[], target: Map<string, TargetTable>, only?: string[]): TablePlan[] {
  const byName = new Map(source.map((t) => [t.name, t]));
  const names = only && only.length > 0 ? only : source.map((t) => t.name);
  for (const n of names) {
    if (!byName.has(n))
      throw new NotFoundError(`table "${n}" is not in the SQLite database`, {
        hint: `tables there: ${source.map((t) => t.name).join(', ') || '(none)'}`,
      });
  }
  const missing = names.filter((n) => !target.has(n));
  if (missing.length > 0) {
    throw new OperationError(
      `the PostgreSQL schema has no table ${missing.map((m) => `"${m}"`).join(', ')} (it exists in SQLite)`,
      {
        hint: 'add a migration that creates it for PostgreSQL (wks migrate new), or leave it out with --tables',
        details: { missingTables: missing },
      },
    );
  }
  const plans: TablePlan[] = [];
  for (const n of names) {
    const s = byName.get(n)!;
    const t = target.get(n)!;
    const tcols = new Map(t.columns.map((c) => [c.name, c]));
    const lost = s.columns.filter((c) => !tcols.has(c.name)).map((c) => c.name);
    if (lost.length > 0) {
      throw new OperationError(
        `table "${n}": column(s) ${lost.join(', ')} exist in SQLite but not in PostgreSQL; their data would be lost`,
        {
          hint: 'add them with a migration for PostgreSQL, then re-run',
          details: { table: n, missingColumns: lost },
        },
      );
    }
    const scols = new Map(s.columns.map((c) => [c.name, c]));
    plans.push({
      table: n,
      rows: s.rows,
      columns: t.columns
        .filter((c) => scols.has(c.name))
        .map((c) => ({
          name: c.name,
          sqliteType: scols.get(c.name)!.declType || '(none)',
          targetType: c.dataType,
          kind: c.kind,
        })),
      targetOnlyColumns: t.columns.filter((c) => !scols.has(c.name)).map((c) => c.name),
    });
  }
  return plans;
}

/** Report file writer: opened on the first problem, one JSON object per line, mode 0600. */
class ProblemLog {
  count = 0;
  sample: ProblemRecord[] = [];
  private fd: number | null = null;
  constructor(
    readonly file: string,
    private readonly write: boolean,
  ) {}
  add(recs: ProblemRecord[]): void {
    for (const r of recs) {
      this.count++;
      if (this.sample.length < 20) this.sample.push({ ...r, row: undefined });
      if (!this.write) continue;
      if (this.fd === null) this.fd = openSync(this.file, 'a', 0o600);
      writeSync(this.fd, `${JSON.stringify(r)}\n`);
    }
  }
  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
  get path(): string | null {
    return this.write && this.count > 0 ? this.file : null;
  }
}

function typeErrorToWks(err: SourceTypeError): OperationError {
  const r = err.record;
  return new OperationError(
    `type mismatch in ${r.table}, rowid ${r.rowid}, column ${r.column}: ${r.problem} (value ${r.value}); nothing of this table was written`,
    {
      hint: 'fix the row in SQLite, or re-run with --on-type-error=skip-row (rows listed in a report file) or --on-type-error=null; `--dry-run` lists every problem; add --resume to keep the tables already copied',
      details: { problem: { table: r.table, rowid: r.rowid, column: r.column, problem: r.problem, value: r.value } },
    },
  );
}

/** Apply all migrations to a scratch schema inside a transaction that is rolled back, and describe it (dry-run: writes nothing). */
async function scratchTargetSchema(client: pg.ClientBase, targetConfig: Config): Promise<Map<string, TargetTable>> {
  const { loadMigrations } = await import('../migrate/index.js');
  const schema = `wks_copy_plan_${randomBytes(4).toString('hex')}`;
  await client.query('BEGIN');
  try {
    await client.query(`CREATE SCHEMA ${schema}`);
    await client.query(`SET LOCAL search_path TO ${schema}`);
    for (const m of loadMigrations(targetConfig, 'postgres')) await client.query(m.parsed().up.sql);
    return await inspectTarget(client);
  } finally {
    await client.query('ROLLBACK').catch(() => undefined);
  }
}

/**
 * Copy the SQLite database into PostgreSQL (see the module comment for the
 * order of operations). Returns the per-table result, verified.
 *
 * Throws: UsageError (2) when no PostgreSQL target is configured or options
 * conflict; NotFoundError (5) when the SQLite file or a --tables name does
 * not exist; OperationError (1) for a type mismatch under 'fail', a
 * non-empty target table without --truncate, an unfinished earlier run
 * without --resume/--truncate, or a schema the target lacks;
 * ConflictError (4) when another copy into the same database is running;
 * CopyVerificationError (3) when counts or checksums differ;
 * DependencyError when a database is unreachable; whatever migrateUp and
 * createBackup throw.
 */
/** The validated run settings of one copy. */
interface Settings {
  policy: OnTypeError;
  batchRows: number;
}

function checkOptions(opts: CopyOptions): Settings {
  const policy: OnTypeError = opts.onTypeError ?? 'fail';
  if (!['fail', 'skip-row', 'null'].includes(policy))
    throw new UsageError(`unknown --on-type-error "${policy}"`, { hint: 'use fail, skip-row or null' });
  const batchRows = opts.batchRows ?? DEFAULT_BATCH_ROWS;
  if (!Number.isInteger(batchRows) || batchRows < 1)
    throw new UsageError(`--batch-rows must be a positive integer (got ${opts.batchRows})`);
  if (opts.resume && opts.truncate)
    throw new UsageError('--resume and --truncate contradict each other', {
      hint: '--resume keeps the tables already copied; --truncate starts again from empty tables',
    });
  return { policy, batchRows };
}

/** The source file (it must exist) and the check that a PostgreSQL target is configured. */
function resolveSource(config: Config, opts: CopyOptions): string {
  const sourcePath = path.resolve(opts.from ?? config.database.path);
  if (!existsSync(sourcePath)) {
    throw new NotFoundError(`SQLite database not found: ${sourcePath}`, {
      hint: 'pass --from PATH, or check DATABASE_PATH / phase4.database.path',
    });
  }
  if (!hasTarget(config)) {
    throw new UsageError(
      'no PostgreSQL target: pass --to postgres://user@host/db, or set PG_ENABLED=true with PG_HOST/PG_DATABASE/PG_USER (or PG_URL)',
      { hint: 'see docs/postgresql-migration.md' },
    );
  }
  return sourcePath;
}

function emptyResult(sourcePath: string, runId: string, opts: CopyOptions, policy: OnTypeError): CopyResult {
  return {
    source: sourcePath,
    target: '',
    dryRun: !!opts.dryRun,
    runId,
    assumedZone: ASSUMED_ZONE,
    onTypeError: policy,
    backup: null,
    migrations: null,
    plan: [],
    tables: [],
    problems: { count: 0, reportFile: null, sample: [] },
    verified: false,
    totals: { rows: 0, durationMs: 0, copyMs: 0, verifyMs: 0, verifyWaitMs: 0, rowsPerSec: 0 },
    reader: 'inline',
    verifier: null,
  };
}

/** Steps 1 and 2: the pre-migration backup of the source, then wks's own schema on the target. */
async function prepareTarget(run: Run, sourceConfig: Config, targetConfig: Config): Promise<void> {
  const { opts, onEvent, result } = run;
  if (opts.backup === false) result.backup = { skipped: '--no-backup' };
  else {
    onEvent({ type: 'phase', phase: 'backup' });
    const { takePreMigrationBackup } = await import('../migrate/index.js');
    result.backup = await takePreMigrationBackup(sourceConfig, { db: null, label: 'db copy', what: 'copied' });
  }
  onEvent({ type: 'phase', phase: 'migrate' });
  const { migrateUp } = await import('../migrate/index.js');
  const m = await migrateUp(targetConfig, {});
  result.migrations = { applied: m.applied.map((a) => `${a.version}_${a.name}`), current: m.current };
}

/** What one run shares between its steps. */
interface Run {
  opts: CopyOptions;
  settings: Settings;
  onEvent: (e: CopyEvent) => void;
  now: () => Date;
  sourcePath: string;
  runId: string;
  result: CopyResult;
  log: ProblemLog;
  /** Set once opened; closed by copyDatabase in `finally`. */
  client?: pg.PoolClient;
  vclient?: pg.PoolClient;
  reader?: SourceReader;
  verifier?: Verifier;
}

/**
 * Copy a SQLite database into PostgreSQL and verify it (steps in the file comment); the composition
 * root: check, prepare, then plan, claim, copy and verify, and mark, each a function of its own.
 */
export async function copyDatabase(config: Config, opts: CopyOptions = {}): Promise<CopyResult> {
  const t0 = Date.now();
  const now = opts.now ?? (() => new Date());
  const settings = checkOptions(opts);
  const sourcePath = resolveSource(config, opts);
  const sourceConfig = sourceConfigOf(config, sourcePath);
  const targetConfig = targetConfigOf(config);
  const runId = `${now().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '')}-${randomBytes(3).toString('hex')}`;
  const result = emptyResult(sourcePath, runId, opts, settings.policy);
  const log = new ProblemLog(path.resolve(opts.reportFile ?? `wks-db-copy-${runId}.problems.jsonl`), !opts.dryRun);
  const run: Run = { opts, settings, onEvent: opts.onEvent ?? (() => undefined), now, sourcePath, runId, result, log };

  // 1. backup, 2. schema (not in dry-run: a dry run writes nothing anywhere)
  if (!opts.dryRun) await prepareTarget(run, sourceConfig, targetConfig);

  const { openDatabase, isPostgres } = await import('../db/index.js');
  const adapter = await openDatabase(targetConfig, { statementTimeoutMs: 0, applicationName: 'wks db copy' });
  if (!isPostgres(adapter)) throw new OperationError('the target is not PostgreSQL');
  result.target = adapter.target;
  let broken: Error | undefined;
  try {
    const source = await openSource(run, config, adapter);
    if (opts.dryRun) return await dryRunScan(run, source, targetConfig, t0);
    const claim = await claimTarget(run, source, adapter.target);
    await copyAndVerify(run, source, claim, adapter, targetConfig);
    result.totals.rows = result.tables.reduce((a, r) => a + (r.status === 'copied' ? r.rows : 0), 0);
    result.totals.durationMs = Date.now() - t0;
    result.totals.rowsPerSec = rate(result.totals.rows, result.totals.durationMs);
    log.close();
    result.problems = { count: log.count, reportFile: log.path, sample: log.sample };
    await markRun(run);
    result.verified = true;
    run.onEvent({ type: 'phase', phase: 'done' });
    return result;
  } catch (err) {
    if (isConnectionLoss(err)) broken = err as Error;
    throw err;
  } finally {
    log.close();
    if (run.reader) await run.reader.close().catch(() => undefined);
    if (run.client) {
      if (!broken) await run.client.query(`SELECT pg_advisory_unlock_all()`).catch(() => undefined);
      run.client.release(broken ?? true); // a copy session has custom settings: never return it to the pool
    }
    if (run.verifier) await run.verifier.close().catch(() => undefined);
    if (run.vclient) run.vclient.release(true);
    await adapter.close();
  }
}

/** The target session (custom settings) and the source reader with its plan; returns the source tables by name. */
async function openSource(run: Run, config: Config, adapter: { pool: pg.Pool }): Promise<Map<string, SourceTable>> {
  run.client = await adapter.pool.connect();
  await run.client.query(SESSION_SQL);
  run.onEvent({ type: 'phase', phase: 'plan' });
  run.reader = await openSourceReader({
    path: run.sourcePath,
    busyTimeoutMs: config.database.busy_timeout_ms,
    inline: run.opts.inline,
  });
  run.result.reader = run.reader.mode;
  const source = await run.reader.plan();
  return new Map(source.map((s) => [s.name, s]));
}

/** A dry run: plan against the target (or a scratch copy of wks's schema) and scan every row for type problems. */
async function dryRunScan(
  run: Run,
  sourceByName: Map<string, SourceTable>,
  targetConfig: Config,
  t0: number,
): Promise<CopyResult> {
  const { result, opts, log } = run;
  const client = run.client!;
  let target = await inspectTarget(client);
  const wanted = opts.tables?.length ? opts.tables : [...sourceByName.keys()];
  if (wanted.some((n) => !target.has(n))) target = await scratchTargetSchema(client, targetConfig);
  result.plan = planTables([...sourceByName.values()], target, opts.tables);
  // Scan every row for type problems (hash mode, nothing written).
  for (const p of result.plan) {
    const spec = specFor(
      p,
      sourceByName.get(p.table)!,
      target.get(p.table)!,
      'hash',
      'skip-row',
      run.settings.batchRows,
    );
    run.onEvent({ type: 'table-start', table: p.table, mode: 'resume-check', total: p.rows });
    const s = await runReader(run.reader!, spec, p.rows, 'resume-check', run.onEvent, log, null);
    result.tables.push(tableResult(p.table, 'copied', s, 0, []));
  }
  result.problems = { count: log.count, reportFile: null, sample: log.sample };
  result.totals.durationMs = Date.now() - t0;
  return result;
}

/** What claimTarget decided: the target's tables, the copy order, and which tables an earlier run finished. */
interface Claim {
  target: Map<string, TargetTable>;
  order: string[];
  planBy: Map<string, TablePlan>;
  resumed: Set<string>;
  /** Tables still to copy in this run (a foreign key goes back once neither of its ends is). */
  pending: Set<string>;
}

/** Step 3: the advisory lock (one copy per target), the plan, the refusals, and the run row set `in_progress`. */
async function claimTarget(run: Run, sourceByName: Map<string, SourceTable>, targetName: string): Promise<Claim> {
  const { opts, result, sourcePath } = run;
  const client = run.client!;
  const locked = await client.query(`SELECT pg_try_advisory_lock(${COPY_LOCK_KEY}) AS ok`);
  if (!locked.rows[0]?.ok) {
    throw new ConflictError(`another wks db copy is running into ${targetName}`, {
      hint: 'wait for it to finish (see pg_stat_activity, application_name "wks db copy")',
    });
  }
  const target = await inspectTarget(client);
  result.plan = planTables([...sourceByName.values()], target, opts.tables);
  const order = fkOrder(
    result.plan.map((p) => p.table),
    target,
    (t) => sourceByName.get(t)?.rows ?? 0,
  );
  await ensureProgressTable(client);
  const progress = await readProgress(client);
  const runRow = progress.get(RUN_ROW);
  if (runRow && runRow.status !== 'verified' && !opts.resume && !opts.truncate) {
    throw new OperationError(
      `an earlier wks db copy into ${targetName} did not finish (run ${runRow.run_id ?? '?'}, status ${runRow.status})`,
      { hint: 're-run with --resume to continue it, or with --truncate to start again from empty tables' },
    );
  }
  if (opts.resume && runRow?.source && runRow.source !== sourcePath) {
    throw new OperationError(`the interrupted copy read ${runRow.source}, not ${sourcePath}`, {
      hint: 'resume with --from pointing at the same file, or start again with --truncate',
    });
  }
  const resumed = new Set(
    opts.resume ? order.filter((t) => ['done', 'verified'].includes(progress.get(t)?.status ?? '')) : [],
  );
  const toCopy = order.filter((t) => !resumed.has(t));
  if (!opts.truncate) await refuseNonEmpty(client, toCopy);
  await startRun(run, toCopy, opts.resume && runRow?.run_id ? runRow.run_id : run.runId);
  return {
    target,
    order,
    planBy: new Map(result.plan.map((p) => [p.table, p])),
    resumed,
    pending: new Set(toCopy),
  };
}

async function refuseNonEmpty(client: pg.PoolClient, tables: string[]): Promise<void> {
  const busy: string[] = [];
  for (const t of tables) if (await hasRows(client, t)) busy.push(t);
  if (busy.length > 0) {
    throw new OperationError(`target table(s) not empty: ${busy.join(', ')}`, {
      hint: 're-run with --truncate to empty them first (their rows are deleted), or point --to at an empty database',
      details: { nonEmptyTables: busy },
    });
  }
}

/**
 * In one transaction: truncate (--truncate), clear the progress rows of the tables to copy, mark the
 * run in progress, and set aside the foreign keys of the tables to copy (each goes back, validated,
 * in the transaction of the last of its two tables; a killed run leaves them listed in
 * wks_copy_deferred for the next one).
 */
async function startRun(run: Run, toCopy: string[], runId: string): Promise<void> {
  const client = run.client!;
  await client.query('BEGIN');
  try {
    if (run.opts.truncate && toCopy.length > 0) await client.query(`TRUNCATE ${toCopy.map(quoteIdent).join(', ')}`);
    await client.query(`DELETE FROM ${PROGRESS_TABLE} WHERE table_name = ANY($1)`, [toCopy]);
    if (!run.opts.resume)
      await client.query(`DELETE FROM ${PROGRESS_TABLE} WHERE status <> 'done' AND status <> 'verified'`);
    await writeProgress(client, {
      table_name: RUN_ROW,
      status: 'in_progress',
      source: run.sourcePath,
      run_id: runId,
      started_at: run.now(),
    });
    await deferForeignKeys(client, toCopy);
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    const e = err as { code?: string; message: string };
    if (e.code === '0A000') {
      throw new OperationError(`cannot truncate: ${e.message}`, {
        hint: 'another table references these; include it in --tables (or empty it yourself) and re-run',
      });
    }
    throw err;
  }
}

/**
 * Steps 4 and 5: copy table by table in FK order; each committed table is verified on a second
 * connection while the next one is copied (the reader thread and the COPY backend keep both cores
 * busy; verification fills the gaps).
 */
async function copyAndVerify(
  run: Run,
  sourceByName: Map<string, SourceTable>,
  claim: Claim,
  adapter: { pool: pg.Pool },
  targetConfig: Config,
): Promise<void> {
  const { result } = run;
  run.onEvent({ type: 'phase', phase: 'copy' });
  const queue = await openVerifyQueue(run, claim, adapter, targetConfig);
  const copyStart = Date.now();
  for (const t of claim.order) {
    const r = await copyOne(run, sourceByName.get(t)!, claim, t).catch(async (err) => {
      await queue.settled();
      throw err;
    });
    result.tables.push(r);
    queue.add(r);
  }
  result.totals.copyMs = Date.now() - copyStart;
  run.onEvent({ type: 'phase', phase: 'verify' });
  const verifyWait = Date.now();
  await queue.done();
  result.totals.verifyMs = queue.busyMs();
  result.totals.verifyWaitMs = Date.now() - verifyWait;
}

/** Verification of committed tables, one at a time in the background, on the verifier's own connection. */
async function openVerifyQueue(run: Run, claim: Claim, adapter: { pool: pg.Pool }, targetConfig: Config) {
  const { postgresSettings, pgClientConfig } = await import('../db/index.js');
  const clientConfig = pgClientConfig(postgresSettings(targetConfig), 'wks db copy');
  const verifier = await openVerifier(
    clientConfig,
    SESSION_SQL,
    async () => {
      run.vclient = await adapter.pool.connect();
      await run.vclient.query(SESSION_SQL);
      return run.vclient;
    },
    run.opts.inline,
  );
  run.verifier = verifier;
  run.result.verifier = verifier.mode;
  let chain: Promise<void> = Promise.resolve();
  let busyMs = 0;
  return {
    add(r: TableResult): void {
      chain = chain.then(async () => {
        const planned = claim.planBy.get(r.table)!;
        const cols = claim.target.get(r.table)!.columns.filter((c) => planned.columns.some((pc) => pc.name === c.name));
        const started = Date.now();
        const v = await verifier.checksum(r.table, cols, r.rows);
        r.targetRows = v.rows;
        r.targetChecksum = v.checksum;
        r.match = v.rows === r.rows && v.checksum === r.sourceChecksum;
        busyMs += Date.now() - started;
        run.onEvent({
          type: 'table-done',
          table: r.table,
          mode: 'verify',
          rows: v.rows,
          read: v.rows,
          problems: 0,
          durationMs: Date.now() - started,
        });
      });
      chain.catch(() => undefined); // awaited by done(); never an unhandled rejection
    },
    done: (): Promise<void> => chain,
    settled: (): Promise<void> => chain.catch(() => undefined),
    busyMs: (): number => busyMs,
  };
}

/** One table: a resume check of a table an earlier run finished, or a COPY committed with its progress row. */
async function copyOne(run: Run, s: SourceTable, claim: Claim, t: string): Promise<TableResult> {
  const { policy, batchRows } = run.settings;
  const client = run.client!;
  const p = claim.planBy.get(t)!;
  const tt = claim.target.get(t)!;
  const started = Date.now();
  if (claim.resumed.has(t)) {
    run.onEvent({ type: 'table-start', table: t, mode: 'resume-check', total: p.rows });
    const spec = specFor(p, s, tt, 'hash', policy, batchRows);
    const sum = await runReader(run.reader!, spec, p.rows, 'resume-check', run.onEvent, run.log, null);
    return tableResult(t, 'resumed', sum, Date.now() - started, []);
  }
  run.onEvent({ type: 'table-start', table: t, mode: 'copy', total: p.rows });
  await client.query('BEGIN');
  try {
    const { rebuild, freeze } = await emptyForCopy(client, t);
    const spec = specFor(p, s, tt, 'copy', policy, batchRows);
    const sum = await copyTable(client, run.reader!, spec, p.rows, run.onEvent, run.log, freeze);
    await rebuildTable(client, t, rebuild, claim.pending);
    const seqs = await resetSequences(client, tt, s.sequence);
    await writeProgress(client, {
      table_name: t,
      status: 'done',
      source: run.sourcePath,
      source_rows: sum.sourceRows,
      rows: sum.rows,
      skipped: sum.skipped,
      checksum: sum.checksum,
      run_id: run.runId,
      started_at: new Date(started),
      finished_at: run.now(),
    });
    await client.query('COMMIT');
    claim.pending.delete(t);
    return tableResult(t, 'copied', sum, Date.now() - started, seqs);
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    if (err instanceof SourceTypeError) throw typeErrorToWks(err);
    throw err;
  }
}

/**
 * In the table's transaction, before its COPY: lock it, check it is still empty, drop its indexes
 * (built again from the data afterwards: one sort each instead of one insert per row), and
 * truncate it when nothing references it, so the COPY can write the rows frozen (no hint-bit
 * writes when verification reads them back). Returns the statements that rebuild the indexes.
 */
async function emptyForCopy(client: pg.PoolClient, t: string): Promise<{ rebuild: string[]; freeze: boolean }> {
  await client.query(`LOCK TABLE ${quoteIdent(t)} IN ACCESS EXCLUSIVE MODE`);
  await client.query(`SET LOCAL maintenance_work_mem = '256MB'`);
  await refuseNonEmpty(client, [t]);
  const rebuild = await dropIndexes(client, t);
  const freeze = !(await isReferenced(client, t));
  if (freeze) await client.query(`TRUNCATE ${quoteIdent(t)}`);
  return { rebuild, freeze };
}

/**
 * After the COPY, in the same transaction: the table's indexes, built from its rows, then every
 * set-aside foreign key whose tables are both copied now, each validated over all its rows (an
 * orphan fails the table as the row-by-row check did, 23503).
 */
async function rebuildTable(client: pg.PoolClient, t: string, rebuild: string[], pending: Set<string>): Promise<void> {
  try {
    for (const ddl of rebuild) await client.query(ddl);
    const settled = (x: string) => x === t || !pending.has(x);
    await restoreForeignKeys(client, (f) => settled(f.child) && settled(f.parent));
  } catch (err) {
    throw copyError(t, err as Error);
  }
}

/** Step 6: mark the run `verified` when every table matches, else mark the differing tables failed and throw. */
async function markRun(run: Run): Promise<void> {
  const { result } = run;
  const client = run.client!;
  const bad = result.tables.filter((r) => !r.match);
  await client.query('BEGIN');
  try {
    if (bad.length === 0) {
      // A verified copy has the whole schema: nothing may stay set aside (normally nothing is left here).
      await restoreForeignKeys(client, () => true);
      await client.query(`UPDATE ${PROGRESS_TABLE} SET status = 'verified' WHERE table_name = ANY($1)`, [
        result.tables.map((r) => r.table),
      ]);
      await client.query(`UPDATE ${PROGRESS_TABLE} SET status = 'verified', finished_at = $1 WHERE table_name = $2`, [
        run.now(),
        RUN_ROW,
      ]);
    } else {
      await client.query(`UPDATE ${PROGRESS_TABLE} SET status = 'failed' WHERE table_name = ANY($1)`, [
        [...bad.map((r) => r.table), RUN_ROW],
      ]);
    }
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
  if (bad.length > 0) {
    throw new CopyVerificationError(
      `verification failed: ${bad.length} table(s) differ between SQLite and PostgreSQL (${bad.map((b) => b.table).join(', ')})`,
      result,
      {
        hint: 'do not switch to PostgreSQL; see the differences above. If the source changed since an interrupted run, start again with --truncate',
        details: {
          differences: bad.map((b) => ({
            table: b.table,
            sourceRows: b.rows,
            targetRows: b.targetRows,
            sourceChecksum: b.sourceChecksum,
            targetChecksum: b.targetChecksum,
          })),
        },
      },
    );
  }
}

function specFor(
  p: TablePlan,
  s: SourceTable,
  t: TargetTable,
  mode: 'copy' | 'hash',
  policy: OnTypeError,
  batchRows: number,
): TableSpec {
  const tcols = new Map(t.columns.map((c) => [c.name, c]));
  return {
    table: p.table,
    columns: p.columns.map((c) => ({ name: c.name, kind: c.kind, notNull: tcols.get(c.name)!.notNull })),
    hasRowid: s.hasRowid,
    rowidColumn: s.rowidAlias ? p.columns.findIndex((c) => c.name === s.rowidAlias) : -1,
    mode,
    onTypeError: policy,
    batchRows,
  };
}

function tableResult(
  table: string,
  status: 'copied' | 'resumed',
  s: TableSummary,
  durationMs: number,
  sequences: Array<{ column: string; next: string }>,
): TableResult {
  return {
    table,
    status,
    sourceRows: s.sourceRows,
    rows: s.rows,
    skipped: s.skipped,
    nulled: s.nulled,
    targetRows: null,
    sourceChecksum: s.checksum,
    targetChecksum: null,
    match: null,
    durationMs,
    rowsPerSec: rate(s.rows, durationMs),
    sequences,
    readerBusyMs: s.readerBusyMs ?? null,
    readerWaitMs: s.readerWaitMs ?? null,
  };
}

function progressEvent(
  onEvent: (e: CopyEvent) => void,
  table: string,
  mode: 'copy' | 'resume-check' | 'verify',
  done: number,
  total: number,
  started: number,
): void {
  const ms = Date.now() - started;
  const rps = rate(done, ms);
  onEvent({
    type: 'table-progress',
    table,
    mode,
    done,
    total,
    rowsPerSec: rps,
    etaMs: rps > 0 && total >= done ? Math.round(((total - done) / rps) * 1000) : null,
  });
}

async function runReader(
  reader: SourceReader,
  spec: TableSpec,
  total: number,
  mode: 'copy' | 'resume-check',
  onEvent: (e: CopyEvent) => void,
  log: ProblemLog,
  write: ((buf: Uint8Array, done: () => void) => void) | null,
  ready: () => Promise<void> = async () => undefined,
): Promise<TableSummary> {
  const started = Date.now();
  let found = 0;
  const s = await reader.table(spec, {
    write: write ?? ((_b, done) => done()),
    ready,
    progress: (read, _written, problems) => {
      found += problems.length;
      if (problems.length > 0) log.add(problems);
      progressEvent(onEvent, spec.table, mode, read, total, started);
    },
  });
  onEvent({
    type: 'table-done',
    table: spec.table,
    mode,
    rows: s.rows,
    read: s.sourceRows,
    problems: found,
    durationMs: Date.now() - started,
  });
  return s;
}

/** COPY one table inside the caller's transaction. Rejects with the COPY error, or SourceTypeError. */
async function copyTable(
  client: pg.PoolClient,
  reader: SourceReader,
  spec: TableSpec,
  total: number,
  onEvent: (e: CopyEvent) => void,
  log: ProblemLog,
  freeze: boolean,
): Promise<TableSummary> {
  const { from: copyFrom } = await import('pg-copy-streams');
  const stream = client.query(
    copyFrom(
      `COPY ${quoteIdent(spec.table)} (${spec.columns.map((c) => quoteIdent(c.name)).join(', ')}) FROM STDIN${freeze ? ' WITH (FREEZE)' : ''}`,
    ),
  );
  let streamError: Error | null = null;
  const failed = new Promise<never>((_, reject) => {
    stream.on('error', (e: Error) => {
      streamError = e;
      reader.abort();
      reject(e);
    });
  });
  failed.catch(() => undefined);
  const finished = new Promise<void>((resolve) => stream.on('finish', () => resolve()));
  let summary: TableSummary;
  try {
    summary = await runReader(
      reader,
      spec,
      total,
      'copy',
      onEvent,
      log,
      (buf, done) => {
        if (streamError) return done();
        stream.write(buf, () => done());
      },
      async () => {
        if (stream.writableNeedDrain && !streamError) await Promise.race([once(stream, 'drain'), failed]);
      },
    );
  } catch (err) {
    if (streamError) throw copyError(spec.table, streamError);
    // abort the COPY so the connection is usable for ROLLBACK
    stream.destroy(err as Error);
    await Promise.race([failed, new Promise((r) => setTimeout(r, 2000))]).catch(() => undefined);
    throw err;
  }
  stream.end();
  try {
    await Promise.race([finished, failed]);
  } catch (err) {
    throw copyError(spec.table, err as Error);
  }
  return summary;
}

function copyError(table: string, err: Error): Error {
  const e = err as Error & { code?: string; detail?: string; where?: string };
  if (isWksError(err)) return err;
  if (e.code && /^(08|57P)/.test(e.code)) return err;
  const fk = e.code === '23503';
  return new OperationError(
    `copying ${table} failed in PostgreSQL: ${e.message}${e.detail ? ` (${e.detail})` : ''}${e.where ? ` [${e.where.split('\n')[0]}]` : ''}; nothing of this table was written`,
    {
      cause: err,
      hint: fk
        ? 'the SQLite data breaks a foreign key (SQLite does not always enforce them): fix or delete the orphan rows (PRAGMA foreign_key_check), then re-run with --resume'
        : 'fix the data the message names, then re-run with --resume',
      details: { table, dbCode: e.code ?? null },
    },
  );
}
