/**
 * Workflow execution state in Redis: the `{ns}:workflow:{id}` key (hash or
 * legacy JSON string), membership of `{ns}:executions:active`, and the
 * execution lock. Reads are pipelined per batch of ids.
 */
import type { Redis } from 'ioredis';
import { parseWorkflowState, type Keyspace, type WorkflowState } from './keyspace.js';

/** Everything Redis knows about one execution. */
export interface ExecutionRedisState {
  /** The workflow state key, parsed (null when missing or unreadable). */
  state: WorkflowState | null;
  /** Raw TYPE of the state key (`none` when missing), to tell "missing" from "unreadable". */
  stateType: string;
  /** Milliseconds before the state key expires (null: no TTL or missing). */
  stateTtlMs: number | null;
  /** Member of `{ns}:executions:active`. */
  active: boolean;
  /** The lock, when one is held. */
  lock: { holder: string; ttlMs: number | null } | null;
}

const BATCH = 500;

/**
 * Read state, active-set membership and lock for each id. Two pipelined round
 * trips per batch of 500 ids (TYPE first, so a hash is read with HGETALL and
 * a legacy JSON string with GET).
 */
export async function readExecutionStates(
  client: Redis,
  keys: Keyspace,
  ids: string[],
): Promise<Map<string, ExecutionRedisState>> {
  const out = new Map<string, ExecutionRedisState>();
  for (let i = 0; i < ids.length; i += BATCH) {
    const batch = ids.slice(i, i + BATCH);
    const p1 = client.pipeline();
    for (const id of batch) {
      p1.type(keys.workflow(id))
        .pttl(keys.workflow(id))
        .sismember(keys.activeExecutions, id)
        .get(keys.lock(id))
        .pttl(keys.lock(id));
    }
    const r1 = (await p1.exec()) ?? [];
    const p2 = client.pipeline();
    const reads: Array<{ id: string; type: string }> = [];
    batch.forEach((id, j) => {
      const type = String(r1[5 * j]?.[1] ?? 'none');
      if (type === 'hash') p2.hgetall(keys.workflow(id));
      else if (type === 'string') p2.get(keys.workflow(id));
      else return;
      reads.push({ id, type });
    });
    const r2 = reads.length ? ((await p2.exec()) ?? []) : [];
    const values = new Map<string, unknown>();
    for (const [k, r] of reads.entries()) values.set(r.id, r2[k]?.[1]);
    batch.forEach((id, j) => {
      const type = String(r1[5 * j]?.[1] ?? 'none');
      const stateTtl = Number(r1[5 * j + 1]?.[1]);
      const holder = r1[5 * j + 3]?.[1] as string | null;
      const lockTtl = Number(r1[5 * j + 4]?.[1]);
      out.set(id, {
        state: values.has(id) ? parseWorkflowState(type, values.get(id)) : null,
        stateType: type,
        stateTtlMs: stateTtl >= 0 ? stateTtl : null,
        active: Number(r1[5 * j + 2]?.[1]) === 1,
        lock: holder === null || holder === undefined ? null : { holder, ttlMs: lockTtl >= 0 ? lockTtl : null },
      });
    });
  }
  return out;
}

/**
 * Set the state of an execution to failed, in whichever form it is stored,
 * keeping its TTL: a hash gets HSET status/error/completed_at; a legacy JSON
 * string is rewritten (SET ... KEEPTTL) with the same fields. Atomic (Lua).
 * Returns the form updated, or null when there is no state key.
 */
export const MARK_FAILED_LUA = `
local t = redis.call('TYPE', KEYS[1])['ok']
if t == 'hash' then
  redis.call('HSET', KEYS[1], 'status', 'failed', 'error', ARGV[1], 'completed_at', ARGV[2])
  return 'hash'
elseif t == 'string' then
  local ok, obj = pcall(cjson.decode, redis.call('GET', KEYS[1]))
  if not ok or type(obj) ~= 'table' then return 'unreadable' end
  obj['status'] = 'failed'
  obj['error'] = ARGV[1]
  obj['completed_at'] = tonumber(ARGV[2])
  redis.call('SET', KEYS[1], cjson.encode(obj), 'KEEPTTL')
  return 'json'
end
return false
`;

/** Mark the state failed (see MARK_FAILED_LUA) and remove the id from the active set, atomically per step. */
export async function markStateFailed(
  client: Redis,
  keys: Keyspace,
  id: string,
  message: string,
  now: Date,
): Promise<{ stateForm: 'hash' | 'json' | 'unreadable' | null; removedFromActive: boolean }> {
  const form = (await client.eval(MARK_FAILED_LUA, 1, keys.workflow(id), message, String(now.getTime()))) as
    | string
    | null;
  const removed = await client.srem(keys.activeExecutions, id);
  return { stateForm: (form as 'hash' | 'json' | 'unreadable') ?? null, removedFromActive: removed > 0 };
}
