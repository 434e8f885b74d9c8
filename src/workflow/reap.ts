/**
 * The reaper: executions still `running` long after they started are marked
 * failed (with an error message saying who reaped them and why), their
 * Redis state is set to failed, they leave the active set, and their locks
 * are released owner-checked. Idempotent: only rows still `running` change,
 * so a second run (or a worker that completes meanwhile) is left alone.
 */
import type { Config } from '../config/index.js';
import { formatDuration } from '../util/duration.js';
import { releaseIfHolder, readLock } from '../redis/index.js';
import { markStateFailed } from '../redis/index.js';
import { withHandles, type RedisInclusion } from './handles.js';
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
    const running = await queryExecutions(h.db, { status: 'running' });
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
      const changed = await markFailed(h.db, c.id, message, now);
      const action: ReapAction = {
        ...c,
        outcome: changed ? 'reaped' : 'skipped',
        redisState: null,
        removedFromActive: false,
        lock: 'none',
        lockHolder: null,
      };
      result.actions.push(action);
      if (!changed || !h.redis) {
        if (changed) await clearTrackingLock(h.db, c.id, c.workerId, false);
        continue;
      }
      const { client, keys } = h.redis;
      const st = await markStateFailed(client, keys, c.id, message, now);
      action.redisState = st.stateForm;
      action.removedFromActive = st.removedFromActive;
      const lock = await readLock(client, keys, c.id);
      if (lock?.holder) {
        // Owner-checked: the tracking row's worker when it names one (a lock
        // held by a different worker belongs to a retry and is kept);
        // otherwise the holder just read, so a takeover in between survives.
        const expected = c.workerId ?? lock.holder;
        const res = await releaseIfHolder(client, lock.key, expected);
        action.lock = res.outcome === 'released' ? 'released' : res.outcome === 'mismatch' ? 'kept' : 'none';
        action.lockHolder = res.holder ?? lock.holder;
        if (res.outcome !== 'absent') {
          try {
            await insertLockAudit(h.db, {
              executionId: c.id,
              lockKey: lock.key,
              holder: res.holder,
              expectedWorker: expected,
              forced: false,
              reason: message,
              outcome: res.outcome,
              releasedBy: who,
              releasedAt: now,
              source: 'workflow reap',
            });
          } catch (err) {
            result.auditWarnings.push(`lock audit for ${c.id} not recorded: ${(err as Error).message}`);
          }
        }
      }
      if (action.lock !== 'kept') await clearTrackingLock(h.db, c.id, action.lockHolder ?? c.workerId, false);
    }
    return result;
  });
}
