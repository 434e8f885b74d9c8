/**
 * Logging for a dependency that keeps failing (a database or Redis that is
 * down): one line when it starts failing, one summary line every
 * `summaryMs` while the outage lasts (how many failures, the last error),
 * and one line when it answers again. Never one line per failed attempt, so
 * a poll every second during a 60 s outage writes 2 or 3 lines, not 60.
 */
import type { Logger } from './scheduler.js';

/** Default interval between "still failing" summaries. */
export const OUTAGE_SUMMARY_MS = 60_000;

interface Outage {
  since: number;
  failures: number;
  /** Failures since the last line written. */
  sinceLine: number;
  lastLine: number;
  lastError: string;
}

export class OutageLog {
  private readonly outages = new Map<string, Outage>();

  constructor(
    private readonly log: Logger,
    private readonly summaryMs = OUTAGE_SUMMARY_MS,
    private readonly clock: () => number = Date.now,
  ) {}

  /** True while `what` is failing. */
  failing(what: string): boolean {
    return this.outages.has(what);
  }

  /** Record a failed attempt to reach `what`. Logs on the first failure and then once per summary interval. */
  failure(what: string, err: unknown): void {
    const now = this.clock();
    const message = (err as Error)?.message ?? String(err);
    const o = this.outages.get(what);
    if (!o) {
      this.outages.set(what, { since: now, failures: 1, sinceLine: 0, lastLine: now, lastError: message });
      this.log(
        'warn',
        `${what} is unavailable: ${message} (retrying; a summary follows every ${fmt(this.summaryMs)})`,
        {
          dependency: what,
        },
      );
      return;
    }
    o.failures++;
    o.sinceLine++;
    o.lastError = message;
    if (now - o.lastLine >= this.summaryMs) {
      this.log(
        'warn',
        `${what} still unavailable after ${fmt(now - o.since)}: ${o.sinceLine} failed attempts in the last ${fmt(now - o.lastLine)}; last error: ${message}`,
        { dependency: what, failures: o.failures },
      );
      o.lastLine = now;
      o.sinceLine = 0;
    }
  }

  /** Record a successful attempt; logs the recovery when `what` was failing. */
  success(what: string): void {
    const o = this.outages.get(what);
    if (!o) return;
    this.outages.delete(what);
    this.log(
      'info',
      `${what} is available again after ${fmt(this.clock() - o.since)} (${o.failures} failed attempts)`,
      {
        dependency: what,
        failures: o.failures,
      },
    );
  }
}

function fmt(ms: number): string {
  return ms < 1000 ? `${ms} ms` : ms < 120_000 ? `${Math.round(ms / 1000)} s` : `${Math.round(ms / 60_000)} min`;
}
