/**
 * Workflow inspection: database rows (execution + workflow name + tracking
 * row) joined with Redis state (state key, active set, lock), discrepancy
 * detection between the two, and summary statistics.
 *
 * Time is a parameter (`now`), so tests use fixed dates. With Redis disabled
 * or unreachable the database-only parts still work and the result says
 * Redis state is not included (`redis.included = false` with the reason).
 */
import type { Config } from '../config/index.js';
import { NotFoundError } from '../errors.js';
import { formatDuration } from '../util/duration.js';
import { keyspace, scanLocks } from '../redis/index.js';
import { scanSet } from '../redis/index.js';
import { readExecutionStates, type ExecutionRedisState } from '../redis/index.js';
import type { WorkflowState } from '../redis/index.js';
import { withHandles, type Handles, type RedisInclusion } from './handles.js';
import {
  countByStatus,
  queryExecutions,
  queryExecutionsByIds,
  queryLockAudit,
  retryDistribution,
  startedAtOf,
  type ExecutionRow,
  type LockAuditEntry,
} from './rows.js';

export const FINISHED = new Set(['completed', 'failed']);

export type DiscrepancyKind =
  /** DB says running, Redis has no (readable) state key for it. */
  | 'running_without_redis_state'
  /** The active set names an execution the database does not have. */
  | 'active_without_db_row'
  /** A lock is held for an execution the database says has finished. */
  | 'lock_on_finished_execution'
  /** DB says running for longer than WORKFLOW_TIMEOUT_MS. */
  | 'running_past_timeout'
  /** The active set still names an execution that has finished. */
  | 'finished_in_active_set'
  /** A lock is held for an execution the database does not have. */
  | 'lock_without_db_row'
  /** DB says running but the Redis state says completed/failed. */
  | 'status_mismatch';

export interface Discrepancy {
  kind: DiscrepancyKind;
  executionId: string;
  detail: string;
  /** What an operator would do about it. */
  action: string;
}

/** One execution as the views show it. */
export interface ExecutionView extends ExecutionRow {
  /** now - started (running/pending), or completed - started (finished). */
  ageMs: number | null;
  pastTimeout: boolean;
  /** Redis state; null when Redis is not included. */
  redis: (Omit<ExecutionRedisState, 'state'> & { state: WorkflowState | null }) | null;
  progress: number | null;
  /** From the tracking row's estimated_duration_ms, else extrapolated from progress. */
  estimatedCompletion: Date | null;
}

/** What to do about each kind: a command ready to paste ({cli}, {active}, {id}, {holder} are filled in by `action`). */
const ACTIONS: Record<DiscrepancyKind, string> = {
  running_without_redis_state: 'if no worker is running it: `wks workflow reap`',
  active_without_db_row: 'remove the member: `wks workflow release {id}` (by hand: `{cli} SREM {active} {id}`)',
  lock_on_finished_execution: 'release it: `wks lock release {id}`',
  running_past_timeout: 'check the worker, then `wks workflow reap`',
  finished_in_active_set: 'remove the member: `wks workflow release {id}` (by hand: `{cli} SREM {active} {id}`)',
  lock_without_db_row: 'if {holder} is gone, release it: `wks lock release {id} --worker {holder}`',
  status_mismatch: 'the worker finished but the database was not updated: `wks workflow reap`',
};

/** The ACTIONS text of `kind` for execution `id`, with the real key, id, holder and redis-cli connection. */
function action(config: Config, kind: DiscrepancyKind, id: string, holder = ''): string {
  const c = config.redis.connection;
  const cli = `redis-cli -h ${c.host} -p ${c.port}${c.db ? ` -n ${c.db}` : ''}${c.password ? ' --askpass' : ''}`;
  return ACTIONS[kind]
    .replaceAll('{cli}', cli)
    .replaceAll('{active}', keyspace(config.redis.namespace).activeExecutions)
    .replaceAll('{id}', id)
    .replaceAll('{holder}', holder);
}

