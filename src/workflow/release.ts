/**
 * `wks workflow release <id>`: repair one execution's stale Redis state (its
 * active-set membership and its execution lock) under the same checks as the
 * reaper, so an operator never has to paste a raw `redis-cli SREM`.
 *
 * What proves the state stale (without --force):
 *  - the execution is completed/failed in the database: its membership and
 *    lock are leftovers (the lock is released compare-and-delete against the
 *    holder just read, so a takeover in between survives);
 *  - it is still `running` but older than the reaper's threshold: it is
 *    reaped exactly as `workflow reap` would (marked failed, Redis state set
 *    failed, membership removed, lock released owner-checked);
 *  - the database has no row for it, no lock is held, and its Redis state key
 *    is absent or older than the threshold: nobody is working on it.
 * Anything else (running or pending under the threshold, age unknown, a lock
 * held with no row) is refused (ConflictError, exit 4) unless `force` with a
 * reason, which says in the result which check it overrode.
 */
import type { Config } from '../config/index.js';
import { ConflictError, NotFoundError, UsageError } from '../errors.js';
import { formatDuration } from '../util/duration.js';
import { readExecutionStates, requireRedisEnabled } from '../redis/index.js';
import { withHandles, type Handles } from './handles.js';
import { FINISHED } from './inspect.js';
import { operatorIdentity } from './locks.js';
import { reapOne, releaseLockAudited } from './reap.js';
import { clearTrackingLock, queryExecutionsByIds, startedAtOf, type ExecutionRow } from './rows.js';

/** What a release is about to do (shown in the confirmation and the dry run). */
export interface ExecutionReleasePlan {
  executionId: string;
  /** workflow_executions.status; null when the database has no row. */
  status: string | null;
  workflowName: string | null;
  /** How long it has been running (or since its Redis state started, without a row); null when unknown. */
  ageMs: number | null;
  olderThanMs: number;
  /** Member of `{ns}:executions:active`. */
  active: boolean;
  activeKey: string;
  lock: { key: string; holder: string; ttlMs: number | null } | null;
  /** The row is still running: it is marked failed, as `workflow reap` does. */
  markFailed: boolean;
  /** Why the state is stale (the reaper's check that holds); null when nothing proves it. */
  proof: string | null;
  /** The check that failed when nothing proves it (with --force: the check overridden); null with a proof. */
  failedCheck: string | null;
  force: boolean;
  reason: string | null;
}

export interface ExecutionReleaseResult {
  plan: ExecutionReleasePlan;
  outcome: 'released' | 'dry-run' | 'declined' | 'skipped';
  /** The row was marked failed (running past the threshold, or forced). */
  markedFailed: boolean;
  removedFromActive: boolean;
  /** released: deleted; kept: another holder has it now; none: there was none (or it expired). */
  lock: 'released' | 'kept' | 'none';
  lockHolder: string | null;
  auditWarnings: string[];
}

export interface ExecutionReleaseOptions {
  /** The reaper's threshold (default WORKFLOW_TIMEOUT_MS). */
  olderThanMs?: number;
  /** Release although no check proves the state stale; requires `reason`. */
  force?: boolean;
  reason?: string;
  dryRun?: boolean;
  now?: Date;
  who?: string;
  /** Called with the plan before anything changes; return false to decline. */
  confirm?: (plan: ExecutionReleasePlan) => Promise<boolean>;
}

/**
 * Release one execution's stale Redis state (see the module comment).
 * @throws UsageError (--force without --reason), ConfigError (Redis disabled, 78),
 *   NotFoundError (nothing in Redis to release, 5), ConflictError (not provably stale, 4),
 *   DependencyError/DatabaseError (unreachable).
 */
