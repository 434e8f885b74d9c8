import type { Action } from '../context.js';
import { UsageError } from '../../errors.js';
import { formatDuration } from '../../util/duration.js';
import { logTo } from './format.js';

interface Opts {
  latest?: boolean;
  at?: string;
  rtoTarget?: string;
  allowUnauthenticated?: boolean;
}

/** `wks backup drill [ID | --latest | --at TIME] [--rto-target 15m] [--allow-unauthenticated]`: restore into a scratch target, check, time; exit 3 on failure or a missed RTO. */
const drill: Action<Opts> = async (ctx, args, opts) => {
  const id = args[0];
  if ([id !== undefined, !!opts.latest, opts.at !== undefined].filter(Boolean).length > 1) {
    throw new UsageError('give one of: an id, --latest, --at', {
      hint: 'wks backup drill 20261129T0230 | --latest | --at 2026-11-29T02:00Z',
    });
  }
  // Cron runs drills too: the outcome is pushed to the Pushgateway like create/verify/rotate.
  const run = ctx.reportRun('backup_drill');
  const config = await ctx.config({
    'database.backup.drill.rto_target': { value: opts.rtoTarget, flag: '--rto-target' },
  });
  const { runDrill, drillFailure, parseAt } = await import('../../backup/index.js');
  const select =
    id !== undefined ? { id } : opts.at !== undefined ? { at: parseAt(opts.at) } : { latest: true as const };
  const spin = await ctx.out.progress('restore drill: selecting the backup');
  const rec = await runDrill(config, {
    select,
    allowUnauthenticated: opts.allowUnauthenticated,
    log: logTo(ctx.out),
    onPhase: (p) => spin.update(`restore drill: ${p}`),
  }).catch((err) => {
    spin.stop();
    throw err;
  });
  run.bytes = rec.stored_size;
  const phases = Object.entries(rec.phases_ms)
    .map(([p, ms]) => `${p} ${formatDuration(ms)}`)
    .join(', ');
  if (!rec.ok) {
    spin.fail(`${rec.id}: drill ${rec.outcome === 'rto_missed' ? 'missed the RTO target' : 'FAILED'} (${phases})`);
    throw drillFailure(rec);
  }
  spin.succeed(`${rec.id}: drill passed in ${formatDuration(rec.duration_ms)}`);
  ctx.out.result(rec, (d, r) => {
    r.line(
      `${r.c.green('passed')}  ${d.id}  measured RTO ${formatDuration(d.duration_ms)} (target ${formatDuration(d.rto_target_ms)})`,
    );
    r.line(`phases: ${phases}`);
    for (const c of d.checks) r.line(`  ${c.name}: ${c.detail}`);
    r.line(r.c.dim(`scratch target removed: ${d.scratch_removed ? 'yes' : 'NO'}`));
  });
};
export default drill;
