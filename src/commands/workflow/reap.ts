import type { Action } from '../context.js';
import { reapStale } from '../../workflow/index.js';
import { dur, redisNote, when } from './format.js';
import { durationFlag } from '../flags.js';

interface Opts {
  olderThan?: string;
  dryRun?: boolean;
}

/** `wks workflow reap [--older-than DUR] [--dry-run]`: confirm, or --yes. */
const reap: Action<Opts> = async (ctx, _args, opts) => {
  const config = await ctx.config();
  const olderThanMs = durationFlag(opts.olderThan, '--older-than');
  const res = await reapStale(config, {
    olderThanMs,
    dryRun: !!opts.dryRun,
    confirm: async (c) => {
      for (const x of c)
        ctx.out.info(`  ${x.id}  ${x.workflowName ?? '?'}  running ${dur(x.ageMs)}  worker ${x.workerId ?? '-'}`);
      return ctx.out.confirm(`Mark ${c.length} execution(s) failed, clear their Redis state and release their locks?`, {
        action: 'reap executions',
      });
    },
  });
  redisNote(ctx.out, res.redis);
  for (const w of res.auditWarnings) ctx.out.warn(w);
  if (res.unknownAge.length)
    ctx.out.warn(
      `${res.unknownAge.length} running execution(s) have no start time and were not considered: ${res.unknownAge.join(', ')}`,
    );
  ctx.out.result(res, (d, r) => {
    if (d.candidates.length === 0) {
      r.line(`nothing to reap: no execution has been running longer than ${dur(d.olderThanMs)}`);
      return;
    }
    if (d.dryRun || d.declined) {
      r.line(
        d.dryRun
          ? `dry run: would reap ${d.candidates.length} execution(s) running longer than ${dur(d.olderThanMs)}`
          : 'declined: nothing changed',
      );
      r.table(d.candidates, [
        { header: 'ID', value: 'id', align: 'right' },
        { header: 'WORKFLOW', value: 'workflowName' },
        { header: 'STARTED', value: (c) => when(c.startedAt) },
        { header: 'AGE', value: (c) => dur(c.ageMs), align: 'right' },
        { header: 'WORKER', value: 'workerId' },
      ]);
      return;
    }
    r.table(d.actions, [
      { header: 'ID', value: 'id', align: 'right' },
      { header: 'WORKFLOW', value: 'workflowName' },
      { header: 'AGE', value: (a) => dur(a.ageMs), align: 'right' },
      { header: 'RESULT', value: (a) => (a.outcome === 'reaped' ? 'marked failed' : 'skipped (no longer running)') },
      { header: 'REDIS STATE', value: (a) => a.redisState ?? '-' },
      { header: 'ACTIVE SET', value: (a) => (a.removedFromActive ? 'removed' : '-') },
      { header: 'LOCK', value: (a) => (a.lock === 'kept' ? `kept (held by ${a.lockHolder})` : a.lock) },
    ]);
    const n = d.actions.filter((a) => a.outcome === 'reaped').length;
    r.success(`reaped ${n} execution(s)`);
  });
};
export default reap;
