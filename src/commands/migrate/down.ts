import { intFlag } from '../flags.js';
import { formatDuration } from '../../util/duration.js';
import type { Action } from '../context.js';
import { UsageError } from '../../errors.js';
import { lockWaitNotice, parseLockTimeout, printPlan } from './shared.js';

interface Opts {
  steps?: string;
  to?: string;
  dryRun?: boolean;
  lockTimeout?: string;
}

/** `wks migrate down [--steps N | --to V] [--dry-run]`: destructive, so it asks first (or needs --yes). */
const down: Action<Opts> = async (ctx, _args, opts) => {
  const steps = opts.steps !== undefined ? intFlag(opts.steps, '--steps', 1, { min: 1, max: 10_000 }) : undefined;
  const config = await ctx.config();
  const { migrateDown } = await import('../../migrate/index.js');
  const base = {
    steps,
    to: opts.to,
    lockTimeoutMs: parseLockTimeout(opts.lockTimeout),
    onLockWait: lockWaitNotice(ctx),
  };
  const plan = await migrateDown(config, { ...base, dryRun: true });
  if (opts.dryRun || plan.plan.length === 0) {
    ctx.out.result(plan, (d, r) => {
      if (d.plan.length === 0) {
        r.line(`nothing to roll back (${d.database} is at ${d.current ?? '(empty)'})`);
        return;
      }
      r.line(`would roll back ${d.plan.length} migration(s) on ${d.database} (dry run, nothing changed):`);
      printPlan(r, d.plan);
    });
    return;
  }
  const names = plan.plan.map((m) => `${m.version}_${m.name}`).join(', ');
  const ok = await ctx.out.confirm(
    `Roll back ${plan.plan.length} migration(s) on ${plan.database} (${names})? Data in dropped tables is lost.`,
    {
      action: 'roll back migrations',
    },
  );
  if (!ok) throw new UsageError('cancelled: nothing was rolled back');
  const res = await migrateDown(config, {
    ...base,
    onDone: (r) => ctx.out.info(`rolled back ${r.version}_${r.name} (${formatDuration(r.durationMs)})`),
  });
  ctx.out.result(res, (d, r) => {
    r.line(
      `${r.c.green('✔')} rolled back ${d.rolledBack.length} migration(s); now at ${d.current ?? '(empty)'} (${d.database})`,
    );
  });
};
export default down;
