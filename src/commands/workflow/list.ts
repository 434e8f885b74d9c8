import type { Action } from '../context.js';
import { listExecutions } from '../../workflow/index.js';
import { dur, redisNote, renderDiscrepancies, when } from './format.js';
import { intFlag } from '../flags.js';

interface Opts {
  status?: string;
  stuck?: boolean;
  limit?: string;
}

/** `wks workflow list [--status S] [--stuck] [--limit N]`. */
const list: Action<Opts> = async (ctx, _args, opts) => {
  const config = await ctx.config();
  const limit = intFlag(opts.limit, '--limit', 50);
  const res = await listExecutions(config, { status: opts.status, stuck: !!opts.stuck, limit });
  redisNote(ctx.out, res.redis);
  ctx.out.result(res, (d, r) => {
    r.table(
      d.executions,
      [
        { header: 'ID', value: 'id', align: 'right' },
        { header: 'WORKFLOW', value: (e) => e.workflowName ?? e.workflowId },
        {
          header: 'STATUS',
          value: 'status',
          style: (t, e) =>
            e.pastTimeout
              ? r.c.red(t)
              : t === 'running'
                ? r.c.cyan(t)
                : t === 'failed'
                  ? r.c.red(t)
                  : t === 'completed'
                    ? r.c.green(t)
                    : t,
        },
        { header: 'STARTED', value: (e) => when(e.startedAt ?? e.tracking?.startedAt) },
        { header: 'AGE', value: (e) => dur(e.ageMs) + (e.pastTimeout ? ' (timeout)' : ''), align: 'right' },
        { header: 'RETRIES', value: (e) => e.tracking?.retryCount ?? '-', align: 'right' },
        ...(d.redis.included
          ? [
              {
                header: 'REDIS',
                value: (e: (typeof d.executions)[number]) =>
                  e.redis?.state ? `${e.redis.state.status ?? '?'} (${e.redis.state.form})` : 'none',
              },
              {
                header: 'PROGRESS',
                value: (e: (typeof d.executions)[number]) => (e.progress === null ? '-' : `${e.progress}%`),
                align: 'right' as const,
              },
              { header: 'ACTIVE', value: (e: (typeof d.executions)[number]) => (e.redis?.active ? 'yes' : 'no') },
              { header: 'LOCK', value: (e: (typeof d.executions)[number]) => e.redis?.lock?.holder ?? '-' },
            ]
          : []),
      ],
      { empty: opts.stuck ? 'no stuck executions' : 'no executions' },
    );
    r.line();
    renderDiscrepancies(r, d.discrepancies, d.truncated);
  });
};
export default list;
