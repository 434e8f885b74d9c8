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
import { statSync } from 'node:fs';
import type { Config } from '../config/index.js';
import { isConnectionLoss, type DatabaseAdapter } from '../db/index.js';
import { parseDuration } from '../util/duration.js';
import { createMetrics, type WksMetrics } from '../metrics/index.js';
import { PlatformCollector } from '../metrics/index.js';
import { instrumentDb } from '../metrics/index.js';
import { sampleMetrics } from '../metrics/index.js';
import { startHttpServer, type RunningServer, type ReadyResult } from './http.js';
import { Scheduler, nextRuns, type JobSpec, type JobState, type Logger } from './scheduler.js';
import { createLease, chooseMechanism, type LeaderLease } from './leader.js';
import { OutageLog } from './outage.js';
import { checkAgents } from './agent-health.js';
import { AlertEngine, buildRules, configuredChannels } from '../alerts/index.js';
import { runAlertJob } from './alert-job.js';

export { installCrashGuard } from './guard.js';

export const JOB_NAMES = [
  'backup',
  'rotate',
  'verify',
  'drill',
  'reap',
  'agent_health',
  'alerts',
  'metrics_sample',
] as const;
export type JobName = (typeof JOB_NAMES)[number];

/** How long a passing /ready dependency check is reused (ms). */
export const READY_CACHE_MS = 5000;
/** How long a failing one is reused (ms): a probe storm during an outage runs the checks at most this often. */
export const READY_FAIL_CACHE_MS = 2000;

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

/** A job's cron expression: the backup job runs on the platform's database.backup.schedule (BACKUP_SCHEDULE). */
function jobSchedule(config: Config, name: JobName): string {
  return name === 'backup' ? config.database.backup.schedule : config.serve.jobs[name].schedule;
}

/** Why a job is off (from the configuration), or null when it will run. */
function disabledReason(config: Config, name: JobName): string | null {
  const j = config.serve.jobs[name];
  if (!j.enabled) return `serve.jobs.${name}.enabled is false`;
  if (name === 'backup' && !config.database.backup.enabled) return 'database.backup.enabled is false (BACKUP_ENABLED)';
  if (name === 'alerts' && !config.monitoring.alerts.enabled) return 'monitoring.alerts.enabled is false';
  return null;
}

/** The schedule of every job with its next `n` runs (for --print-schedule). Pure apart from the clock. */
export function describeSchedule(config: Config, opts: { n?: number; from?: Date } = {}) {
  return {
    leader: { mechanism: chooseMechanism(config), leaseMs: config.serve.leader_lease_ms },
    jobs: JOB_NAMES.map((name) => {
      const reason = disabledReason(config, name);
      const schedule = jobSchedule(config, name);
      return {
        name,
        schedule,
        enabled: reason === null,
        reason,
        next:
          reason === null ? nextRuns(schedule, opts.n ?? 3, opts.from ?? new Date()).map((d) => d.toISOString()) : [],
      };
    }),
  };
}

/**
 * Start the daemon. Throws OperationError (exit 1) when the port is in use,
 * ConfigError (78) for an invalid alert rule. Database/Redis being down is
 * not fatal: probes and wks_up report it and jobs fail (counted) until it returns.
 */
