/**
 * `wks serve` as a library: startServe(config) starts the HTTP server, the
 * scrape-time collectors, the leader lease and the scheduler, and returns a
 * handle whose stop() shuts everything down in order:
 *   1. stop scheduling (no new job runs) and mark not-ready (/ready -> 503);
 *   2. wait for in-flight jobs, at most serve.shutdown_grace_ms (a running
 *      backup is allowed to finish; it is never cut off midway by wks);
 *   3. release the leader lease, close the HTTP server, the database and
 *      Redis connections, so the process can exit on its own.
 * Signal handling lives in the command (src/commands/serve/serve.ts).
 */
import type { Config } from '../config/index.js';
import { parseDuration } from '../util/duration.js';
import { createMetrics, PlatformCollector, type WksMetrics } from '../metrics/index.js';
import { startHttpServer, type RunningServer, type ReadyResult } from './http.js';
import { Scheduler, type Logger } from './scheduler.js';
import { createLease, type LeaderLease } from './leader.js';
import { AlertEngine, buildRules } from '../alerts/index.js';
import { DaemonDatabase, openDaemonRedis, type DaemonRedis } from './resources.js';
import { buildJobs, jobSpecs } from './jobs.js';
import { createReadiness } from './readiness.js';

export { installCrashGuard } from './guard.js';
export { JOB_NAMES, describeSchedule, type JobName } from './jobs.js';
export { READY_CACHE_MS, READY_FAIL_CACHE_MS } from './readiness.js';

export interface ServeOptions {
  log?: Logger;
  /** Clock for jobs (tests). Default: the real time. */
  now?: () => Date;
  instanceId?: string;
}

export interface ServeHandle {
  readonly host: string;
  readonly port: number;
  readonly url: string;
  readonly metrics: WksMetrics;
  readonly scheduler: Scheduler;
  readonly lease: LeaderLease;
  readonly alerts: AlertEngine | null;
  readiness(): Promise<ReadyResult>;
  /** Graceful stop (see module comment). Resolves { clean: false } when a job outlived the grace period. */
  stop(opts?: { graceMs?: number }): Promise<{ clean: boolean; abandoned: string[] }>;
}

/**
 * Start the daemon. Throws OperationError (exit 1) when the port is in use,
 * ConfigError (78) for an invalid alert rule. Database/Redis being down is
 * not fatal: probes and wks_up report it and jobs fail (counted) until it returns.
 */
export async function startServe(config: Config, opts: ServeOptions = {}): Promise<ServeHandle> {
  const log: Logger = opts.log ?? (() => undefined);
  // How often a dependency that stays down is summarised in the log (serve.log_repeat_interval).
  const repeatMs = parseDuration(config.serve.log_repeat_interval) ?? 60_000;
  const startedAt = new Date();
  const metrics = createMetrics();
  const rules = config.monitoring.alerts.enabled ? buildRules(config) : null;
  const engine = rules ? new AlertEngine(rules) : null;

  // resources
  const db = new DaemonDatabase(config, metrics, log, () => collector.resetExecutions());
  const redis = await openDaemonRedis(config, log, repeatMs);
  const collector = new PlatformCollector(metrics, config, {
    db: db.get,
    countLocks: redis.countLocks,
    now: opts.now ?? (() => new Date()),
    waitForBucket: true,
  });
  const lease = createLease(config, {
    leaseMs: config.serve.leader_lease_ms,
    instanceId: opts.instanceId,
    log,
    outageSummaryMs: repeatMs,
    onChange: (leader) =>
      metrics.leader.set({ wks_instance: lease.instanceId, mechanism: lease.mechanism }, leader ? 1 : 0),
  });
  metrics.leader.set({ wks_instance: lease.instanceId, mechanism: lease.mechanism }, 0);

  // jobs
  const deps = { config, metrics, collector, db, redis, engine, log, instanceId: () => lease.instanceId, startedAt };
  const jobs = await buildJobs(deps);
  const scheduler = new Scheduler(jobSpecs(config, jobs, log, opts.now), {
    metrics,
    isLeader: () => lease.isLeader(),
    log,
  });

  // HTTP
  let stopping = false;
  const readiness = createReadiness({ config, getDb: db.get, lease, scheduler, engine, stopping: () => stopping });
  const server = await startHttp(
    config,
    { metrics, collector, readiness, log, startedAt, lease, redis },
    () => stopping,
  );

  // lifecycle
  await lease.start();
  scheduler.start();
  const host = server.host;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${server.port}`;
  log(
    'info',
    `serving ${url}${config.monitoring.prometheus.path}, /health, /ready (instance ${lease.instanceId}, ${lease.mechanism} lease)`,
  );
  let stopped: Promise<{ clean: boolean; abandoned: string[] }> | null = null;
  const stop = (stopOpts: { graceMs?: number } = {}) => {
    stopping = true;
    stopped ??= shutdown({ config, scheduler, lease, server, db, redis, log }, stopOpts.graceMs);
    return stopped;
  };
  return { host, port: server.port, url, metrics, scheduler, lease, alerts: engine, readiness, stop };
}

/** The HTTP server for /metrics, /health and /ready; Redis is disconnected when it cannot start. */
async function startHttp(
  config: Config,
  d: {
    metrics: WksMetrics;
    collector: PlatformCollector;
    readiness: () => Promise<ReadyResult>;
    log: Logger;
    startedAt: Date;
    lease: LeaderLease;
    redis: DaemonRedis;
  },
  stopping: () => boolean,
): Promise<RunningServer> {
  try {
    return await startHttpServer(config.monitoring.prometheus.host, config.monitoring.prometheus.port, {
      metrics: d.metrics,
      metricsPath: config.monitoring.prometheus.path,
      metricsEnabled: config.monitoring.prometheus.enabled,
      bearerToken: config.monitoring.prometheus.bearer_token,
      cacheMs: config.monitoring.prometheus.scrape_cache_ms,
      beforeScrape: () => d.collector.collect(),
      liveness: async () => ({
        status: stopping() ? 'stopping' : 'ok',
        startedAt: d.startedAt.toISOString(),
        instance: d.lease.instanceId,
      }),
      readiness: d.readiness,
      onError: (err) => {
        d.metrics.unexpectedErrorsTotal.inc({ source: 'http' });
        d.log('error', `unexpected error while answering a request (kept running): ${(err as Error)?.stack ?? err}`);
      },
    });
  } catch (err) {
    d.redis.disconnect();
    throw err;
  }
}

/** The graceful stop of the module comment: no new runs, in-flight jobs up to the grace period, then close. */
async function shutdown(
  d: {
    config: Config;
    scheduler: Scheduler;
    lease: LeaderLease;
    server: RunningServer;
    db: DaemonDatabase;
    redis: DaemonRedis;
    log: Logger;
  },
  graceMs = d.config.serve.shutdown_grace_ms,
): Promise<{ clean: boolean; abandoned: string[] }> {
  d.scheduler.stop();
  const running = d.scheduler.running();
  if (running.length) d.log('info', `waiting for ${running.join(', ')} to finish (up to ${graceMs} ms)`);
  const clean = await d.scheduler.drain(graceMs);
  const abandoned = clean ? [] : d.scheduler.running();
  await d.lease.stop();
  await d.server.close(2000);
  await d.db.close(!clean);
  await d.redis.close();
  return { clean, abandoned };
}
