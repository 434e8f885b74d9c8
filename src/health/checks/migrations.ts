/**
 * `migrations`: pending migrations are warn (deploy has not run `wks migrate
 * up`); checksum drift (an applied file changed since it ran) is critical.
 * The logic is src/migrate's migrationStatus; this check only grades it.
 */
import type { CheckDefinition, CheckOutcome } from '../types.js';
import { needDb, plural } from './util.js';

export const migrationsCheck: CheckDefinition = {
  name: 'migrations',
  description: 'pending migrations (warn) and checksum drift of applied ones (critical)',
  async run(ctx): Promise<CheckOutcome> {
    await needDb(ctx); // a missing or unreachable database is the database check's to report
    const { migrationStatus } = await import('../../migrate/index.js');
    const st = await migrationStatus(ctx.resources.clampedConfig());
    const current = st.current ?? 'none';
    const names = (xs: Array<{ version?: string; name?: string } | string>) =>
      xs
        .slice(0, 3)
        .map((x) => (typeof x === 'string' ? x : (x.name ?? x.version ?? '?')))
        .join(', ') + (xs.length > 3 ? ', ...' : '');
    const data = { current: st.current, applied: st.applied.length, pending: st.pending.length, drift: st.drift.length };
    if (st.drift.length > 0) {
      return {
        status: 'critical',
        detail: `${plural(st.drift.length, 'applied migration')} changed since applied (${names(st.drift as never)}); at ${current}`,
        hint: 'run `wks migrate status` and `wks migrate validate`; restore the original migration file(s) instead of editing applied ones',
        data,
      };
    }
    if (st.pending.length > 0) {
      return {
        status: 'warn',
        detail: `${plural(st.pending.length, 'pending migration')} (${names(st.pending as never)}); at ${current}`,
        hint: 'run `wks migrate up` (it takes a pre-migration backup first)',
        data,
      };
    }
    return { status: 'ok', detail: `up to date at ${current} (${plural(st.applied.length, 'migration')} applied)`, data };
  },
};