export async function releaseExecution(
  config: Config,
  executionId: string,
  opts: ExecutionReleaseOptions = {},
): Promise<ExecutionReleaseResult> {
  if (opts.force && !opts.reason?.trim())
    throw new UsageError('--force requires --reason', {
      hint: 'say why, e.g. --force --reason "worker-3 died, INC-1234"',
    });
  requireRedisEnabled(config, '`wks workflow release`');
  const now = opts.now ?? new Date();
  return withHandles(config, 'required-if-enabled', async (h) => {
    const plan = await planRelease(h, config, executionId, opts, now);
    const result: ExecutionReleaseResult = {
      plan,
      outcome: 'dry-run',
      markedFailed: false,
      removedFromActive: false,
      lock: 'none',
      lockHolder: plan.lock?.holder ?? null,
      auditWarnings: [],
    };
    if (!plan.proof && !plan.force) throw notProvablyStale(plan);
    if (opts.dryRun) return result;
    if (opts.confirm && !(await opts.confirm(plan))) return { ...result, outcome: 'declined' };
    const who = opts.who ?? operatorIdentity();
    return plan.markFailed ? await reapIt(h, plan, result, now, who) : await clearLeftovers(h, plan, result, now, who);
  });
}

/** Read the row and the Redis state, and decide what proves the state stale. */
async function planRelease(
  h: Handles,
  config: Config,
  id: string,
  opts: ExecutionReleaseOptions,
  now: Date,
): Promise<ExecutionReleasePlan> {
  const { client, keys } = h.redis!;
  const row = (await queryExecutionsByIds(h.db, [id])).get(id) ?? null;
  const redis = (await readExecutionStates(client, keys, [id])).get(id)!;
  const olderThanMs = opts.olderThanMs ?? config.execution.timeouts.default_workflow_timeout_ms;
  const running = row?.status === 'running';
  if (!redis.active && !redis.lock && !running) {
    throw new NotFoundError(
      `execution ${id} has no Redis state to release: not in ${keys.activeExecutions} and no lock (${keys.lock(id)})`,
      { hint: `\`wks workflow show ${id}\` shows what the database and Redis know about it` },
    );
  }
  const started = row ? startedAtOf(row) : (redis.state?.startedAt ?? null);
  const ageMs = started ? now.getTime() - started.getTime() : null;
  const check = staleCheck(row, redis.lock?.holder ?? null, ageMs, olderThanMs, !!redis.state);
  return {
    executionId: id,
    status: row?.status ?? null,
    workflowName: row?.workflowName ?? null,
    ageMs,
    olderThanMs,
    active: redis.active,
    activeKey: keys.activeExecutions,
    lock: redis.lock ? { key: keys.lock(id), holder: redis.lock.holder, ttlMs: redis.lock.ttlMs } : null,
    markFailed: running,
    proof: check.proof,
    failedCheck: check.proof ? null : check.failed,
    force: !!opts.force,
    reason: opts.reason?.trim() || null,
  };
}

/** The reaper's checks for one execution: a proof that its state is stale, or the check that failed. */
function staleCheck(
  row: ExecutionRow | null,
  holder: string | null,
  ageMs: number | null,
  olderThanMs: number,
  hasState: boolean,
): { proof: string | null; failed: string } {
  const threshold = formatDuration(olderThanMs);
  const age = ageMs === null ? null : formatDuration(ageMs);
  if (row?.status && FINISHED.has(row.status)) return { proof: `execution ${row.status} in the database`, failed: '' };
  if (row) {
    const what = row.status ?? 'status unknown';
    if (row.status === 'running' && ageMs !== null && ageMs > olderThanMs)
      return { proof: `running ${age}, past ${threshold}`, failed: '' };
    return {
      proof: null,
      failed:
        ageMs === null
          ? `execution ${what} with no start time: its age is unknown`
          : `execution ${what} for ${age}, under the stuck threshold (${threshold}): a worker may be on it`,
    };
  }
  if (holder) return { proof: null, failed: `no execution row, but ${holder} holds its lock: a worker may be on it` };
  if (hasState && (ageMs === null || ageMs <= olderThanMs))
    return {
      proof: null,
      failed: `no execution row, and its Redis state started ${age ? `${age} ago, under ${threshold}` : 'at an unknown time'}: a worker may be creating it`,
    };
  return {
    proof: `no execution row, no lock${hasState ? `, Redis state ${age} old` : ', no Redis state'}`,
    failed: '',
  };
}

