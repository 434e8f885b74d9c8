import { durationFlag, FLAG_LIMITS } from '../flags.js';
import type { Action } from '../context.js';
import { ConfigError, WksError } from '../../errors.js';
import { formatDuration } from '../../util/duration.js';
import type { HealthReport, HealthStatus } from '../../health/index.js';
import type { Reporter } from '../../ui/index.js';

interface Opts {
  check?: string;
  deep?: boolean;
  timeout?: string;
}

const ICON: Record<HealthStatus, string> = { ok: '✔', warn: '!', critical: '✖', unknown: '?' };

function paint(r: Reporter, status: HealthStatus, text: string): string {
  switch (status) {
    case 'ok':
      return r.c.green(text);
    case 'warn':
      return r.c.yellow(text);
    case 'critical':
      return r.c.red(text);
    default:
      return r.c.magenta(text);
  }
}

function render(report: HealthReport, r: Reporter): void {
  const icons = r.stdoutIsTTY;
  r.table(report.checks, [
    {
      header: 'STATUS',
      value: (c) => (icons ? `${ICON[c.status]} ${c.status}` : c.status),
      style: (t, c) => paint(r, c.status, t),
    },
    { header: 'CHECK', value: 'name' },
    { header: 'TIME', value: (c) => `${c.durationMs}ms`, align: 'right' },
    { header: 'DETAIL', value: 'detail' },
  ]);
  const counts = (['critical', 'unknown', 'warn', 'ok'] as const)
    .map((s) => [s, report.checks.filter((c) => c.status === s).length] as const)
    .filter(([, n]) => n > 0)
    .map(([s, n]) => `${n} ${s}`)
    .join(', ');
  r.line();
  r.line(`${r.c.bold('status:')} ${paint(r, report.status, report.status)} (${counts}) in ${report.durationMs} ms`);
}

/**
 * `wks health [--check a,b] [--deep] [--timeout D]`: run the checks, print the
 * table (or the JSON report), and exit 0 ok, 1 warn, 2 critical/unknown. A
 * configuration that does not load is reported as the `config` check being
 * critical (exit 2), so probes see one consistent contract.
 */
const health: Action<Opts> = async (ctx, _args, opts) => {
  const checks = opts.check
    ?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const timeoutMs = durationFlag(opts.timeout, '--timeout', { min: 1, max: FLAG_LIMITS.timeoutMs });
  const lib = await import('../../health/index.js');
  // Validate names before anything slow, so a typo is a usage error (exit 2) with a suggestion.
  lib.selectChecks(checks);

  let report: HealthReport;
  try {
    const loaded = await ctx.loadConfig(
      timeoutMs !== undefined ? { 'health.timeout_ms': { value: timeoutMs, flag: '--timeout' } } : {},
    );
    report = await lib.runHealthChecks(loaded.config, {
      checks,
      deep: opts.deep,
      configWarnings: loaded.warnings,
      configFile: loaded.file,
    });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    report = lib.invalidConfigReport(err, checks);
  }

  ctx.out.result(report, render);
  if (report.exitCode !== 0) {
    const bad = report.checks.filter((c) => c.status !== 'ok');
    const first = bad.find((c) => c.status === report.status) ?? bad[0];
    const names = bad.map((c) => `${c.name} ${c.status}`).join(', ');
    // The exit code is the contract; the error line repeats the verdict on stderr for logs.
    throw new WksError(`health is ${report.status}: ${names}`, report.exitCode, {
      hint: first?.hint ?? `run \`wks health --check ${first?.name ?? ''}\` -v for details`,
    });
  }
  if (!ctx.out.json) ctx.out.debug(`all ${report.checks.length} checks ok in ${formatDuration(report.durationMs)}`);
};
export default health;
