/**
 * `migrations`: pending migrations are warn (the deploy has not run `wks
 * migrate up`); an applied migration whose file no longer exists is warn;
 * checksum drift (an applied file changed since it ran) and a dirty
 * (half-applied, non-transactional) migration are critical. The logic is
 * src/migrate's migrationStatus; this check only grades it.
 */
import type { CheckDefinition, CheckOutcome, HealthStatus } from '../types.js';
import { STATUS_RANK } from '../types.js';
import { needDb, plural } from './util.js';

const names = (xs: Array<{ version: string; name: string }>): string =>
  xs
    .slice(0, 3)
    .map((x) => `${x.version}_${x.name}`)
    .join(', ') + (xs.length > 3 ? ', ...' : '');

export const migrationsCheck: CheckDefinition = {
  name: 'migrations',
  description: 'pending migrations (warn); checksum drift or a dirty migration (critical)',
  async run(ctx): Promise<CheckOutcome> {
    await needDb(ctx); // a missing or unreachable database is the database check's to report
    const { migrationStatus } = await import('../../migrate/index.js');
    const st = await migrationStatus(ctx.resources.clampedConfig());
    const current = st.current ?? 'no version';
    const changed = st.drift.filter((d) => d.kind === 'changed');
    const missing = st.drift.filter((d) => d.kind !== 'changed');
    const data = {
      current: st.current,
      applied: st.applied.length,
      pending: st.pending.map((p) => p.version),
      drift: st.drift.map((d) => ({ version: d.version, kind: d.kind })),
      dirty: st.dirty.map((d) => d.version),
    };
    const findings: Array<{ status: HealthStatus; text: string; hint: string }> = [];
    if (st.dirty.length > 0) {
      findings.push({
        status: 'critical',
        text: `${plural(st.dirty.length, 'migration')} left dirty (half-applied): ${names(st.dirty)}`,
        hint: st.dirty[0]!.recovery || 'run `wks migrate status` for the recovery steps',
      });
    }
    if (changed.length > 0) {
      findings.push({
        status: 'critical',
        text: `${plural(changed.length, 'applied migration')} changed since applied (checksum drift): ${names(changed)}`,
        hint: 'run `wks migrate validate`; restore the original file(s): never edit an applied migration, add a new one',
      });
    }
    if (missing.length > 0) {
      findings.push({
        status: 'warn',
        text: `${plural(missing.length, 'applied migration')} without a file: ${names(missing)}`,
        hint: 'check database.migrations.directory and that this wks version matches the database',
      });
    }
    if (st.pending.length > 0) {
      findings.push({
        status: 'warn',
        text: `${plural(st.pending.length, 'pending migration')}: ${names(st.pending)}`,
        hint: 'run `wks migrate up` (it takes a pre-migration backup first)',
      });
    }
    if (findings.length === 0) {
      return {
        status: 'ok',
        detail: `up to date at ${current} (${plural(st.applied.length, 'migration')} applied)`,
        data,
      };
    }
    findings.sort((a, b) => STATUS_RANK[b.status] - STATUS_RANK[a.status]);
    return {
      status: findings[0]!.status,
      detail: `${findings.map((f) => f.text).join('; ')}; at ${current}`,
      hint: findings[0]!.hint,
      data,
    };
  },
};
