/**
 * `agents`: the latest agent_health_checks row of every agent that is not
 * `inactive`. An agent whose latest status is degraded or unhealthy, whose
 * agents.status is `error`, or whose latest check is older than
 * health.agent_stale_after (or that was never checked) is warn.
 */
import type { CheckDefinition, CheckOutcome } from '../types.js';
import { formatDuration, parseDuration } from '../../util/duration.js';
import { isMissingTable, missingTable, needDb, plural } from './util.js';

const LATEST = `
SELECT a.id AS id, a.name AS name, a.status AS agent_status,
       h.status AS status, h.check_time AS check_time, h.error_message AS error_message
FROM agents a
LEFT JOIN agent_health_checks h ON h.id = (
  SELECT h2.id FROM agent_health_checks h2 WHERE h2.agent_id = a.id ORDER BY h2.check_time DESC, h2.id DESC LIMIT 1
)
WHERE a.status IS NULL OR a.status <> 'inactive'
ORDER BY a.name`;

export const agentsCheck: CheckDefinition = {
  name: 'agents',
  description: 'latest agent_health_checks status per agent; unhealthy, degraded or stale agents',
  async run(ctx): Promise<CheckOutcome> {
    const db = await needDb(ctx);
    const { parseDbTime } = await import('../../db/index.js');
    let rows;
    try {
      rows = await db.query<{
        id: unknown;
        name: unknown;
        agent_status: unknown;
        status: unknown;
        check_time: unknown;
        error_message: unknown;
      }>(LATEST);
    } catch (err) {
      if (isMissingTable(err)) return missingTable('agent_health_checks');
      throw err;
    }
    if (rows.length === 0) return { status: 'ok', detail: 'no active agents registered', data: { agents: 0 } };
    const staleMs = parseDuration(ctx.config.health.agent_stale_after) ?? 15 * 60_000;
    const now = ctx.now.getTime();
    const unhealthy: string[] = [];
    const stale: string[] = [];
    const agents = rows.map((r) => {
      const name = String(r.name);
      const checkedAt = parseDbTime(r.check_time);
      const status = r.status === null || r.status === undefined ? null : String(r.status);
      if (status === 'degraded' || status === 'unhealthy' || r.agent_status === 'error')
        unhealthy.push(`${name} (${status ?? String(r.agent_status)})`);
      else if (!checkedAt || now - checkedAt.getTime() > staleMs)
        stale.push(`${name} (${checkedAt ? `${formatDuration(now - checkedAt.getTime())} ago` : 'never checked'})`);
      return { name, status, checkedAt: checkedAt?.toISOString() ?? null };
    });
    const healthy = rows.length - unhealthy.length - stale.length;
    const data = {
      agents: rows.length,
      healthy,
      unhealthy: unhealthy.length,
      stale: stale.length,
      staleAfterMs: staleMs,
      list: agents,
    };
    const problems: string[] = [];
    const list = (xs: string[]) => xs.slice(0, 5).join(', ') + (xs.length > 5 ? ', ...' : '');
    if (unhealthy.length) problems.push(`${plural(unhealthy.length, 'agent')} unhealthy: ${list(unhealthy)}`);
    if (stale.length)
      problems.push(`${plural(stale.length, 'agent')} stale (no check in ${formatDuration(staleMs)}): ${list(stale)}`);
    if (problems.length > 0) {
      return {
        status: 'warn',
        detail: `${problems.join('; ')}; ${healthy}/${rows.length} healthy`,
        hint: 'check the agents named; `wks serve` records agent health every minute (serve.jobs.agent_health)',
        data,
      };
    }
    return { status: 'ok', detail: `${rows.length}/${rows.length} agents healthy`, data };
  },
};
