/**
 * `wks health` as a library: one function that answers "is the data layer
 * healthy, and are we protected?", reused by the command and by `wks serve`
 * for /health and /ready.
 */
import type { Config } from '../config/index.js';
import type { DatabaseAdapter } from '../db/index.js';
import { UsageError } from '../errors.js';
import { nearest } from '../util/suggest.js';
import { CHECK_NAMES, READINESS_CHECKS, REGISTRY } from './registry.js';
import { HealthResources } from './resources.js';
import { exitCodeFor, runChecks } from './runner.js';
import type { CheckDefinition, CheckResult, HealthReport } from './types.js';

export interface HealthOptions {
  /** Names of the checks to run (default: all, in CHECK_NAMES order). */
  checks?: readonly string[];
  /** Thorough variants (SQLite integrity_check instead of quick_check). Default false. */
  deep?: boolean;
  /** Overall budget in ms. Default config.health.timeout_ms. */
  timeoutMs?: number;
  /** Each check's budget in ms. Default config.health.check_timeout_ms (clamped to timeoutMs). */
  checkTimeoutMs?: number;
  /** The time ages are measured against. Default: new Date(). */
  now?: Date;
  /** A long-lived database handle to use (e.g. `wks serve`'s pool, so pool usage is meaningful). Not closed. */
  db?: DatabaseAdapter;
  /** Loader warnings to report in the `config` check. */
  configWarnings?: readonly string[];
  /** The config file that was read, for the `config` check's detail. */
  configFile?: string | null;
}

/**
 * Validate and normalise a list of check names (deduplicated, in report order).
 * @throws UsageError (exit 2) naming an unknown check, with a suggestion
 */
export function selectChecks(names: readonly string[] | undefined): string[] {
  if (!names || names.length === 0) return [...CHECK_NAMES];
  const wanted = new Set<string>();
  for (const raw of names) {
    const n = raw.trim().toLowerCase();
    if (!n) continue;
    if (!REGISTRY[n]) {
      const guess = nearest(n, CHECK_NAMES);
      throw new UsageError(`unknown check "${raw}"`, {
        hint: `${guess ? `did you mean ${guess}? ` : ''}checks: ${CHECK_NAMES.join(', ')}`,
      });
    }
    wanted.add(n);
  }
  if (wanted.size === 0) throw new UsageError('no check selected', { hint: `checks: ${CHECK_NAMES.join(', ')}` });
  return CHECK_NAMES.filter((n) => wanted.has(n));
}

/**
 * Run the health checks concurrently and aggregate them. Never throws for a
 * failing dependency (the report says what failed); throws UsageError only for
 * an unknown check name. Each check runs under min(checkTimeoutMs, timeoutMs);
 * the whole call settles within timeoutMs (plus the synchronous part of a
 * SQLite call, whose busy timeout is clamped to the check budget). Every
 * connection opened here is closed before it returns.
 */
export async function runHealthChecks(config: Config, opts: HealthOptions = {}): Promise<HealthReport> {
  const names = selectChecks(opts.checks);
  const timeoutMs = opts.timeoutMs ?? config.health.timeout_ms;
  const checkTimeoutMs = Math.min(opts.checkTimeoutMs ?? config.health.check_timeout_ms, timeoutMs);
  const defs: CheckDefinition[] = await Promise.all(names.map((n) => REGISTRY[n]!.load()));
  const resources = new HealthResources(config, checkTimeoutMs, opts.db);
  return runChecks(
    defs,
    {
      config,
      now: opts.now ?? new Date(),
      deep: !!opts.deep,
      resources,
      configWarnings: opts.configWarnings ?? [],
      configFile: opts.configFile,
    },
    { timeoutMs, checkTimeoutMs, cleanup: () => resources.close() },
  );
}

/** The readiness subset (config, database, redis): cheap enough for a probe every few seconds. */
export function runReadinessChecks(config: Config, opts: Omit<HealthOptions, 'checks'> = {}): Promise<HealthReport> {
  return runHealthChecks(config, { ...opts, checks: READINESS_CHECKS });
}

/**
 * The report for a configuration that failed to load: `config` is critical
 * with the loader's message; every other selected check is unknown (skipped),
 * since thresholds and connections all come from configuration.
 */
export function invalidConfigReport(
  err: { message: string; hint?: string; issues?: unknown[] },
  checks?: readonly string[],
  now = new Date(),
): HealthReport {
  const names = selectChecks(checks);
  const results: CheckResult[] = names.map((name) =>
    name === 'config'
      ? {
          name,
          status: 'critical',
          detail: err.message,
          hint: err.hint,
          durationMs: 0,
          data: { issues: err.issues ?? [] },
        }
      : { name, status: 'unknown', detail: 'skipped: configuration invalid', durationMs: 0 },
  );
  if (!names.includes('config')) {
    results.unshift({
      name: 'config',
      status: 'critical',
      detail: err.message,
      hint: err.hint,
      durationMs: 0,
      data: { issues: err.issues ?? [] },
    });
  }
  return {
    status: 'critical',
    ok: false,
    exitCode: exitCodeFor('critical'),
    checkedAt: now.toISOString(),
    durationMs: 0,
    timeoutMs: 0,
    checks: results,
  };
}