function timeoutMs(config: Config): number {
  return config.execution.timeouts.default_workflow_timeout_ms;
}

function estimate(row: ExecutionRow, state: WorkflowState | null, now: Date): Date | null {
  if (row.status && FINISHED.has(row.status)) return row.completedAt;
  const started = startedAtOf(row) ?? state?.startedAt ?? null;
  if (!started) return null;
  const est = row.tracking?.estimatedDurationMs;
  if (est && est > 0) return new Date(started.getTime() + est);
  const p = state?.progress;
  if (p && p > 0 && p < 100) {
    const elapsed = now.getTime() - started.getTime();
    return new Date(started.getTime() + elapsed / (p / 100));
  }
  return null;
}

/** Build the view of one row (pure). */
export function toView(config: Config, row: ExecutionRow, redis: ExecutionRedisState | null, now: Date): ExecutionView {
  const started = startedAtOf(row);
  const finished = row.status !== null && FINISHED.has(row.status);
  const end = finished ? (row.completedAt ?? null) : now;
  const ageMs = started && end ? end.getTime() - started.getTime() : null;
  return {
    ...row,
    ageMs,
    pastTimeout: row.status === 'running' && ageMs !== null && ageMs > timeoutMs(config),
    redis,
    progress: redis?.state?.progress ?? (finished && row.status === 'completed' ? 100 : null),
    estimatedCompletion: estimate(row, redis?.state ?? null, now),
  };
}

/**
 * Find every discrepancy between the database and Redis (see DiscrepancyKind).
 * Database-only kinds (running_past_timeout) are found without Redis.
 * Scans are bounded (`cap`, default 100,000 active members / locks).
 */
export async function discrepanciesWith(
  h: Handles,
  config: Config,
  opts: { now?: Date; cap?: number } = {},
): Promise<{ discrepancies: Discrepancy[]; truncated: boolean }> {
  const now = opts.now ?? new Date();
  const cap = opts.cap ?? 100_000;
  const out: Discrepancy[] = [];
  const running = await queryExecutions(h.db, { status: 'running' });
  for (const r of running) {
    const v = toView(config, r, null, now);
    if (v.pastTimeout) {
      out.push({
        kind: 'running_past_timeout',
        executionId: r.id,
        detail: `running for ${formatDuration(v.ageMs!)}, past WORKFLOW_TIMEOUT_MS (${formatDuration(timeoutMs(config))})`,
        action: action(config, 'running_past_timeout', r.id),
      });
    }
  }
  if (!h.redis) return { discrepancies: out, truncated: false };
  out.push(...(await stateDiscrepancies(h.redis, config, running)));
  const state = { truncated: false };
  out.push(...(await activeSetDiscrepancies(h, config, cap, state)));
  out.push(...(await lockDiscrepancies(h, config, cap, state)));
  return { discrepancies: out, truncated: state.truncated };
}

type RedisHandle = NonNullable<Handles['redis']>;

/** Running executions whose Redis state is missing, unreadable, or says they finished. */
async function stateDiscrepancies(
  redis: RedisHandle,
  config: Config,
  running: Awaited<ReturnType<typeof queryExecutions>>,
): Promise<Discrepancy[]> {
  const { client, keys } = redis;
  const out: Discrepancy[] = [];
  const states = await readExecutionStates(
    client,
    keys,
    running.map((r) => r.id),
  );
  for (const r of running) {
    const s = states.get(r.id);
    if (!s?.state) {
      out.push({
        kind: 'running_without_redis_state',
        executionId: r.id,
        detail:
          s && s.stateType !== 'none'
            ? `state key ${keys.workflow(r.id)} is unreadable (${s.stateType})`
            : `no state key ${keys.workflow(r.id)}`,
        action: action(config, 'running_without_redis_state', r.id),
      });
    } else if (s.state.status && FINISHED.has(s.state.status)) {
      out.push({
        kind: 'status_mismatch',
        executionId: r.id,
        detail: `database says running, Redis says ${s.state.status}`,
        action: action(config, 'status_mismatch', r.id),
      });
    }
  }
  return out;
}

