/**
 * Agent health checks: for every agent whose `agents.config_json` names a
 * health endpoint, GET it and write one `agent_health_checks` row.
 *
 * The config_json fields wks reads (documented in docs/serve.md):
 *   health_url            string, required to be checked (http:// or https://)
 *   health_timeout_ms     number, default health.check_timeout_ms
 *   degraded_after_ms     number, default half the timeout: a 2xx slower than this is `degraded`
 * Status: 2xx -> healthy (or degraded when slow, or when the JSON body says
 * {"status":"degraded"}); any other status, a timeout or a connection error
 * -> unhealthy. The URL is never stored or logged (it may carry a token);
 * rows carry the HTTP status in metrics_json.
 * Agents without health_url, and inactive agents, are skipped.
 */
import type { Config } from '../config/index.js';
import type { DatabaseAdapter } from '../db/index.js';
import { toDbTime } from '../db/index.js';

export interface AgentCheck {
  agentId: number;
  name: string;
  status: 'healthy' | 'degraded' | 'unhealthy';
  responseTimeMs: number;
  error: string | null;
  httpStatus: number | null;
}

interface AgentRow {
  id: number | string;
  name: string;
  status: string | null;
  config_json: unknown;
}

/** Parse an agent's config_json; null when absent, invalid or without a usable health_url. */
export function agentHealthSettings(
  configJson: unknown,
): { url: string; timeoutMs?: number; degradedAfterMs?: number } | null {
  if (!configJson) return null;
  let c: Record<string, unknown>;
  if (typeof configJson === 'object')
    c = configJson as Record<string, unknown>; // PostgreSQL json/jsonb
  else {
    try {
      c = JSON.parse(String(configJson)) as Record<string, unknown>;
    } catch {
      return null;
    }
  }
  const url = typeof c.health_url === 'string' ? c.health_url : null;
  if (!url || !/^https?:\/\//i.test(url)) return null;
  const n = (v: unknown): number | undefined => (typeof v === 'number' && v > 0 ? v : undefined);
  return { url, timeoutMs: n(c.health_timeout_ms), degradedAfterMs: n(c.degraded_after_ms) };
}

async function probe(
  url: string,
  timeoutMs: number,
  degradedAfterMs: number,
): Promise<Omit<AgentCheck, 'agentId' | 'name'>> {
  const t0 = performance.now();
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), headers: { Accept: 'application/json' } });
    const body = await res.text().catch(() => '');
    const ms = Math.round(performance.now() - t0);
    if (res.status < 200 || res.status >= 300)
      return { status: 'unhealthy', responseTimeMs: ms, error: `HTTP ${res.status}`, httpStatus: res.status };
    let said: unknown;
    try {
      said = (JSON.parse(body) as { status?: unknown }).status;
    } catch {
      /* not JSON: status from HTTP only */
    }
    if (said === 'degraded')
      return { status: 'degraded', responseTimeMs: ms, error: 'agent reports degraded', httpStatus: res.status };
    if (said === 'unhealthy' || said === 'error')
      return {
        status: 'unhealthy',
        responseTimeMs: ms,
        error: `agent reports ${String(said)}`,
        httpStatus: res.status,
      };
    if (ms > degradedAfterMs)
      return {
        status: 'degraded',
        responseTimeMs: ms,
        error: `slow response (${ms} ms > ${degradedAfterMs} ms)`,
        httpStatus: res.status,
      };
    return { status: 'healthy', responseTimeMs: ms, error: null, httpStatus: res.status };
  } catch (err) {
    const ms = Math.round(performance.now() - t0);
    const e = err as Error & { cause?: { code?: string } };
    const why = e.name === 'TimeoutError' ? `timed out after ${timeoutMs} ms` : (e.cause?.code ?? e.message);
    return { status: 'unhealthy', responseTimeMs: ms, error: why, httpStatus: null };
  }
}

/**
 * Check every agent with a health_url concurrently and insert one
 * agent_health_checks row each (check_time = `now`). Returns the checks.
 * Throws only when the agents table cannot be read or a row cannot be written.
 */
export async function checkAgents(config: Config, db: DatabaseAdapter, now: Date = new Date()): Promise<AgentCheck[]> {
  const agents = await db.query<AgentRow>(`SELECT id, name, status, config_json FROM agents`);
  const defTimeout = config.health.check_timeout_ms;
  const checks = await Promise.all(
    agents
      .filter((a) => a.status !== 'inactive')
      .map(async (a) => {
        const s = agentHealthSettings(a.config_json);
        if (!s) return null;
        const timeoutMs = s.timeoutMs ?? defTimeout;
        const r = await probe(s.url, timeoutMs, s.degradedAfterMs ?? Math.floor(timeoutMs / 2));
        return { agentId: Number(a.id), name: a.name, ...r };
      }),
  );
  const done = checks.filter((c): c is AgentCheck => c !== null);
  if (done.length === 0) return done;
  const at = toDbTime(now, db.dialect);
  await db.transaction(async (tx) => {
    for (const c of done) {
      await tx.run(
        `INSERT INTO agent_health_checks (agent_id, check_time, status, response_time_ms, error_message, metrics_json) VALUES ($1, $2, $3, $4, $5, $6)`,
        [c.agentId, at, c.status, c.responseTimeMs, c.error, JSON.stringify({ http_status: c.httpStatus })],
      );
    }
  });
  return done;
}
