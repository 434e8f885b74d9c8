/**
 * What `/ready` answers: the dependency checks (config, database, redis; the health library's
 * readiness set), the leader role, the jobs and the alerts. A passing result is reused for
 * READY_CACHE_MS, a failing one for READY_FAIL_CACHE_MS (so an outage plus a probe storm cannot turn
 * into back-to-back checks), and concurrent probes share one run.
 */
import type { AlertEngine } from '../alerts/index.js';
import { configuredChannels } from '../alerts/index.js';
import type { Config } from '../config/index.js';
import type { DatabaseAdapter } from '../db/index.js';
import type { ReadyResult } from './http.js';
import type { LeaderLease } from './leader.js';
import type { Scheduler } from './scheduler.js';

/** How long a passing /ready dependency check is reused (ms). */
export const READY_CACHE_MS = 5000;
/** How long a failing one is reused (ms): a probe storm during an outage runs the checks at most this often. */
export const READY_FAIL_CACHE_MS = 2000;

type Check = { name: string; status: string; detail?: unknown };

export interface ReadinessDeps {
  config: Config;
  getDb: () => Promise<DatabaseAdapter | null>;
  lease: LeaderLease;
  scheduler: Scheduler;
  engine: AlertEngine | null;
  stopping: () => boolean;
}

/** The `/ready` handler (see the module comment). */
export function createReadiness(d: ReadinessDeps): () => Promise<ReadyResult> {
  const { config, lease, scheduler, engine } = d;
  const passing = (c: Check): boolean =>
    c.status === 'ok' || c.status === 'warn' || (c.name === 'redis' && c.status === 'unknown' && !config.redis.enabled);
  let cache: { checks: Check[]; at: number; ttl: number } | null = null;
  let inFlight: Promise<Check[]> | null = null;

  const runChecks = async (): Promise<Check[]> => {
    const out: Check[] = [];
    let db: DatabaseAdapter | null = null;
    try {
      db = await d.getDb();
    } catch {
      /* the readiness database check reports why */
    }
    try {
      const { runReadinessChecks } = await import('../health/index.js');
      const report = await runReadinessChecks(config, { db: db ?? undefined, timeoutMs: config.health.timeout_ms });
      for (const c of report.checks)
        if (c.name !== 'config') out.push({ name: c.name, status: c.status, detail: c.detail });
    } catch (err) {
      out.push({ name: 'readiness', status: 'critical', detail: (err as Error).message });
    }
    cache = { checks: out, at: Date.now(), ttl: out.every(passing) ? READY_CACHE_MS : READY_FAIL_CACHE_MS };
    return out;
  };
  const dependencyChecks = (): Promise<Check[]> => {
    if (cache && Date.now() - cache.at < cache.ttl) return Promise.resolve(cache.checks);
    inFlight ??= runChecks().finally(() => {
      inFlight = null;
    });
    return inFlight;
  };

  return async (): Promise<ReadyResult> => {
    const checks: Check[] = [{ name: 'config', status: 'ok', detail: 'validated at start' }];
    if (d.stopping()) checks.push({ name: 'shutdown', status: 'critical', detail: 'shutting down' });
    checks.push(...(await dependencyChecks()));
    return {
      ready: checks.every(passing),
      checked_at: cache ? new Date(cache.at).toISOString() : new Date().toISOString(),
      checks,
      leader: {
        role: lease.role(),
        mechanism: lease.mechanism,
        instance: lease.instanceId,
        leader: lease.isLeader(),
        holder: lease.holder(),
      },
      jobs: scheduler.status().map((j) => ({
        name: j.name,
        enabled: j.enabled,
        schedule: j.schedule,
        running: j.running,
        nextRun: j.nextRun,
        lastSuccess: j.lastSuccess,
        lastError: j.lastError,
      })),
      alerts: engine ? { channels: configuredChannels(config), rules: engine.snapshot() } : null,
    };
  };
}
