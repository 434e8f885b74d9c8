/**
 * `drills`: does a backup actually restore, and fast enough? Reads the last
 * restore drills from the backup catalog (`<id>.drill.json` sidecars, written
 * by `wks backup drill` and `wks serve`'s weekly drill job; works without the
 * database).
 *
 *  critical: the last drill failed (a check failed or the restore broke).
 *  warn:     the last drill missed the RTO target; no passed drill within
 *            database.backup.drill.max_age (8d by default; a fresh install
 *            whose oldest backup is younger than that is not warned).
 */
import { formatDuration, parseDuration } from '../../util/duration.js';
import type { CheckDefinition, CheckOutcome } from '../types.js';

export const drillsCheck: CheckDefinition = {
  name: 'drills',
  description: 'age and outcome of the last restore drill, against database.backup.drill.max_age and the RTO target',
  async run({ config, now }): Promise<CheckOutcome> {
    const maxAgeMs = parseDuration(config.database.backup.drill.max_age) ?? 8 * 86_400_000;
    // Only drills of the configured database's backups (a shared directory holds other sources' too).
    const { sourceCatalog, lastDrills } = await import('../../backup/index.js');
    const { entries } = await sourceCatalog(config);
    const { last, lastPassed, windowStart } = lastDrills(entries);
    const age = (iso: string): number => Math.max(0, now.getTime() - new Date(iso).getTime());
    const data = {
      last: last
        ? {
            id: last.id,
            outcome: last.outcome,
            completedAt: last.completed_at,
            ageMs: age(last.completed_at),
            durationMs: last.duration_ms,
            rtoTargetMs: last.rto_target_ms,
          }
        : null,
      lastPassedAgeMs: lastPassed ? age(lastPassed.completed_at) : null,
      maxAgeMs,
    };
    if (last && last.outcome === 'failed') {
      const c = last.checks.find((x) => !x.ok);
      return {
        status: 'critical',
        detail: `last restore drill (${last.id}, ${formatDuration(age(last.completed_at))} ago) failed: ${c ? `${c.name}: ${c.detail}` : (last.error ?? 'did not complete')}`,
        hint: 'take a new backup (`wks backup create`) and drill it (`wks backup drill`); find out why the old one does not restore',
        data,
      };
    }
    if (last && last.outcome === 'rto_missed') {
      return {
        status: 'warn',
        detail: `last restore drill (${last.id}) took ${formatDuration(last.duration_ms)}, over the RTO target of ${formatDuration(last.rto_target_ms)}`,
        hint: 'see where the time went: `wks backup drill --json` (phases_ms)',
        data,
      };
    }
    if (!lastPassed) {
      const since = windowStart ? age(windowStart.toISOString()) : 0;
      if (since > maxAgeMs) {
        return {
          status: 'warn',
          detail: `no restore drill has passed; backups exist for ${formatDuration(since)} (window ${formatDuration(maxAgeMs)})`,
          hint: 'run `wks backup drill` (or let `wks serve` run its weekly drill job)',
          data,
        };
      }
      return { status: 'ok', detail: 'no restore drill yet (the install is younger than the drill window)', data };
    }
    const passedAge = age(lastPassed.completed_at);
    if (passedAge > maxAgeMs) {
      return {
        status: 'warn',
        detail: `last passed restore drill is ${formatDuration(passedAge)} old (window ${formatDuration(maxAgeMs)})`,
        hint: 'run `wks backup drill`; check that `wks serve` runs its drill job (`wks serve --print-schedule`)',
        data,
      };
    }
    return {
      status: 'ok',
      detail: `last restore drill passed ${formatDuration(passedAge)} ago: measured RTO ${formatDuration(lastPassed.duration_ms)} (target ${formatDuration(lastPassed.rto_target_ms)})`,
      data,
    };
  },
};