/** Members of the active set with no database row, or whose execution finished (a deliberate twin of lockDiscrepancies: same walk, other words). */
async function activeSetDiscrepancies(
  h: Handles,
  config: Config,
  cap: number,
  state: { truncated: boolean },
): Promise<Discrepancy[]> {
  const { client, keys } = h.redis!;
  const out: Discrepancy[] = [];
  for await (const members of scanSet(client, keys.activeExecutions, { cap, state })) {
    const rows = await queryExecutionsByIds(h.db, members);
    for (const m of members) {
      const row = rows.get(m);
      if (!row) {
        out.push({
          kind: 'active_without_db_row',
          executionId: m,
          detail: `member of ${keys.activeExecutions} with no workflow_executions row`,
          action: action(config, 'active_without_db_row', m),
        });
      } else if (row.status && FINISHED.has(row.status)) {
        out.push({
          kind: 'finished_in_active_set',
          executionId: m,
          detail: `member of ${keys.activeExecutions} but ${row.status}`,
          action: action(config, 'finished_in_active_set', m),
        });
      }
    }
  }
  return out;
}

/** Execution locks with no database row, or held on a finished execution. */
async function lockDiscrepancies(
  h: Handles,
  config: Config,
  cap: number,
  state: { truncated: boolean },
): Promise<Discrepancy[]> {
  const { client, keys } = h.redis!;
  const out: Discrepancy[] = [];
  for await (const locks of scanLocks(client, keys, { cap, state })) {
    const rows = await queryExecutionsByIds(
      h.db,
      locks.map((l) => l.executionId),
    );
    for (const l of locks) {
      const row = rows.get(l.executionId);
      if (!row) {
        out.push({
          kind: 'lock_without_db_row',
          executionId: l.executionId,
          detail: `lock held by ${l.holder} for an execution the database does not have`,
          action: action(config, 'lock_without_db_row', l.executionId, l.holder ?? ''),
        });
      } else if (row.status && FINISHED.has(row.status)) {
        out.push({
          kind: 'lock_on_finished_execution',
          executionId: l.executionId,
          detail: `lock held by ${l.holder} but the execution ${row.status}`,
          action: action(config, 'lock_on_finished_execution', l.executionId),
        });
      }
    }
  }
  return out;
}

export interface ListOptions {
  status?: string;
  /** Only running executions that are past the timeout or have a discrepancy. */
  stuck?: boolean;
  /** Default 50; 0 = no limit. */
  limit?: number;
  now?: Date;
}

export interface ExecutionList {
  redis: RedisInclusion;
  timeoutMs: number;
  executions: ExecutionView[];
  discrepancies: Discrepancy[];
  /** True when a bounded scan stopped early: discrepancies may be incomplete. */
  truncated: boolean;
}

/** `workflow list` with open handles (tests and `serve` reuse it). */
export async function listExecutionsWith(h: Handles, config: Config, opts: ListOptions = {}): Promise<ExecutionList> {
  const now = opts.now ?? new Date();
  const limit = opts.limit ?? 50;
  const { discrepancies, truncated } = await discrepanciesWith(h, config, { now });
  let rows: ExecutionRow[];
  if (opts.stuck) {
    const flagged = new Set(discrepancies.map((d) => d.executionId));
    rows = (await queryExecutions(h.db, { status: 'running' })).filter(
      (r) => flagged.has(r.id) || toView(config, r, null, now).pastTimeout,
    );
    if (limit > 0) rows = rows.slice(0, limit);
  } else {
    rows = await queryExecutions(h.db, { status: opts.status, limit });
  }
  const states = h.redis
    ? await readExecutionStates(
        h.redis.client,
        h.redis.keys,
        rows.map((r) => r.id),
      )
    : null;
  return {
    redis: h.redisInclusion,
    timeoutMs: timeoutMs(config),
    executions: rows.map((r) => toView(config, r, states?.get(r.id) ?? null, now)),
    discrepancies,
    truncated,
  };
}