export async function startServe(config: Config, opts: ServeOptions = {}): Promise<ServeHandle> {
  const log: Logger = opts.log ?? (() => undefined);
  const clock = opts.now ?? (() => new Date());
  // How often a dependency that stays down is summarised in the log (serve.log_repeat_interval).
  const repeatMs = parseDuration(config.serve.log_repeat_interval) ?? 60_000;
  const startedAt = new Date();
  const metrics = createMetrics();
  // Backups, health and the reaper are imported here, not at the top: loading the daemon module stays cheap.
  const [backups, health] = await Promise.all([import('../backup/index.js'), import('../health/index.js')]);
  const rules = config.monitoring.alerts.enabled ? buildRules(config) : null;
  const engine = rules ? new AlertEngine(rules) : null;

  // --- database: one long-lived adapter, reopened lazily after a failure.
  let db: DatabaseAdapter | null = null;
  let opening: Promise<DatabaseAdapter | null> | null = null;
  let closed = false;
  // SQLite: the file's identity at open. A restore renames a new file into
  // place; the old handle would keep reading the replaced inode, so reopen.
  let openedIno: number | null = null;
  const replaced = (): boolean => {
    if (openedIno === null) return false;
    try {
      return statSync(config.database.path).ino !== openedIno;
    } catch {
      return true;
    }
  };
  const getDb = async (): Promise<DatabaseAdapter | null> => {
    if (db && config.database.type === 'sqlite' && replaced()) {
      const old = db;
      db = null;
      openedIno = null;
      await old.close().catch(() => undefined);
      collector.resetExecutions();
      log('info', `the database file ${config.database.path} was replaced (restore?); reopening it`);
    }
    if (db || closed) return db;
    if (!opening) {
      opening = (async () => {
        try {
          const { openDatabase } = await import('../db/index.js');
          const raw = await openDatabase(config, { create: false, applicationName: 'wks-serve' });
          if (raw.dialect === 'sqlite') openedIno = statSync(config.database.path).ino;
          db = instrumentDb(raw, metrics);
          return db;
        } finally {
          opening = null;
        }
      })();
    }
    return opening;
  };
  const dbOrThrow = async (): Promise<DatabaseAdapter> => {
    const d = await getDb();
    if (!d) throw new Error('the database is closed');
    return d;
  };
  /** Drop a broken adapter so the next use reopens it. */
  const withDbRetry = async <T>(fn: (d: DatabaseAdapter) => Promise<T>): Promise<T> => {
    const d = await dbOrThrow();
    try {
      return await fn(d);
    } catch (err) {
      if (db === d && d.dialect === 'postgres' && isConnectionLoss(err)) {
        db = null;
        await d.close().catch(() => undefined);
      }
      throw err;
    }
  };

  // --- Redis: one long-lived client for lock counts and pings (reconnects on its own).
  let redis: import('ioredis').Redis | null = null;
  let locksPattern = '';
  if (config.redis.enabled) {
    const { keyspace, createRedisClient } = await import('../redis/index.js');
    const c = config.redis.connection;
    locksPattern = keyspace(config.redis.namespace).patterns.locks;
    redis = await createRedisClient(config, {
      connectTimeout: c.connect_timeout_ms,
      commandTimeout: config.health.check_timeout_ms,
      maxRetriesPerRequest: 1,
      enableOfflineQueue: false,
      retryStrategy: (n) => Math.min(n * 250, 2000),
      connectionName: 'wks-serve',
    });
    // Redis being down is logged on a change of state plus a periodic summary
    // (ioredis retries every 2 s; one line per retry would flood the log).
    const outages = new OutageLog(log, repeatMs);
    redis.on('error', (err) => outages.failure('Redis', err));
    redis.on('ready', () => outages.success('Redis'));
    redis.connect().catch(() => undefined);
  }
  const countLocks = redis
    ? async (): Promise<number> => {
        const { countKeys } = await import('../redis/index.js');
        return countKeys(redis!, locksPattern);
      }
    : null;
  const pingRedis = redis ? async (): Promise<void> => void (await redis!.ping()) : null;

  const collector = new PlatformCollector(metrics, config, {
    db: getDb,
    countLocks,
    now: clock,
  });

  // --- leader lease
  const lease = createLease(config, {
    leaseMs: config.serve.leader_lease_ms,
    instanceId: opts.instanceId,
    log,
    outageSummaryMs: repeatMs,
    onChange: (leader) =>
      metrics.leader.set({ wks_instance: lease.instanceId, mechanism: lease.mechanism }, leader ? 1 : 0),
  });
  metrics.leader.set({ wks_instance: lease.instanceId, mechanism: lease.mechanism }, 0);

  // --- jobs
  let lastBackupFailed = false;
  const jobs: Record<JobName, JobSpec['run']> = {
    backup: async ({ now }) => {
      // A backup that does not verify counts as a failed backup.
      const failed = (err: unknown): never => {
        lastBackupFailed = true;
        metrics.backupFailuresTotal.inc();
        metrics.backupLastFailure.set(Date.now() / 1000);
        throw err;
      };
      const t0 = Date.now();
      const res = await backups.createBackup(config, { type: 'scheduled', now }).catch(failed);
      metrics.backupLastDuration.set((Date.now() - t0) / 1000);
      collector.invalidateCatalog();
      await backups.verifyBackup(config, res.manifest.id, { deep: false }).catch(failed);
      lastBackupFailed = false;
      metrics.backupVerifyLastSuccess.set(Date.now() / 1000);
      collector.invalidateCatalog();
      await collector.collect();
      log('info', `scheduled backup ${res.manifest.id} completed and verified`);
      return res;
    },
    rotate: async ({ now }) => {
      const res = await backups.rotateBackups(config, { dryRun: false, now });
      collector.invalidateCatalog();
      return res;
    },
    verify: async () => {
      // Every backup of the configured database, deep; one failure does not stop the others.
      let entries: Awaited<ReturnType<typeof backups.selectBackups>> = [];
      try {
        entries = await backups.selectBackups(config, { all: true });
      } catch (err) {
        if ((err as { code?: string }).code !== 'not_found') throw err;
      }
      const failed: string[] = [];
      for (const e of entries) {
        const rec = await backups
          .verifyEntry(config, e, { deep: true })
          .catch((err: Error) => ({ ok: false, failed: err.message }));
        if (!rec.ok) failed.push(`${e.manifest.id} (${rec.failed})`);
      }
      collector.invalidateCatalog();
      if (failed.length)
        throw new Error(`verification failed for ${failed.length} of ${entries.length} backups: ${failed.join(', ')}`);
      if (entries.length) metrics.backupVerifyLastSuccess.set(Date.now() / 1000);
      return { verified: entries.length };
    },
    drill: async () => {
      // A restore drill of the newest backup into a scratch target; recorded in the catalog and the database.
      const rec = await backups.runDrill(config, { log });
      collector.invalidateCatalog();
      await collector.collect();
      if (!rec.ok) throw backups.drillFailure(rec);
      log(
        'info',
        `restore drill of ${rec.id} passed: measured RTO ${rec.duration_ms} ms (target ${rec.rto_target_ms} ms)`,
      );
      return rec;
    },
    reap: async ({ now }) => {
      const { reapStale } = await import('../workflow/index.js');
      return reapStale(config, { dryRun: false, now });
    },
    agent_health: async ({ now }) => withDbRetry((d) => checkAgents(config, d, now)),
    alerts: async ({ now }) => {
      if (!engine) return;
      return runAlertJob(
        {
          config,
          engine,
          metrics,
          log,
          instance: lease.instanceId,
          db: getDb,
          signals: {
            executions: collector,
            pingRedis,
            lastBackupFailed: () => lastBackupFailed,
            watchingSince: startedAt,
          },
        },
        now,
      );
    },
    metrics_sample: async ({ now }) => {
      await collector.collect();
      const retentionMs = parseDuration(config.serve.metrics_sample_retention) ?? 7 * 86_400_000;
      return withDbRetry((d) => sampleMetrics(metrics, d, { now, retentionMs }));
    },
  };
  const specs: JobSpec[] = JOB_NAMES.map((name) => {
    const reason = disabledReason(config, name);
    if (reason && config.serve.jobs[name].enabled) log('warn', `job ${name} is off: ${reason}`);
    return {
      name,
      schedule: jobSchedule(config, name),
      enabled: reason === null,
      finishOnShutdown: true,
      run: (ctx) => jobs[name]({ ...ctx, now: opts.now ? clock() : ctx.now }),
    };
  });
  const scheduler = new Scheduler(specs, { metrics, isLeader: () => lease.isLeader(), log });

  let stopping = false;
  // The dependency checks behind /ready (config, database, redis; the health
  // library's readiness set). A passing result is reused for READY_CACHE_MS, a
  // failing one for READY_FAIL_CACHE_MS (so an outage plus a probe storm cannot
  // turn into back-to-back checks), and concurrent probes share one run.
  type Check = { name: string; status: string; detail?: unknown };
  let readyCache: { checks: Check[]; at: number; ttl: number } | null = null;
  let readyRun: Promise<Check[]> | null = null;
  const dependencyChecks = async (): Promise<Check[]> => {
    if (readyCache && Date.now() - readyCache.at < readyCache.ttl) return readyCache.checks;
    if (!readyRun) {
      readyRun = (async () => {
        const out: Check[] = [];
        let d: DatabaseAdapter | null = null;
        try {
          d = await getDb();
        } catch {
          /* the readiness database check reports why */
        }
        try {
          const report = await health.runReadinessChecks(config, {
            db: d ?? undefined,
            timeoutMs: config.health.timeout_ms,
          });
          for (const c of report.checks)
            if (c.name !== 'config') out.push({ name: c.name, status: c.status, detail: c.detail });
        } catch (err) {
          out.push({ name: 'readiness', status: 'critical', detail: (err as Error).message });
        }
        readyCache = { checks: out, at: Date.now(), ttl: out.every(passing) ? READY_CACHE_MS : READY_FAIL_CACHE_MS };
        return out;
      })().finally(() => {
        readyRun = null;
      });
    }
    return readyRun;
  };
  const passing = (c: Check): boolean =>
    c.status === 'ok' || c.status === 'warn' || (c.name === 'redis' && c.status === 'unknown' && !config.redis.enabled);
  const readiness = async (): Promise<ReadyResult> => {
    const checks: Check[] = [{ name: 'config', status: 'ok', detail: 'validated at start' }];
    if (stopping) checks.push({ name: 'shutdown', status: 'critical', detail: 'shutting down' });
    checks.push(...(await dependencyChecks()));
    const ready = checks.every(passing);
    const checkedAt = readyCache ? new Date(readyCache.at).toISOString() : new Date().toISOString();
    const jobsState: JobState[] = scheduler.status();
    return {
      ready,
      checked_at: checkedAt,
      checks,
      leader: {
        role: lease.role(),
        mechanism: lease.mechanism,
        instance: lease.instanceId,
        leader: lease.isLeader(),
        holder: lease.holder(),
      },
      jobs: jobsState.map((j) => ({
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

  let server: RunningServer;
  try {
    server = await startHttpServer(config.monitoring.prometheus.host, config.monitoring.prometheus.port, {
      metrics,
      metricsPath: config.monitoring.prometheus.path,
      metricsEnabled: config.monitoring.prometheus.enabled,
      bearerToken: config.monitoring.prometheus.bearer_token,
      cacheMs: config.monitoring.prometheus.scrape_cache_ms,
      beforeScrape: () => collector.collect(),
      liveness: async () => ({
        status: stopping ? 'stopping' : 'ok',
        startedAt: startedAt.toISOString(),
        instance: lease.instanceId,
      }),
      readiness,
      onError: (err) => {
        metrics.unexpectedErrorsTotal.inc({ source: 'http' });
        log('error', `unexpected error while answering a request (kept running): ${(err as Error)?.stack ?? err}`);
      },
    });
  } catch (err) {
    redis?.disconnect();
    throw err;
  }
  await lease.start();
  scheduler.start();
  const host = server.host;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${server.port}`;
  log(
    'info',
    `serving ${url}${config.monitoring.prometheus.path}, /health, /ready (instance ${lease.instanceId}, ${lease.mechanism} lease)`,
  );

  let stopped: Promise<{ clean: boolean; abandoned: string[] }> | null = null;
  return {
    host,
    port: server.port,
    url,
    metrics,
    scheduler,
    lease,
    alerts: engine,
    readiness,
    stop(stopOpts = {}) {
      if (stopped) return stopped;
      stopped = (async () => {
        stopping = true;
        scheduler.stop();
        const running = scheduler.running();
        if (running.length)
          log(
            'info',
            `waiting for ${running.join(', ')} to finish (up to ${stopOpts.graceMs ?? config.serve.shutdown_grace_ms} ms)`,
          );
        const clean = await scheduler.drain(stopOpts.graceMs ?? config.serve.shutdown_grace_ms);
        const abandoned = clean ? [] : scheduler.running();
        await lease.stop();
        await server.close(2000);
        closed = true;
        const d = db;
        db = null;
        if (clean) await d?.close().catch(() => undefined);
        if (redis) await redis.quit().catch(() => redis!.disconnect());
        return { clean, abandoned };
      })();
      return stopped;
    },
  };
}