/** ConflictError (exit 4): nothing proves the state stale; says why and what to run instead. */
function notProvablyStale(plan: ExecutionReleasePlan): ConflictError {
  const id = plan.executionId;
  const force = `wks workflow release ${id} --force --reason "..."`;
  // Without a row, the lock is the worker's claim: releasing it (owner-checked) is the first step.
  const hint =
    plan.status === null && plan.lock
      ? `if ${plan.lock.holder} is gone: wks lock release ${id} --worker ${plan.lock.holder}, then wks workflow release ${id}; or ${force}`
      : `wait and check \`wks workflow show ${id}\`; if its worker is gone: ${force}`;
  return new ConflictError(
    `execution ${id}: nothing proves its Redis state stale (${plan.failedCheck}); left in place`,
    { hint, details: { status: plan.status, ageMs: plan.ageMs, lockHolder: plan.lock?.holder ?? null } },
  );
}

/** A running row: reaped as `workflow reap` does (owner-checked lock unless forced). */
async function reapIt(
  h: Handles,
  plan: ExecutionReleasePlan,
  result: ExecutionReleaseResult,
  now: Date,
  who: string,
): Promise<ExecutionReleaseResult> {
  const row = (await queryExecutionsByIds(h.db, [plan.executionId])).get(plan.executionId);
  const why = plan.force && plan.failedCheck ? `forced: ${plan.reason}` : (plan.proof ?? '');
  const a = await reapOne(
    h,
    {
      id: plan.executionId,
      workflowName: plan.workflowName,
      startedAt: row ? (startedAtOf(row) ?? now) : now,
      ageMs: plan.ageMs ?? 0,
      workerId: row?.tracking?.workerId ?? null,
    },
    {
      message: `released by wks (${who}) at ${now.toISOString()}: ${why}`,
      now,
      who,
      auditWarnings: result.auditWarnings,
      source: 'workflow release',
      force: plan.force && plan.failedCheck ? { reason: plan.reason ?? '' } : undefined,
    },
  );
  return {
    ...result,
    outcome: a.outcome === 'reaped' ? 'released' : 'skipped',
    markedFailed: a.outcome === 'reaped',
    removedFromActive: a.removedFromActive,
    lock: a.lock,
    lockHolder: a.lockHolder ?? result.lockHolder,
  };
}

/** A finished execution or one the database does not have: remove its membership, release its lock (audited). */
async function clearLeftovers(
  h: Handles,
  plan: ExecutionReleasePlan,
  result: ExecutionReleaseResult,
  now: Date,
  who: string,
): Promise<ExecutionReleaseResult> {
  const { client, keys } = h.redis!;
  const id = plan.executionId;
  const out = { ...result, outcome: 'released' as const };
  out.removedFromActive = (await client.srem(keys.activeExecutions, id)) > 0;
  if (!plan.lock) return out;
  const forced = plan.force && !!plan.failedCheck;
  const met = await releaseLockAudited(
    h,
    { executionId: id, key: plan.lock.key, holder: plan.lock.holder, expected: plan.lock.holder },
    {
      force: forced,
      reason: forced ? plan.reason : `released by wks: ${plan.proof}`,
      who,
      now,
      source: 'workflow release',
      auditWarnings: out.auditWarnings,
    },
  );
  out.lock = met.lock;
  out.lockHolder = met.lockHolder;
  if (out.lock !== 'kept') {
    try {
      await clearTrackingLock(h.db, id, out.lockHolder, forced);
    } catch (err) {
      out.auditWarnings.push(`tracking row of ${id} not cleared: ${(err as Error).message}`);
    }
  }
  return out;
}
