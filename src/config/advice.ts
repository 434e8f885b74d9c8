/**
 * Advice about a valid configuration whose values disagree with each other:
 * printed by `wks config validate` and reported by the `config` health check,
 * never by every command (a cron run must stay quiet).
 */
import { Cron } from 'croner';
import { formatDuration, parseDuration } from '../util/duration.js';
import type { Config } from './schema.js';

/**
 * The longest time between two consecutive runs of a cron expression over
 * the next `days` days (at most `maxRuns` runs are looked at; a schedule that
 * fires more often than that has a gap no longer than the window it covered).
 */
export function scheduleGapMs(schedule: string, opts: { from?: Date; days?: number; maxRuns?: number } = {}): number {
  const from = opts.from ?? new Date();
  const until = from.getTime() + (opts.days ?? 8) * 86_400_000;
  const cron = new Cron(schedule, { paused: true });
  try {
    let prev: Date | null = cron.nextRun(from);
    if (!prev) return Number.POSITIVE_INFINITY;
    let gap = 0;
    for (let i = 0; i < (opts.maxRuns ?? 5000) && prev.getTime() < until; i++) {
      const next: Date | null = cron.nextRun(prev);
      if (!next) return Number.POSITIVE_INFINITY;
      gap = Math.max(gap, next.getTime() - prev.getTime());
      prev = next;
    }
    return gap;
  } finally {
    cron.stop();
  }
}

/** Warnings about values that contradict each other (empty when all agree). */
export function configAdvice(config: Config, now = new Date()): string[] {
  const out: string[] = [];
  const b = config.database.backup;
  const rpoMs = parseDuration(config.health.backup_rpo);
  if (b.enabled && rpoMs !== undefined) {
    const gap = scheduleGapMs(b.schedule, { from: now });
    if (gap >= rpoMs) {
      out.push(
        `the backup schedule "${b.schedule}" (database.backup.schedule, BACKUP_SCHEDULE) leaves up to ${formatDuration(gap)} between backups, so it cannot meet the RPO health.backup_rpo = ${config.health.backup_rpo}: the newest backup is older than the RPO before every run, and \`wks health\` and the backup_stale alert will say so. Schedule backups more often than the RPO (the default is "*/30 * * * *"), or set health.backup_rpo to the RPO you actually promise`,
      );
    }
  }
  return out;
}
