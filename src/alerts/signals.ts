/**
 * Compute the alert signals (see rules.ts for their meaning) from the
 * platform's data. Each signal is independent: one failing source leaves its
 * signal null ("no data") and, for the database and Redis, counts as a
 * dependency down. Time is a parameter.
 */
import path from 'node:path';
import type { Config } from '../config/index.js';
import type { DatabaseAdapter } from '../db/index.js';
import { newestBackupMs, offHostPending, type PlatformCollector } from '../metrics/index.js';
import { freeBytes } from '../util/disk.js';
import type { AlertSignals } from './rules.js';

export interface SignalSources {
  db: () => Promise<DatabaseAdapter | null>;
  /** Resolves when Redis answers; rejects when it does not. Null when Redis is disabled. */
  pingRedis?: (() => Promise<void>) | null;
  /** The metrics collector: error_rate and workflow_duration come from its incremental view. */
  executions?: Pick<PlatformCollector, 'collect' | 'errorRate' | 'longestRunningSeconds'>;
  /** Compute backup_age from the backup catalog. Default true. */
  catalog?: boolean;
  /** Whether the newest scheduled backup attempt failed (kept by the backup job). */
  lastBackupFailed?: () => boolean;
  /**
   * When the watching began (serve's start). With no backup at all,
   * backup_age counts from here, so a fresh install is not stale at its first
   * evaluation but only once a whole RPO passed without a backup.
   */
  watchingSince?: Date;
}

/** Window for error_rate. */
export const ERROR_RATE_WINDOW_MS = 5 * 60_000;

/** Gather every signal at `now`. Never throws. */
export async function gatherSignals(config: Config, src: SignalSources, now: Date): Promise<AlertSignals> {
  const sig: AlertSignals = { down: [] };
  let db: DatabaseAdapter | null = null;
  try {
    db = await src.db();
    if (db) await db.query('SELECT 1 AS ok');
  } catch {
    db = null;
    sig.down!.push('database');
  }
  if (db) {
    // Both from the incremental collector (refreshed here): no table scan per evaluation.
    if (src.executions) {
      await src.executions.collect();
      sig.error_rate = src.executions.errorRate(now, ERROR_RATE_WINDOW_MS);
      sig.workflow_duration = src.executions.longestRunningSeconds();
    }
  }
  if (src.pingRedis) {
    try {
      await src.pingRedis();
    } catch {
      sig.down!.push('redis');
    }
  }
  sig.dependency_down = sig.down!.length;

  if (src.catalog !== false) {
    try {
      const { configuredSource, sourceCatalog, trustedEntries } = await import('../backup/index.js');
      const source = await configuredSource(config, { reuse: true });
      // Serve's alert evaluation: nobody waits on it, so a slow bucket's listing gets the full retry
      // budget (a listing cut short would count every backup as not copied: a false off-host lag).
      const cat = await sourceCatalog(config, { source, waitForBucket: true });
      const entries = trustedEntries(config, cat.entries);
      sig.backups_offhost_pending = offHostPending(entries, cat.kind);
      const newest = newestBackupMs(entries);
      const since = newest > 0 ? newest : (src.watchingSince?.getTime() ?? null);
      sig.backup_age = since !== null ? Math.max(0, (now.getTime() - since) / 1000) : Number.POSITIVE_INFINITY;
    } catch {
      sig.backup_age = null;
      sig.backups_offhost_pending = null;
    }
  }
  sig.backup_failed = src.lastBackupFailed?.() ? 1 : 0;

  const dirs = [config.database.backup.storage_path];
  if (config.database.type === 'sqlite') dirs.push(path.dirname(path.resolve(config.database.path)));
  const frees = (await Promise.all(dirs.map(freeBytes))).filter((x): x is number => x !== null);
  sig.disk_free_bytes = frees.length ? Math.min(...frees) : null;
  return sig;
}
