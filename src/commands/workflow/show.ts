import type { Action } from '../context.js';
import { showExecution } from '../../workflow/index.js';
import { dur, redisNote, renderDiscrepancies, ttl, when } from './format.js';

/** `wks workflow show <executionId>`. */
const show: Action = async (ctx, args) => {
  const config = await ctx.config();
  const id = args[0]!;
  const res = await showExecution(config, id);
  redisNote(ctx.out, res.redis);
  ctx.out.result(res, (d, r) => {
    const e = d.execution;
    r.line(r.c.bold(`execution ${d.executionId}`));
    if (e) {
      r.keyValues([
        ['workflow', `${e.workflowName ?? '?'} (id ${e.workflowId ?? '?'})`],
        [
          'status',
          e.pastTimeout
            ? r.c.red(`${e.status} (past the ${dur(config.execution.timeouts.default_workflow_timeout_ms)} timeout)`)
            : e.status,
        ],
        ['started', when(e.startedAt)],
        ['completed', when(e.completedAt)],
        ['age', dur(e.ageMs)],
        ['progress', e.progress === null ? null : `${e.progress}%`],
        ['estimated completion', when(e.estimatedCompletion)],
        ['error', e.errorMessage],
      ]);
      r.line();
      r.line(r.c.bold('tracking row'));
      if (e.tracking) {
        r.keyValues([
          ['user', e.tracking.userId],
          ['started', when(e.tracking.startedAt)],
          ['estimated duration', dur(e.tracking.estimatedDurationMs)],
          ['priority', e.tracking.priority],
          ['retries', `${e.tracking.retryCount} of ${config.execution.retries.max_retries}`],
          ['lock acquired', when(e.tracking.lockAcquiredAt)],
          ['worker', e.tracking.workerId],
        ]);
      } else r.line(r.c.dim('  (no workflow_execution_tracking row)'));
    } else {
      r.line(r.c.yellow('  no workflow_executions row: known to Redis only'));
    }
    if (d.redis.included) {
      const s = e?.redis ?? null;
      r.line();
      r.line(r.c.bold('redis'));
      r.keyValues([
        [
          'state',
          s?.state
            ? `${s.state.status ?? '?'} (stored as ${s.state.form === 'hash' ? 'hash' : 'legacy JSON string'}, ${ttl(s.stateTtlMs)})`
            : s && s.stateType !== 'none'
              ? `unreadable ${s.stateType}`
              : 'none',
        ],
        ['current step', s?.state?.currentStep],
        [
          'redis progress',
          s?.state?.progress === null || s?.state?.progress === undefined ? null : `${s.state.progress}%`,
        ],
        ['data', s?.state?.data === null || s?.state?.data === undefined ? null : JSON.stringify(s.state.data)],
        ['in active set', s ? (s.active ? 'yes' : 'no') : null],
        ['lock holder', s?.lock?.holder],
        ['lock TTL', s?.lock ? ttl(s.lock.ttlMs) : null],
      ]);
    }
    if (d.lockAudit.length) {
      r.line();
      r.line(r.c.bold('lock releases'));
      r.table(d.lockAudit, [
        { header: 'WHEN', value: (a) => when(a.releasedAt) },
        { header: 'OUTCOME', value: 'outcome' },
        { header: 'HOLDER', value: 'holder' },
        { header: 'BY', value: 'releasedBy' },
        { header: 'FORCED', value: (a) => (a.forced ? 'yes' : 'no') },
        { header: 'WHY', value: 'reason' },
      ]);
    }
    r.line();
    renderDiscrepancies(r, d.discrepancies);
  });
};
export default show;