/**
 * List executions (newest first) with their Redis state and every discrepancy.
 * Defaults: limit 50, now = current time.
 * @throws NotFoundError (no SQLite file), DatabaseError; never for Redis (see `redis.included`).
 */
export async function listExecutions(config: Config, opts: ListOptions = {}): Promise<ExecutionList> {
  return withHandles(config, 'optional', (h) => listExecutionsWith(h, config, opts));
}

/** Only the discrepancies (used by `serve` and `health`). */
export async function findDiscrepancies(
  config: Config,
  opts: { now?: Date } = {},
): Promise<{ redis: RedisInclusion; discrepancies: Discrepancy[]; truncated: boolean }> {
  return withHandles(config, 'optional', async (h) => ({
    redis: h.redisInclusion,
    ...(await discrepanciesWith(h, config, opts)),
  }));
}

export interface ExecutionDetail {
  redis: RedisInclusion;
  execution: ExecutionView | null;
  /** The id as asked. */
  executionId: string;
  /** Discrepancies concerning this execution only. */
  discrepancies: Discrepancy[];
  /** Lock release audit rows for this execution (empty when the 0003 table is absent). */
  lockAudit: LockAuditEntry[];
}

/** `workflow show` with open handles. @throws NotFoundError when neither the database nor Redis knows the id. */
export async function showExecutionWith(
  h: Handles,
  config: Config,
  id: string,
  opts: { now?: Date } = {},
): Promise<ExecutionDetail> {
  const now = opts.now ?? new Date();
  const row = (await queryExecutionsByIds(h.db, [id])).get(id) ?? null;
  const redisState = h.redis ? ((await readExecutionStates(h.redis.client, h.redis.keys, [id])).get(id) ?? null) : null;
  const knownToRedis = !!redisState && (redisState.stateType !== 'none' || redisState.active || !!redisState.lock);
  if (!row && !knownToRedis) {
    throw new NotFoundError(`no execution ${id} in the database${h.redis ? ' or in Redis' : ''}`, {
      hint: '`wks workflow list` shows executions; ids are workflow_executions.id',
    });
  }
  const discrepancies: Discrepancy[] = [];
  let view: ExecutionView | null = null;
  if (row) {
    view = toView(config, row, redisState, now);
    if (view.pastTimeout)
      discrepancies.push({
        kind: 'running_past_timeout',
        executionId: id,
        detail: `running for ${formatDuration(view.ageMs!)}, past WORKFLOW_TIMEOUT_MS (${formatDuration(timeoutMs(config))})`,
        action: action(config, 'running_past_timeout', id),
      });
    if (h.redis && row.status === 'running' && !redisState?.state)
      discrepancies.push({
        kind: 'running_without_redis_state',
        executionId: id,
        detail: `no state key ${h.redis.keys.workflow(id)}`,
        action: action(config, 'running_without_redis_state', id),
      });
    if (row.status && FINISHED.has(row.status) && redisState?.lock)
      discrepancies.push({
        kind: 'lock_on_finished_execution',
        executionId: id,
        detail: `lock held by ${redisState.lock.holder} but the execution ${row.status}`,
        action: action(config, 'lock_on_finished_execution', id),
      });
    if (row.status && FINISHED.has(row.status) && redisState?.active)
      discrepancies.push({
        kind: 'finished_in_active_set',
        executionId: id,
        detail: `still in the active set but ${row.status}`,
        action: action(config, 'finished_in_active_set', id),
      });
    if (row.status === 'running' && redisState?.state?.status && FINISHED.has(redisState.state.status))
      discrepancies.push({
        kind: 'status_mismatch',
        executionId: id,
        detail: `database says running, Redis says ${redisState.state.status}`,
        action: action(config, 'status_mismatch', id),
      });
  } else {
    if (redisState?.active)
      discrepancies.push({
        kind: 'active_without_db_row',
        executionId: id,
        detail: 'in the active set with no workflow_executions row',
        action: action(config, 'active_without_db_row', id),
      });
    if (redisState?.lock)
      discrepancies.push({
        kind: 'lock_without_db_row',
        executionId: id,
        detail: `lock held by ${redisState.lock.holder} with no workflow_executions row`,
        action: action(config, 'lock_without_db_row', id, redisState.lock.holder ?? ''),
      });
  }
  let lockAudit: LockAuditEntry[] = [];
  try {
    lockAudit = await queryLockAudit(h.db, id);
  } catch {
    /* 0003 not applied yet: no audit history to show */
  }
  return { redis: h.redisInclusion, execution: view, executionId: id, discrepancies, lockAudit };
}

