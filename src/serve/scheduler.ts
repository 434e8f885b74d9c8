/**
 * The job scheduler of `wks serve` (croner). Contracts:
 *  - A job never overlaps itself: a tick that finds the previous run still
 *    going is counted as wks_job_runs_total{result="skipped_overlap"}.
 *  - Only the leader runs jobs (`isLeader()`); on followers a tick is a no-op
 *    (not counted) so that each job runs once across instances.
 *  - A job's error is logged and counted (result="failure"), never fatal.
 *  - Times follow the host time zone (TZ), as cron does.
 *  - stop() stops future ticks at once; drain(ms) waits for in-flight runs.
 */
import { Cron } from 'croner';
import type { WksMetrics } from '../metrics/index.js';
import type { Logger } from '../log/index.js';

export interface JobContext {
  now: Date;
  /** Aborted when the daemon is shutting down (jobs may stop early where that is safe). */
  signal: AbortSignal;
}

export interface JobSpec {
  name: string;
  schedule: string;
  enabled: boolean;
  run: (ctx: JobContext) => Promise<unknown>;
  /** Shutdown waits for this job (up to the grace period) instead of abandoning it. Default true. */
  finishOnShutdown?: boolean;
}

export interface JobState {
  name: string;
  schedule: string;
  enabled: boolean;
  running: boolean;
  nextRun: string | null;
  lastRun: string | null;
  lastSuccess: string | null;
  lastError: string | null;
  runs: number;
  failures: number;
}

export type { Logger } from '../log/index.js';

export interface SchedulerOptions {
  metrics?: WksMetrics;
  isLeader?: () => boolean;
  log?: Logger;
}

/** The next `n` run times of a cron expression after `from` (pure; used by --print-schedule and tests). */
export function nextRuns(schedule: string, n: number, from: Date = new Date()): Date[] {
  const c = new Cron(schedule, { paused: true });
  try {
    return c.nextRuns(n, from);
  } finally {
    c.stop();
  }
}

export class Scheduler {
  private readonly crons = new Map<string, Cron>();
  private readonly state = new Map<string, JobState>();
  private readonly inflight = new Map<string, Promise<void>>();
  private readonly abort = new AbortController();
  private stopped = false;

  constructor(
    private readonly jobs: JobSpec[],
    private readonly opts: SchedulerOptions = {},
  ) {
    for (const j of jobs) {
      this.state.set(j.name, {
        name: j.name,
        schedule: j.schedule,
        enabled: j.enabled,
        running: false,
        nextRun: null,
        lastRun: null,
        lastSuccess: null,
        lastError: null,
        runs: 0,
        failures: 0,
      });
    }
  }

  /** Start the cron timers of every enabled job. */
  start(): void {
    for (const j of this.jobs) {
      if (!j.enabled) continue;
      const cron = new Cron(j.schedule, { name: `wks-${j.name}` }, () => {
        if (!this.stopped && (this.opts.isLeader?.() ?? true)) void this.trigger(j.name);
      });
      this.crons.set(j.name, cron);
    }
  }

  /**
   * Run a job now (as a tick would), respecting overlap protection.
   * Resolves when the run ends; never rejects. Returns the result label.
   */
  async trigger(name: string): Promise<'success' | 'failure' | 'skipped_overlap' | 'stopped'> {
    const job = this.jobs.find((j) => j.name === name);
    const st = this.state.get(name);
    if (!job || !st) throw new Error(`unknown job ${name}`);
    const m = this.opts.metrics;
    if (this.stopped) return 'stopped';
    if (this.inflight.has(name)) {
      m?.jobRunsTotal.inc({ job_name: name, result: 'skipped_overlap' });
      this.opts.log?.('warn', `job ${name} is still running; this run is skipped`, { job: name });
      return 'skipped_overlap';
    }
    const startedAt = new Date();
    st.running = true;
    st.lastRun = startedAt.toISOString();
    st.runs++;
    let result: 'success' | 'failure' = 'success';
    this.opts.log?.('debug', `job ${name} started`, { job: name });
    const p = (async () => {
      const end = m?.jobDuration.startTimer({ job_name: name });
      try {
        await job.run({ now: startedAt, signal: this.abort.signal });
        if (st.lastError !== null)
          this.opts.log?.('info', `job ${name} succeeded again`, { job: name, key: `job:${name}` });
        st.lastSuccess = new Date().toISOString();
        st.lastError = null;
        m?.jobLastSuccess.set({ job_name: name }, Date.now() / 1000);
        this.opts.log?.('debug', `job ${name} succeeded`, { job: name, ms: Date.now() - startedAt.getTime() });
      } catch (err) {
        result = 'failure';
        st.failures++;
        st.lastError = (err as Error)?.message ?? String(err);
        // Keyed: the same failure every minute is logged once, then counted (src/log).
        this.opts.log?.('error', `job ${name} failed: ${st.lastError}`, { job: name, key: `job:${name}` });
      } finally {
        end?.();
        m?.jobRunsTotal.inc({ job_name: name, result });
        st.running = false;
      }
    })();
    this.inflight.set(name, p);
    try {
      await p;
    } finally {
      this.inflight.delete(name);
    }
    return result;
  }

  /** Per-job state with the next run time (null when disabled or stopped). */
  status(): JobState[] {
    return this.jobs.map((j) => {
      const st = this.state.get(j.name)!;
      const next = this.crons.get(j.name)?.nextRun() ?? null;
      return { ...st, nextRun: next ? next.toISOString() : null };
    });
  }

  /** Names of jobs running right now. */
  running(): string[] {
    return [...this.inflight.keys()];
  }

  /** Stop all timers; in-flight runs continue (see drain). Idempotent. */
  stop(): void {
    this.stopped = true;
    for (const c of this.crons.values()) c.stop();
  }

  /**
   * Wait for in-flight runs to end, at most `graceMs`. Jobs not marked
   * finishOnShutdown are signalled to abort at once. Resolves true when all
   * ended in time, false when some were still running at the deadline.
   */
  async drain(graceMs: number): Promise<boolean> {
    const waitFor = [...this.inflight.entries()];
    if (waitFor.some(([n]) => this.jobs.find((j) => j.name === n)?.finishOnShutdown === false)) this.abort.abort();
    if (waitFor.length === 0) return true;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), graceMs);
    });
    const all = Promise.all(waitFor.map(([, p]) => p)).then(() => true as const);
    try {
      return await Promise.race([all, deadline]);
    } finally {
      clearTimeout(timer);
      this.abort.abort();
    }
  }
}
