import type { Action } from '../context.js';
import { workflowStats } from '../../workflow/index.js';
import { dur, redisNote, when } from './format.js';

/** `wks workflow stats`. */
const stats: Action = async (ctx) => {
  const config = await ctx.config();
  const res = await workflowStats(config);
  redisNote(ctx.out, res.redis);
  ctx.out.result(res, (d, r) => {
    const statuses = Object.entries(d.byStatus);
    r.keyValues([
      ['by status', statuses.length ? statuses.map(([s, n]) => `${s} ${n}`).join(', ') : 'no executions'],
      ['running (database)', d.running],
      ['active set (Redis)', d.activeSet],
      [
        'concurrency',
        `${Math.max(d.running, d.activeSet ?? 0)} of ${d.maxConcurrent} (MAX_CONCURRENT_WORKFLOWS), ${Math.round(d.utilisation * 100)}%`,
      ],
      [
        'oldest running',
        d.oldestRunning
          ? `${d.oldestRunning.id} (${d.oldestRunning.workflowName ?? '?'}), started ${when(d.oldestRunning.startedAt)}, ${dur(d.oldestRunning.ageMs)} ago`
          : null,
      ],
      ['past timeout', `${d.pastTimeout} (WORKFLOW_TIMEOUT_MS ${dur(d.timeoutMs)})`],
      [
        'retries',
        d.retries.length ? d.retries.map((x) => `${x.retryCount}: ${x.count}`).join(', ') : 'no tracking rows',
      ],
      ['retries exhausted', `${d.retriesExhausted} (retry_count >= MAX_WORKFLOW_RETRIES ${d.maxRetries})`],
    ]);
    if (d.pastTimeout > 0)
      r.line(
        r.c.yellow(
          `\n${d.pastTimeout} execution(s) past the timeout: \`wks workflow list --stuck\`, then \`wks workflow reap\``,
        ),
      );
  });
};
export default stats;
