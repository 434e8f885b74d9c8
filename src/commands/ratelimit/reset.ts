import type { Action } from '../context.js';
import { resetRateLimits } from '../../redis/index.js';

/** `wks ratelimit reset <userId> [--endpoint E] [--dry-run]`: confirm, or --yes. */
const reset: Action<{ endpoint?: string; dryRun?: boolean }> = async (ctx, args, opts) => {
  const config = await ctx.config();
  const userId = args[0]!;
  const res = await resetRateLimits(config, userId, {
    endpoint: opts.endpoint,
    dryRun: !!opts.dryRun,
    confirm: (keys) =>
      ctx.out.confirm(`Reset ${keys.length} rate-limit counter(s) of user ${userId}?`, { action: 'reset rate limits' }),
  });
  ctx.out.result(res, (d, r) => {
    if (d.dryRun) {
      r.line(`dry run: would reset ${d.keys.length} counter(s); nothing changed`);
      for (const k of d.keys) r.line(`  ${k}`);
    } else if (d.deleted) r.success(`reset ${d.deleted} counter(s) of user ${d.userId}`);
    else r.line('nothing changed');
  });
};
export default reset;
