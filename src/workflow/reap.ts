/**
 * The reaper: executions still `running` long after they started are marked
 * failed (with an error message saying who reaped them and why), their
 * Redis state is set to failed, they leave the active set, and their locks
 * are released owner-checked. Idempotent: only rows still `running` change,
 * so a second run (or a worker that completes meanwhile) is left alone.
 */
import type { Config } from '../config/index.js';
import { formatDuration } from '../util/duration.js';
import { forceRelease, releaseIfHolder, readLock } from '../redis/index.js';
import { markStateFailed } from '../redis/index.js';
import { withHandles, type Handles, type RedisInclusion } from './handles.js';
import { operatorIdentity } from './locks.js';
import { clearTrackingLock, insertLockAudit, markFailed, queryExecutions, startedAtOf } from './rows.js';

export interface ReapCandidate {
  id: string;
  workflowName: string | null;
  startedAt: Date;
  ageMs: number;
  workerId: string | null;
}

export interface ReapAction extends ReapCandidate {
  /** `reaped`, or `skipped` when the row was no longer running when we got to it. */
  outcome: 'reaped' | 'skipped';
  redisState: 'hash' | 'json' | 'unreadable' | null;
  removedFromActive: boolean;
  /** released: our compare-and-delete removed it; kept: someone else holds it; none: no lock. */
  lock: 'released' | 'kept' | 'none';
  lockHolder: string | null;
}

export interface ReapResult {
  redis: RedisInclusion;
  olderThanMs: number;
  dryRun: boolean;
  declined: boolean;
  candidates: ReapCandidate[];
  actions: ReapAction[];
  /** Running executions with no start time at all: age unknown, never reaped. */
  unknownAge: string[];
  /** Lock audit rows that could not be written (0003 missing). */
  auditWarnings: string[];
}

export interface ReapOptions {
  /** Default: WORKFLOW_TIMEOUT_MS (execution.timeouts.default_workflow_timeout_ms). */
  olderThanMs?: number;
  dryRun?: boolean;
  now?: Date;
  who?: string;
  /** Called with the candidates before anything changes; return false to decline. */
  confirm?: (candidates: ReapCandidate[]) => Promise<boolean>;
}

/**
 * Reap stale executions (see module comment). `dryRun` reads only.
 * Redis, when enabled, must be reachable (a half-reap would leave state
 * inconsistent): DependencyError otherwise.
 * @throws NotFoundError (no SQLite file), DatabaseError, DependencyError.
 */
export async function reapStale(config: Config, opts: ReapOptions = {}): Promise<ReapResult> {
  const now = opts.now ?? new Date();
  const olderThanMs = opts.olderThanMs ?? config.execution.timeouts.default_workflow_timeout_ms;
  const who = opts.who ?? operatorIdentity();
  return withHandles(config, 'required-if-enabled', async (h) => {
    const { candidates, unknownAge } = staleCandidates(
      await queryExecutions(h.db, { status: 'running' }),
      now,
      olderThanMs,
    );
    candidates.sort((a, b) => b.ageMs - a.ageMs);
    const result: ReapResult = {
      redis: h.redisInclusion,
      olderThanMs,
      dryRun: !!opts.dryRun,
      declined: false,
      candidates,
      actions: [],
      unknownAge,
      auditWarnings: [],
    };
    if (opts.dryRun || candidates.length === 0) return result;
    if (opts.confirm && !(await opts.confirm(candidates))) {
      result.declined = true;
      return result;
    }
    for (const c of candidates) {
      const message = `reaped by wks (${who}) at ${now.toISOString()}: still running ${formatDuration(c.ageMs)} after it started, past ${formatDuration(olderThanMs)}`;
      result.actions.push(await reapOne(h, c, { message, now, who, auditWarnings: result.auditWarnings }));
    }
    return result;
  });
}

/** Running executions older than the threshold, oldest first, and those whose start time is unknown. */
function staleCandidates(
  running: Awaited<ReturnType<typeof queryExecutions>>,
  now: Date,
  olderThanMs: number,
): { candidates: ReapCandidate[]; unknownAge: string[] } {
  const candidates: ReapCandidate[] = [];
  const unknownAge: string[] = [];
  for (const r of running) {
    const s = startedAtOf(r);
    if (!s) {
      unknownAge.push(r.id);
      continue;
    }
    const ageMs = now.getTime() - s.getTime();
    if (ageMs > olderThanMs)
      candidates.push({
        id: r.id,
        workflowName: r.workflowName,
        startedAt: s,
        ageMs,
        workerId: r.tracking?.workerId ?? null,
      });
  }
  candidates.sort((a, b) => b.ageMs - a.ageMs);
  return { candidates, unknownAge };
}

