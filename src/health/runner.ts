/**
 * The check runner: runs checks concurrently, each under its own timeout, the
 * whole run under an overall deadline, and aggregates the statuses.
 *
 * Contract:
 *  - A check that does not settle within min(check timeout, overall timeout)
 *    reports `unknown: timed out after N ms`; its AbortSignal fires so it can
 *    stop, and the shared resources are force-closed when the run ends, so a
 *    hung socket cannot keep the process alive.
 *  - A check that throws a WksError (an expected, explained failure such as
 *    DependencyError or NotFoundError) reports `critical` with the error's
 *    message and hint; any other exception reports `unknown`.
 *  - The report's status is the worst check status (ok < warn < unknown <
 *    critical); its exitCode is 0 ok, 1 warn, 2 critical or unknown.
 */
import { performance } from 'node:perf_hooks';
import { isWksError } from '../errors.js';
import {
  STATUS_RANK,
  type CheckContext,
  type CheckDefinition,
  type CheckOutcome,
  type CheckResult,
  type HealthReport,
  type HealthStatus,
} from './types.js';

/** Worst status of a list (ok for an empty list). */
export function worstStatus(statuses: Iterable<HealthStatus>): HealthStatus {
  let worst: HealthStatus = 'ok';
  for (const s of statuses) if (STATUS_RANK[s] > STATUS_RANK[worst]) worst = s;
  return worst;
}

/** The documented exit code for a status: 0 ok, 1 warn, 2 critical or unknown (a check that cannot answer is not healthy). */
export function exitCodeFor(status: HealthStatus): 0 | 1 | 2 {
  return status === 'ok' ? 0 : status === 'warn' ? 1 : 2;
}

/** Thrown by a check to say "I cannot answer because something else failed" (reported as unknown, not critical). */
export class SkipCheck extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'SkipCheck';
  }
}

function outcomeOfError(err: unknown): CheckOutcome {
  if (err instanceof SkipCheck) return { status: 'unknown', detail: `skipped: ${err.message}` };
  if (isWksError(err)) return { status: 'critical', detail: err.message, hint: err.hint };
  const e = err instanceof Error ? err : new Error(String(err));
  return { status: 'unknown', detail: `check failed: ${e.message}`, hint: 're-run with -v; if it persists, report it' };
}

export interface RunOptions {
  /** Overall budget in ms: the run settles by then. */
  timeoutMs: number;
  /** Each check's budget in ms (clamped to the overall budget). */
  checkTimeoutMs: number;
  /** Called once every check has settled or timed out, before the report is returned (closes shared resources). */
  cleanup?: () => Promise<void>;
  /** How long cleanup may take before the runner stops waiting (default 250 ms, at most a tenth of timeoutMs; reserved out of the overall budget). */
  cleanupWaitMs?: number;
}

/**
 * Run `defs` concurrently against `base` and aggregate. Never throws for a
 * failing check; the report says what failed.
 */
export async function runChecks(
  defs: readonly CheckDefinition[],
  base: Omit<CheckContext, 'signal' | 'timeoutMs'>,
  opts: RunOptions,
): Promise<HealthReport> {
  const t0 = performance.now();
  // Reserve a slice of the overall budget for closing connections, so checks + cleanup fit inside it.
  const cleanupWait = Math.max(1, Math.min(opts.cleanupWaitMs ?? 250, Math.floor(opts.timeoutMs / 10)));
  const budget = Math.max(1, Math.min(opts.checkTimeoutMs, opts.timeoutMs - cleanupWait));

  const runOne = async (def: CheckDefinition): Promise<CheckResult> => {
    const started = performance.now();
    const ac = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<CheckOutcome>((resolve) => {
      timer = setTimeout(() => {
        ac.abort(new Error(`timed out after ${budget} ms`));
        resolve({
          status: 'unknown',
          detail: `timed out after ${budget} ms`,
          hint: `the ${def.name} check did not finish in time: what it reads (database, Redis, disk) is hung or slow; check it directly, or raise health.check_timeout_ms / health.timeout_ms (--timeout)`,
        });
      }, budget);
    });
    let outcome: CheckOutcome;
    try {
      // Promise.resolve().then(): a check that throws synchronously still becomes an outcome.
      const work = Promise.resolve()
        .then(() => def.run({ ...base, signal: ac.signal, timeoutMs: budget }))
        .catch(outcomeOfError);
      outcome = await Promise.race([work, timedOut]);
    } finally {
      clearTimeout(timer);
      if (!ac.signal.aborted) ac.abort(new Error('check finished'));
    }
    const result: CheckResult = {
      name: def.name,
      status: outcome.status,
      detail: outcome.detail,
      durationMs: Math.round(performance.now() - started),
    };
    if (outcome.hint && outcome.status !== 'ok') result.hint = outcome.hint;
    if (outcome.data) result.data = outcome.data;
    return result;
  };

  let checks: CheckResult[];
  try {
    checks = await Promise.all(defs.map(runOne));
  } finally {
    if (opts.cleanup) {
      // Bounded: a close that hangs must not hold the report back.
      let t: NodeJS.Timeout | undefined;
      await Promise.race([
        opts.cleanup().catch(() => undefined),
        new Promise<void>((resolve) => {
          t = setTimeout(resolve, cleanupWait);
          t.unref();
        }),
      ]);
      clearTimeout(t);
    }
  }
  const status = worstStatus(checks.map((c) => c.status));
  return {
    status,
    ok: status === 'ok',
    exitCode: exitCodeFor(status),
    checkedAt: base.now.toISOString(),
    durationMs: Math.round(performance.now() - t0),
    timeoutMs: opts.timeoutMs,
    checks,
  };
}
