import type { Action } from '../context.js';
import { showRateLimits } from '../../redis/index.js';
import { dur, when } from '../workflow/format.js';

/** `wks ratelimit show <userId> [--endpoint E]`. */
const show: Action<{ endpoint?: string }> = async (ctx, args, opts) => {
  const config = await ctx.config();
  const res = await showRateLimits(config, args[0]!, { endpoint: opts.endpoint });
  ctx.out.result(res, (d, r) => {
    r.line(
      r.c.dim(`limit ${d.limit} requests per ${dur(d.windowMs)} (RATE_LIMIT_MAX_REQUESTS / RATE_LIMIT_WINDOW_MS)`),
    );
    r.table(
      d.counters,
      [
        { header: 'ENDPOINT', value: 'endpoint' },
        { header: 'KIND', value: 'kind' },
        {
          header: 'COUNT',
          value: (c) => `${c.count}/${c.limit}`,
          align: 'right',
          style: (t, c) => (c.limited ? r.c.red(t) : t),
        },
        { header: 'REMAINING', value: 'remaining', align: 'right' },
        {
          header: 'RESETS IN',
          value: (c) => (c.resetInMs === null ? 'never (no TTL)' : dur(c.resetInMs)),
          align: 'right',
        },
        { header: 'RESETS AT', value: (c) => when(c.resetAt) },
      ],
      { empty: `no rate-limit counters for user ${d.userId}` },
    );
  });
};
export default show;
