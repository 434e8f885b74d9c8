/**
 * The retention policy: pure, no I/O, time passed in as `now`.
 *
 * A backup is KEPT when any of these holds (each adds a reason):
 *  - it is the newest backup, or the newest backup whose last verification passed;
 *  - it is a pre-migration backup younger than `preMigrationMinAgeMs`;
 *  - it is one of the `keepLast` newest (regardless of age: if backups stop
 *    running, rotation never thins below this);
 *  - it is inside the `retentionDays` window (0 = no age limit) AND
 *      - no GFS rule is configured (all keep_* are 0): everything in the window is kept, or
 *      - it is the newest backup of one of the `keepHourly` newest hours, `keepDaily`
 *        days, `keepWeekly` ISO weeks or `keepMonthly` months (UTC) that have backups.
 * Everything else is DELETED, with the reason. So retention_days is the hard
 * age limit, GFS thins inside it, keep_last and the two "newest" rules are
 * the safety net. Backups dated in the future (clock skew) are kept.
 */
import type { BackupType } from './types.js';
import { parseDuration } from '../util/duration.js';

export interface RetentionPolicy {
  retentionDays: number;
  keepLast: number;
  keepHourly: number;
  keepDaily: number;
  keepWeekly: number;
  keepMonthly: number;
  preMigrationMinAgeMs: number;
}

export interface RetentionItem {
  id: string;
  type: BackupType;
  createdAt: Date;
  /** Result of the last verification: true passed, false failed, null never verified. */
  verified: boolean | null;
}

export interface RetentionDecision {
  id: string;
  keep: boolean;
  reasons: string[];
}

const DAY = 86_400_000;

function isoWeek(d: Date): string {
  const t = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));
  const dow = t.getUTCDay() || 7;
  t.setUTCDate(t.getUTCDate() + 4 - dow);
  const year = t.getUTCFullYear();
  const week = Math.ceil(((t.getTime() - Date.UTC(year, 0, 1)) / DAY + 1) / 7);
  return `${year}-W${String(week).padStart(2, '0')}`;
}

/** GFS bucket keys (UTC). */
export const BUCKETS = {
  hourly: (d: Date) => d.toISOString().slice(0, 13),
  daily: (d: Date) => d.toISOString().slice(0, 10),
  weekly: isoWeek,
  monthly: (d: Date) => d.toISOString().slice(0, 7),
} as const;

function age(ms: number): string {
  const days = ms / DAY;
  return days >= 1 ? `${Math.floor(days)}d` : `${Math.floor(ms / 3_600_000)}h`;
}

/**
 * Decide, for every item, keep or delete and why. Returns decisions newest
 * first. Pure: same inputs, same answer.
 */
export function planRetention(items: RetentionItem[], policy: RetentionPolicy, now: Date): RetentionDecision[] {
  const sorted = [...items].sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime() || (a.id < b.id ? 1 : -1));
  const reasons = new Map<string, string[]>(sorted.map((i) => [i.id, []]));
  const add = (id: string, r: string) => reasons.get(id)!.push(r);
  const nowMs = now.getTime();

  if (sorted[0]) add(sorted[0].id, 'newest backup');
  const newestVerified = sorted.find((i) => i.verified === true);
  if (newestVerified) add(newestVerified.id, 'newest verified backup');

  for (const i of sorted) {
    const a = nowMs - i.createdAt.getTime();
    if (a < 0) add(i.id, 'dated in the future (clock skew?)');
    if (i.type === 'pre-migration' && a < policy.preMigrationMinAgeMs)
      add(i.id, `pre-migration backup younger than ${age(policy.preMigrationMinAgeMs)}`);
  }
  for (const [n, i] of sorted.slice(0, policy.keepLast).entries()) add(i.id, `keep_last ${n + 1}/${policy.keepLast}`);

  const inWindow = sorted.filter(
    (i) => policy.retentionDays <= 0 || nowMs - i.createdAt.getTime() <= policy.retentionDays * DAY,
  );
  const rules: Array<[keyof typeof BUCKETS, number]> = [
    ['hourly', policy.keepHourly],
    ['daily', policy.keepDaily],
    ['weekly', policy.keepWeekly],
    ['monthly', policy.keepMonthly],
  ];
  if (rules.every(([, n]) => n <= 0)) {
    for (const i of inWindow)
      add(i.id, policy.retentionDays > 0 ? `within retention_days ${policy.retentionDays}` : 'no retention limit');
  } else {
    for (const [name, n] of rules) {
      if (n <= 0) continue;
      const seen = new Set<string>();
      for (const i of inWindow) {
        const key = BUCKETS[name](i.createdAt);
        if (seen.has(key)) continue;
        if (seen.size >= n) break;
        seen.add(key);
        add(i.id, `${name} ${key}`);
      }
    }
  }

  return sorted.map((i) => {
    const r = reasons.get(i.id)!;
    if (r.length) return { id: i.id, keep: true, reasons: r };
    const a = nowMs - i.createdAt.getTime();
    const why =
      policy.retentionDays > 0 && a > policy.retentionDays * DAY
        ? `older than retention_days ${policy.retentionDays} (age ${age(a)})`
        : `not among keep_last ${policy.keepLast} nor the newest of an hourly/daily/weekly/monthly bucket`;
    return { id: i.id, keep: false, reasons: [why] };
  });
}

/** The policy from config.database.backup (retention_days, keep_*, pre_migration_min_age; an unparseable age means 7 days). */
export function policyFromConfig(b: {
  retention_days: number;
  keep_last: number;
  keep_hourly: number;
  keep_daily: number;
  keep_weekly: number;
  keep_monthly: number;
  pre_migration_min_age: string | number;
}): RetentionPolicy {
  return {
    retentionDays: b.retention_days,
    keepLast: b.keep_last,
    keepHourly: b.keep_hourly,
    keepDaily: b.keep_daily,
    keepWeekly: b.keep_weekly,
    keepMonthly: b.keep_monthly,
    preMigrationMinAgeMs: parseDuration(b.pre_migration_min_age) ?? 7 * DAY,
  };
}

/** local+s3: the local copy's policy, database.backup.local_retention over the repository's (an unset key: the repository's value). */
export function localPolicyFromConfig(
  b: Parameters<typeof policyFromConfig>[0] & {
    local_retention: {
      retention_days: number | null;
      keep_last: number | null;
      keep_hourly: number | null;
      keep_daily: number | null;
      keep_weekly: number | null;
      keep_monthly: number | null;
    };
  },
): RetentionPolicy {
  const l = b.local_retention;
  return policyFromConfig({
    ...b,
    retention_days: l.retention_days ?? b.retention_days,
    keep_last: l.keep_last ?? b.keep_last,
    keep_hourly: l.keep_hourly ?? b.keep_hourly,
    keep_daily: l.keep_daily ?? b.keep_daily,
    keep_weekly: l.keep_weekly ?? b.keep_weekly,
    keep_monthly: l.keep_monthly ?? b.keep_monthly,
  });
}