/**
 * Everything about one execution: DB rows, Redis state, active-set membership,
 * lock holder and TTL, age/progress/ETA, and its lock-release audit history.
 * @throws NotFoundError when neither store knows the id.
 */
export async function showExecution(config: Config, id: string, opts: { now?: Date } = {}): Promise<ExecutionDetail> {
  return withHandles(config, 'optional', (h) => showExecutionWith(h, config, id, opts));
}

export interface WorkflowStats {
  redis: RedisInclusion;
  byStatus: Record<string, number>;
  running: number;
  /** SCARD of the active set (null when Redis is not included). */
  activeSet: number | null;
  maxConcurrent: number;
  /** max(running, activeSet) / maxConcurrent. */
  utilisation: number;
  oldestRunning: { id: string; workflowName: string | null; startedAt: Date; ageMs: number } | null;
  timeoutMs: number;
  pastTimeout: number;
  maxRetries: number;
  retries: Array<{ retryCount: number; count: number }>;
  /** Tracking rows with retry_count >= MAX_WORKFLOW_RETRIES. */
  retriesExhausted: number;
}

/** `workflow stats` with open handles. */
export async function workflowStatsWith(h: Handles, config: Config, opts: { now?: Date } = {}): Promise<WorkflowStats> {
  const now = opts.now ?? new Date();
  const byStatus = await countByStatus(h.db);
  const running = await queryExecutions(h.db, { status: 'running' });
  let oldest: WorkflowStats['oldestRunning'] = null;
  let past = 0;
  for (const r of running) {
    const v = toView(config, r, null, now);
    if (v.pastTimeout) past++;
    const s = startedAtOf(r);
    if (s && (!oldest || s.getTime() < oldest.startedAt.getTime())) {
      oldest = { id: r.id, workflowName: r.workflowName, startedAt: s, ageMs: now.getTime() - s.getTime() };
    }
  }
  const activeSet = h.redis ? await h.redis.client.scard(h.redis.keys.activeExecutions) : null;
  const maxConcurrent = config.execution.concurrency.max_concurrent;
  const maxRetries = config.execution.retries.max_retries;
  const retries = await retryDistribution(h.db);
  return {
    redis: h.redisInclusion,
    byStatus,
    running: running.length,
    activeSet,
    maxConcurrent,
    utilisation: Math.max(running.length, activeSet ?? 0) / maxConcurrent,
    oldestRunning: oldest,
    timeoutMs: timeoutMs(config),
    pastTimeout: past,
    maxRetries,
    retries,
    retriesExhausted: retries.filter((r) => r.retryCount >= maxRetries).reduce((a, r) => a + r.count, 0),
  };
}

/**
 * Counts by status, active executions against MAX_CONCURRENT_WORKFLOWS, the
 * oldest running execution, how many are past WORKFLOW_TIMEOUT_MS, and the
 * retry distribution against MAX_WORKFLOW_RETRIES.
 */
export async function workflowStats(config: Config, opts: { now?: Date } = {}): Promise<WorkflowStats> {
  return withHandles(config, 'optional', (h) => workflowStatsWith(h, config, opts));
}
