import { intFlag } from '../flags.js';
import { formatDuration } from '../../util/duration.js';
import type { Action } from '../context.js';
import type { Progress, Reporter } from '../../ui/index.js';
import type { CopyEvent, CopyResult, OnTypeError, TableResult } from '../../copy/index.js';
import type { Column } from '../../ui/index.js';
import { UsageError, VerificationError } from '../../errors.js';

interface Opts {
  to?: string;
  from?: string;
  tables?: string;
  batchRows?: string;
  dryRun?: boolean;
  resume?: boolean;
  truncate?: boolean;
  backup?: boolean;
  onTypeError?: OnTypeError;
  report?: string;
}

const fmtN = (n: number | null | undefined) => (n === null || n === undefined ? '-' : n.toLocaleString('en-US'));

const fmtEta = (ms: number | null): string => (ms === null ? '?' : formatDuration(Math.round(ms / 1000) * 1000));

const VERB: Record<string, string> = { copy: 'copying', 'resume-check': 'checking', verify: 'verifying' };

/**
 * "copied t: N rows" / "checked t: N rows": a check counts the rows it read (the header's total), and
 * says how many values have a type problem; a copy counts the rows written, and the ones left out.
 */
function doneLine(e: Extract<CopyEvent, { type: 'table-done' }>): string {
  const problems = e.problems > 0 ? `, ${fmtN(e.problems)} type problem(s)` : '';
  if (e.mode !== 'copy') return `checked ${e.table}: ${fmtN(e.read)} rows${problems}`;
  const left = e.read > e.rows ? ` (${fmtN(e.read - e.rows)} of ${fmtN(e.read)} skipped)` : '';
  return `copied ${e.table}: ${fmtN(e.rows)} rows${left}${problems}`;
}

/** Per-table spinners with rows/s and ETA on a TTY, fed by copyDatabase's events in order. */
function progressReporter(out: Reporter) {
  let spin: Progress | null = null;
  const onEvent = async (e: CopyEvent): Promise<void> => {
    if (e.type === 'phase') {
      if (e.phase === 'backup') out.info('taking a pre-migration backup of the SQLite database');
      else if (e.phase === 'migrate') out.debug('applying migrations to the target');
      else if (e.phase === 'verify') out.debug('verifying counts and checksums');
    } else if (e.type === 'table-start') {
      spin?.stop();
      spin = await out.progress(`${VERB[e.mode]} ${e.table} (${fmtN(e.total)} rows)`);
    } else if (e.type === 'table-progress') {
      if (e.mode === 'verify') return;
      spin?.update(
        `${VERB[e.mode]} ${e.table}: ${fmtN(e.done)}/${fmtN(e.total)} rows, ${fmtN(e.rowsPerSec)} rows/s, ETA ${fmtEta(e.etaMs)}`,
      );
    } else if (e.type === 'table-done') {
      if (e.mode === 'verify') {
        out.debug(`verified ${e.table}: ${fmtN(e.rows)} rows in ${formatDuration(e.durationMs)}`);
        return;
      }
      spin?.succeed(`${doneLine(e)} in ${formatDuration(e.durationMs)}`);
      spin = null;
    }
  };
  return { onEvent, stop: (): void => spin?.stop() };
}

/** The result for people: the plan and type problems (dry run), or the per-table table and the summary. */
function render(d: CopyResult, r: Reporter): void {
  if (d.dryRun) {
    r.line(`plan: copy ${d.source} -> ${d.target} (dry run, nothing written)`);
    r.line(`DATETIME text without a zone is taken as ${d.assumedZone}; REAL -> double precision (bit-exact)`);
    for (const p of d.plan) {
      r.line();
      r.line(r.c.bold(`${p.table}  (${fmtN(p.rows)} rows)`));
      r.table(p.columns, [
        { header: 'COLUMN', value: (c) => c.name },
        { header: 'SQLITE', value: (c) => c.sqliteType },
        { header: 'POSTGRESQL', value: (c) => c.targetType },
      ]);
      if (p.targetOnlyColumns.length) r.line(r.c.dim(`  filled by defaults: ${p.targetOnlyColumns.join(', ')}`));
    }
    r.line();
    if (d.problems.count === 0) r.line(`${r.c.green('✔')} no type problems found`);
    else {
      r.line(
        r.c.yellow(
          `${fmtN(d.problems.count)} type problem(s) (the default --on-type-error=fail would stop at the first):`,
        ),
      );
      r.table(d.problems.sample, [
        { header: 'TABLE', value: (p) => p.table },
        { header: 'ROWID', value: (p) => p.rowid ?? '-' },
        { header: 'COLUMN', value: (p) => p.column },
        { header: 'PROBLEM', value: (p) => p.problem },
        { header: 'VALUE', value: (p) => p.value },
      ]);
    }
    return;
  }
  const cols: Column<TableResult>[] = [
    { header: 'TABLE', value: (t) => t.table },
    { header: 'STATUS', value: (t) => t.status },
    { header: 'ROWS', value: (t) => fmtN(t.rows), align: 'right' },
    { header: 'SKIPPED', value: (t) => fmtN(t.skipped), align: 'right' },
    { header: 'TARGET', value: (t) => fmtN(t.targetRows), align: 'right' },
    { header: 'CHECKSUM', value: (t) => t.sourceChecksum },
    { header: 'MATCH', value: (t) => (t.match ? r.c.green('yes') : r.c.red('NO')) },
    { header: 'ROWS/S', value: (t) => (t.status === 'copied' ? fmtN(t.rowsPerSec) : '-'), align: 'right' },
  ];
  r.table(d.tables, cols);
  if (d.problems.count > 0)
    r.line(
      r.c.yellow(
        `${fmtN(d.problems.count)} value(s) ${d.onTypeError === 'null' ? 'written as NULL' : 'skipped with their rows'}; listed in ${d.problems.reportFile}`,
      ),
    );
  const b = d.backup && 'id' in d.backup ? `backup ${d.backup.id}` : 'no backup';
  r.line(
    `${r.c.green('✔')} copied ${fmtN(d.totals.rows)} rows into ${d.target} in ${formatDuration(d.totals.durationMs)} (${fmtN(d.totals.rowsPerSec)} rows/s); verified; ${b}`,
  );
  r.line(
    r.c.dim(`times taken as ${d.assumedZone}; switch the config with PG_ENABLED=true (docs/postgresql-migration.md)`),
  );
}

