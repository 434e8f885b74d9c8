/**
 * `workflows`: running executions past WORKFLOW_TIMEOUT_MS
 * (execution.timeouts.default_workflow_timeout_ms), and active (pending +
 * running) executions against MAX_CONCURRENT_WORKFLOWS: either is warn.
 * Age is measured against the run's `now`.
 */
import type { CheckDefinition, CheckOutcome } from '../types.js';
import { formatDuration } from '../../util/duration.js';
import { isMissingTable, missingTable, needDb, plural } from './util.js';

export const workflowsCheck: CheckDefinition = {
  name: 'workflows',
  description: 'executions running past WORKFLOW_TIMEOUT_MS; active executions against MAX_CONCURRENT_WORKFLOWS',
  async run(ctx): Promise<CheckOutcome> {
    const db = await needDb(ctx);
    const { queryExecutions, startedAtOf } = await import('../../workflow/index.js');
    let active;
    try {
      active = await queryExecutions(db, { status: ['pending', 'running'] });
    } catch (err) {
      if (isMissingTable(err)) return missingTable('workflow_executions');
      throw err;
    }
    const timeoutMs = ctx.config.execution.timeouts.default_workflow_timeout_ms;
    const max = ctx.config.execution.concurrency.max_concurrent;
    const now = ctx.now.getTime();
    const running = active.filter((r) => r.status === 'running');
    const overdue = running.filter((r) => {
      const started = startedAtOf(r);
      return started !== null && now - started.getTime() > timeoutMs;
    });
    const data = {
      active: active.length,
      running: running.length,
      pending: active.length - running.length,
      maxConcurrent: max,
      timeoutMs,
      overdue: overdue.map((r) => r.id),
    };
    const warnings: string[] = [];
    if (overdue.length > 0) {
      const ids =
        overdue
          .slice(0, 5)
          .map((r) => r.id)
          .join(', ') + (overdue.length > 5 ? ', ...' : '');
      warnings.push(`${plural(overdue.length, 'execution')} running longer than ${formatDuration(timeoutMs)} (${ids})`);
    }
    if (active.length >= max)
      warnings.push(`${active.length} active executions at or above MAX_CONCURRENT_WORKFLOWS (${max})`);
    const base = `${active.length} active (${running.length} running, ${data.pending} pending) of max ${max}`;
    if (warnings.length > 0) {
      return {
        status: 'warn',
        detail: `${warnings.join('; ')}; ${base}`,
        hint: 'inspect with `wks workflow list --status running`; `wks workflow reap --dry-run` shows what would be reaped',
        data,
      };
    }
    return { status: 'ok', detail: base, data };
  },
};
