/**
 * The daemon's scheduled jobs: their names, schedules, why one is off, and what each runs. The jobs
 * that protect data (backup, rotate, verify, drill) need the database and the backup repository
 * only; none of them waits on Redis.
 */
import type { Config } from '../config/index.js';
import type { AlertEngine } from '../alerts/index.js';
import { sampleMetrics, type PlatformCollector, type WksMetrics } from '../metrics/index.js';
import { parseDuration } from '../util/duration.js';
import { checkAgents } from './agent-health.js';
import { runAlertJob } from './alert-job.js';
import type { DaemonDatabase, DaemonRedis } from './resources.js';
import { nextRuns, type JobSpec, type Logger } from './scheduler.js';
import { chooseMechanism } from './leader.js';

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

/** A job's cron expression: the backup job runs on the platform's database.backup.schedule (BACKUP_SCHEDULE). */
export function jobSchedule(config: Config, name: JobName): string {
  return name === 'backup' ? config.database.backup.schedule : config.serve.jobs[name].schedule;
}

/** Why a job is off (from the configuration), or null when it will run. */
export function disabledReason(config: Config, name: JobName): string | null {
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

/** What the jobs work with. */
export interface JobDeps {
  config: Config;
  metrics: WksMetrics;
  collector: PlatformCollector;
  db: DaemonDatabase;
  redis: DaemonRedis;
  engine: AlertEngine | null;
  log: Logger;
  instanceId: () => string;
  startedAt: Date;
}

type Run = JobSpec['run'];

/** The backup jobs: create + verify, rotate, deep verify of every backup, and the restore drill. */
async function backupJobs(
  d: JobDeps,
  state: { lastBackupFailed: boolean },
): Promise<Record<'backup' | 'rotate' | 'verify' | 'drill', Run>> {
  const { config, metrics, collector, log } = d;
  // Imported here, not at the top: loading the daemon module stays cheap.
  const backups = await import('../backup/index.js');
  return {
    backup: async ({ now }) => {
      // A backup that does not verify counts as a failed backup.
      const failed = (err: unknown): never => {
        state.lastBackupFailed = true;
        metrics.backupFailuresTotal.inc();
        metrics.backupLastFailure.set(Date.now() / 1000);
        throw err;
      };
      const t0 = Date.now();
      const res = await backups.createBackup(config, { type: 'scheduled', now }).catch(failed);
      metrics.backupLastDuration.set((Date.now() - t0) / 1000);
      collector.invalidateCatalog();
      await backups.verifyBackup(config, res.manifest.id, { deep: false }).catch(failed);
      state.lastBackupFailed = false;
      metrics.backupVerifyLastSuccess.set(Date.now() / 1000);
      await collector.refreshCatalog();
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
      // A backup whose manifest is broken (unreadable, a field missing) is a failed backup too.
      // Nobody waits on it: a slow bucket's listing gets the full retry budget (as the other serve readers).
      const catalog = await backups.sourceCatalog(config, { waitForBucket: true });
      const entries = catalog.missing ? [] : await backups.selectBackups(config, { all: true }, { catalog });
      const failed = catalog.problems.map((p) => `${p.id} (manifest: ${p.problem})`);
      for (const e of entries) {
        const rec = await backups
          .verifyEntry(config, e, { deep: true })
          .catch((err: Error) => ({ ok: false, failed: err.message }));
        if (!rec.ok) failed.push(`${e.manifest.id} (${rec.failed})`);
      }
      collector.invalidateCatalog();
      const total = entries.length + catalog.problems.length;
      if (failed.length)
        throw new Error(`verification failed for ${failed.length} of ${total} backups: ${failed.join(', ')}`);
      if (entries.length) metrics.backupVerifyLastSuccess.set(Date.now() / 1000);
      return { verified: entries.length };
    },
    drill: async () => {
      // A restore drill of the newest backup into a scratch target; recorded in the catalog and the database.
      const rec = await backups.runDrill(config, { log });
      await collector.refreshCatalog();
      if (!rec.ok) throw backups.drillFailure(rec);
      log(
        'info',
        `restore drill of ${rec.id} passed: measured RTO ${rec.duration_ms} ms (target ${rec.rto_target_ms} ms)`,
      );
      return rec;
    },
  };
}

/** Every job's run function by name. */
export async function buildJobs(d: JobDeps): Promise<Record<JobName, Run>> {
  const { config, metrics, collector, db, engine, log } = d;
  const state = { lastBackupFailed: false };
  return {
    ...(await backupJobs(d, state)),
    reap: async ({ now }) => {
      const { reapStale } = await import('../workflow/index.js');
      return reapStale(config, { dryRun: false, now });
    },
    agent_health: async ({ now }) => db.withRetry((a) => checkAgents(config, a, now)),
    alerts: async ({ now }) => {
      if (!engine) return;
      return runAlertJob(
        {
          config,
          engine,
          metrics,
          log,
          instance: d.instanceId(),
          db: db.get,
          signals: {
            executions: collector,
            pingRedis: d.redis.ping,
            lastBackupFailed: () => state.lastBackupFailed,
            watchingSince: d.startedAt,
          },
        },
        now,
      );
    },
    metrics_sample: async ({ now }) => {
      await collector.collect();
      const retentionMs = parseDuration(config.serve.metrics_sample_retention) ?? 7 * 86_400_000;
      return db.withRetry((a) => sampleMetrics(metrics, a, { now, retentionMs }));
    },
  };
}

/** The scheduler's job specs; a job the configuration turns off is logged once as a warning. */
export function jobSpecs(config: Config, jobs: Record<JobName, Run>, log: Logger, clock?: () => Date): JobSpec[] {
  return JOB_NAMES.map((name) => {
    const reason = disabledReason(config, name);
    if (reason && config.serve.jobs[name].enabled) log('warn', `job ${name} is off: ${reason}`);
    return {
      name,
      schedule: jobSchedule(config, name),
      enabled: reason === null,
      finishOnShutdown: true,
      run: (ctx) => jobs[name]({ ...ctx, now: clock ? clock() : ctx.now }),
    };
  });
}