/** How reapOne records itself; `force` (workflow release --force) deletes the lock whoever holds it. */
export interface ReapOneContext {
  message: string;
  now: Date;
  who: string;
  auditWarnings: string[];
  /** Audit source (default `workflow reap`). */
  source?: string;
  force?: { reason: string };
}

/**
 * Reap one execution: mark it failed in the database, then (with Redis) its state, the active set and,
 * owner-checked, its lock, with an audit row. Also `workflow release` of one stuck execution.
 */
export async function reapOne(h: Handles, c: ReapCandidate, ctx: ReapOneContext): Promise<ReapAction> {
  const changed = await markFailed(h.db, c.id, ctx.message, ctx.now);
  const action: ReapAction = {
    ...c,
    outcome: changed ? 'reaped' : 'skipped',
    redisState: null,
    removedFromActive: false,
    lock: 'none',
    lockHolder: null,
  };
  if (!changed || !h.redis) {
    if (changed) await clearTrackingLock(h.db, c.id, c.workerId, false);
    return action;
  }
  const { client, keys } = h.redis;
  const st = await markStateFailed(client, keys, c.id, ctx.message, ctx.now);
  action.redisState = st.stateForm;
  action.removedFromActive = st.removedFromActive;
  const lock = await readLock(client, keys, c.id);
  if (lock?.holder) {
    // Owner-checked: the tracking row's worker when it names one (a lock
    // held by a different worker belongs to a retry and is kept);
    // otherwise the holder just read, so a takeover in between survives.
    const released = await releaseLockAudited(
      h,
      { executionId: c.id, key: lock.key, holder: lock.holder, expected: c.workerId ?? lock.holder },
      {
        force: !!ctx.force,
        reason: ctx.force?.reason ?? ctx.message,
        who: ctx.who,
        now: ctx.now,
        source: ctx.source ?? 'workflow reap',
        auditWarnings: ctx.auditWarnings,
      },
    );
    action.lock = released.lock;
    action.lockHolder = released.lockHolder;
  }
  if (action.lock !== 'kept') await clearTrackingLock(h.db, c.id, action.lockHolder ?? c.workerId, !!ctx.force);
  return action;
}

/** What releaseLockAudited met: released (deleted), kept (another holder has it now), none (gone already). */
export interface LockReleaseMet {
  lock: 'released' | 'kept' | 'none';
  /** The holder met by the release, else the one read before it. */
  lockHolder: string;
}

/**
 * Release one execution's lock as the reaper does (also `workflow release`): compare-and-delete
 * against `expected`, or delete whoever holds it with `force`; then an audit row unless it was
 * gone already (one that cannot be written becomes a warning).
 */
export async function releaseLockAudited(
  h: Handles,
  lock: { executionId: string; key: string; holder: string; expected: string },
  ctx: { force: boolean; reason: string | null; who: string; now: Date; source: string; auditWarnings: string[] },
): Promise<LockReleaseMet> {
  const { client } = h.redis!;
  const res = ctx.force ? await forceRelease(client, lock.key) : await releaseIfHolder(client, lock.key, lock.expected);
  const met: LockReleaseMet = {
    lock: res.outcome === 'released' ? 'released' : res.outcome === 'mismatch' ? 'kept' : 'none',
    lockHolder: res.holder ?? lock.holder,
  };
  if (res.outcome === 'absent') return met;
  try {
    await insertLockAudit(h.db, {
      executionId: lock.executionId,
      lockKey: lock.key,
      holder: res.holder,
      expectedWorker: ctx.force ? null : lock.expected,
      forced: ctx.force,
      reason: ctx.reason,
      outcome: res.outcome,
      releasedBy: ctx.who,
      releasedAt: ctx.now,
      source: ctx.source,
    });
  } catch (err) {
    ctx.auditWarnings.push(`lock audit for ${lock.executionId} not recorded: ${(err as Error).message}`);
  }
  return met;
}
