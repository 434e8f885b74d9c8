/**
 * The shapes of `wks health`: check definitions, their outcomes and the
 * report. The report is a documented, stable JSON contract (docs/health.md):
 * fields may be added, never renamed or removed.
 */
import type { Config } from '../config/index.js';
import type { HealthResources } from './resources.js';

/** ok < warn < unknown < critical. `unknown` means the check could not answer (timed out, skipped, crashed). */
export type HealthStatus = 'ok' | 'warn' | 'critical' | 'unknown';

export const STATUS_RANK: Readonly<Record<HealthStatus, number>> = { ok: 0, warn: 1, unknown: 2, critical: 3 };

/** What a check returns. */
export interface CheckOutcome {
  status: HealthStatus;
  /** One line for people: what was measured and, when not ok, what is wrong. */
  detail: string;
  /** What to do next when not ok (shown as `Try:` and in --json). */
  hint?: string;
  /** Machine-readable measurements (ages in ms, counts, bytes). */
  data?: Record<string, unknown>;
}

/** One row of the report. */
export interface CheckResult extends CheckOutcome {
  name: string;
  /** Wall time of the check, including a timeout. */
  durationMs: number;
  hint?: string;
}

export interface HealthReport {
  /** The worst check status (ok < warn < unknown < critical). */
  status: HealthStatus;
  /** True only when status is ok. */
  ok: boolean;
  /** Process exit code `wks health` uses for this report: 0 ok, 1 warn, 2 critical or unknown. */
  exitCode: 0 | 1 | 2;
  /** ISO time the run started (the `now` every check used). */
  checkedAt: string;
  durationMs: number;
  /** The overall budget the run was held to. */
  timeoutMs: number;
  checks: CheckResult[];
}

/** What every check receives. */
export interface CheckContext {
  config: Config;
  /** Fixed time of the run: ages and staleness are measured against it. */
  now: Date;
  /** `--deep`: slower, thorough variants (full SQLite integrity_check). */
  deep: boolean;
  /** This check's budget in ms (already clamped to the overall deadline). */
  timeoutMs: number;
  /** Aborted when this check times out or the run ends; long work should stop. */
  signal: AbortSignal;
  /** Shared, lazily opened connections (one database handle per run), closed by the runner. */
  resources: HealthResources;
  /** Loader warnings, reported by the `config` check. */
  configWarnings: readonly string[];
  /** The config file that was read (null: defaults and environment). */
  configFile?: string | null;
}

export interface CheckDefinition {
  name: string;
  /** One line for `wks health --help` and docs. */
  description: string;
  run(ctx: CheckContext): Promise<CheckOutcome>;
}