/** After a failed verification: the tables that differ, side by side. */
function renderDifferences(out: Reporter, result: CopyResult): void {
  out.line(out.c.red('differences between SQLite and PostgreSQL:'));
  const diffCols: Column<TableResult>[] = [
    { header: 'TABLE', value: (t) => t.table },
    { header: 'SQLITE ROWS', value: (t) => fmtN(t.rows), align: 'right' },
    { header: 'POSTGRESQL ROWS', value: (t) => fmtN(t.targetRows), align: 'right' },
    { header: 'SQLITE CHECKSUM', value: (t) => t.sourceChecksum },
    { header: 'POSTGRESQL CHECKSUM', value: (t) => t.targetChecksum ?? '-' },
  ];
  out.table(
    result.tables.filter((t) => !t.match),
    diffCols,
  );
}

/** `wks db copy`: one copyDatabase() call, with per-table rows/s and ETA on a TTY. */
const copy: Action<Opts> = async (ctx, _args, opts) => {
  if (opts.to !== undefined) {
    // A target that is not a PostgreSQL URL is a usage error, found before any connection or DNS lookup.
    const { urlProblem, PG_SCHEMES } = await import('../../config/index.js');
    const problem = urlProblem(opts.to, PG_SCHEMES, true);
    if (problem)
      throw new UsageError(`--to: ${problem}`, {
        hint: 'give the PostgreSQL target as postgres://user:password@host:5432/database',
      });
  }
  const config = await ctx.config(opts.to ? { 'database.postgresql.url': { value: opts.to, flag: '--to' } } : {});
  const batchRows =
    opts.batchRows !== undefined ? intFlag(opts.batchRows, '--batch-rows', 10_000, { min: 1 }) : undefined;
  const tables = opts.tables
    ? opts.tables
        .split(',')
        .map((t) => t.trim())
        .filter(Boolean)
    : undefined;
  if (opts.truncate && !opts.dryRun) {
    const ok = await ctx.out.confirm(
      `empty the target tables${tables ? ` (${tables.join(', ')})` : ''} in PostgreSQL before copying? Their rows are deleted.`,
      {
        action: 'truncate the target tables',
      },
    );
    if (!ok) throw new UsageError('cancelled: nothing was changed');
  }
  const { copyDatabase, CopyVerificationError } = await import('../../copy/index.js');
  const progress = progressReporter(ctx.out);
  let pending: Promise<void> = Promise.resolve();
  try {
    const res = await copyDatabase(config, {
      from: opts.from,
      tables,
      batchRows,
      dryRun: !!opts.dryRun,
      resume: !!opts.resume,
      truncate: !!opts.truncate,
      backup: opts.backup !== false,
      onTypeError: opts.onTypeError ?? 'fail',
      reportFile: opts.report,
      onEvent: (e) => {
        pending = pending.then(() => progress.onEvent(e)).catch(() => undefined);
      },
    });
    await pending;
    progress.stop();
    // A CI gate: a dry run that finds values the real run would stop at (--on-type-error=fail) exits 3.
    const blocking = res.dryRun && res.problems.count > 0 && (opts.onTypeError ?? 'fail') === 'fail';
    ctx.out.result({ ok: !blocking, ...res }, render);
    if (blocking)
      throw new VerificationError(
        `dry run: ${res.problems.count} value(s) cannot be copied as they are; the copy would stop at the first`,
        {
          hint: 'fix them in SQLite (listed above and in the report file), or choose --on-type-error=skip-row|null, then re-run the dry run',
          details: { problems: res.problems.count },
        },
      );
  } catch (err) {
    await pending;
    progress.stop();
    if (err instanceof CopyVerificationError && !ctx.out.json) renderDifferences(ctx.out, err.result);
    throw err;
  }
};
export default copy;
