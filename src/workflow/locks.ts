/**
 * Execution locks joined with the database: `listLocks` (holder, TTL, age
 * from the tracking row, execution status) and `releaseLock` (owner-checked
 * compare-and-delete, or --force with a reason; clears the tracking row's
 * lock columns; audited in lock_release_audit).
 */
import os from 'node:os';
import type { Config } from '../config/index.js';
import type { DatabaseAdapter } from '../db/index.js';
import type { SqliteAdapter } from '../db/index.js';
import { ConflictError, NotFoundError, UsageError, WksError } from '../errors.js';
import { withRedis, requireRedisEnabled } from '../redis/index.js';
import { forceRelease, readLock, releaseIfHolder, scanLocks, type RedisLock } from '../redis/index.js';
import { openDb } from './handles.js';
import { FINISHED } from './inspect.js';
import { formatDuration } from '../util/duration.js';
import {
  clearTrackingLock,
  insertLockAudit,
  queryExecutionsByIds,
  queryLockRows,
  type ExecutionRow,
  type LockAuditEntry,
  type LockRowInfo,
} from './rows.js';

/** A lock as `lock list` shows it. */
export interface LockView extends RedisLock {
  /** From workflow_execution_tracking.lock_acquired_at, when known. */
  acquiredAt: Date | null;
  ageMs: number | null;
  /** workflow_executions.status (null: no row, or the database is not included). */
  status: string | null;
  /** The tracking row's worker_id (differs from `holder` when the lock changed hands). */
  trackingWorker: string | null;
}

/** Whether the database part of a result is present, and why not. */
export interface DbInclusion {
  included: boolean;
  reason: string | null;
}

export interface LockListSummary {
  namespace: string;
  count: number;
  /** Locks whose age is unknown and were therefore not matched by --older-than. */
  unknownAge: number;
  truncated: boolean;
  database: DbInclusion;
}

export interface LockListOptions {
  /** Only locks held longer than this (age from the tracking row). */
  olderThanMs?: number;
  now?: Date;
  /** SCAN cap (default 1,000,000). */
  cap?: number;
  /** SCAN COUNT hint (default 1000). */
  count?: number;
}

async function tryOpenDb(
  config: Config,
  opts: { bulkRead?: boolean } = {},
): Promise<{ db: DatabaseAdapter | null; inclusion: DbInclusion }> {
  try {
    const db = await openDb(config);
    if (opts.bulkRead && db.dialect === 'sqlite') {
      // `lock list` probes one random execution per lock: a 32 MiB page cache
      // and memory-mapped reads halve that on 100k locks (measured in
      // bench/locks.mjs). Per-connection settings; nothing persists.
      const { handle } = db as SqliteAdapter;
      handle.pragma('cache_size = -32000');
      handle.pragma('mmap_size = 268435456');
    }
    return { db, inclusion: { included: true, reason: null } };
  } catch (err) {
    if (err instanceof WksError) return { db: null, inclusion: { included: false, reason: err.message } };
    throw err;
  }
}

/**
 * Stream every lock of the namespace to `onBatch`, one SCAN batch at a time
 * (memory stays proportional to a batch), joined with the database when it
 * is reachable (age, status); otherwise `database.included` is false with
 * the reason. The database is opened only once a batch has locks to join,
 * so an empty namespace never loads the driver (included stays true: there
 * was nothing to leave out). Order is SCAN order.
 * @throws ConfigError when Redis is disabled; DependencyError when unreachable.
 */
export async function streamLocks(
  config: Config,
  opts: LockListOptions,
  onBatch: (locks: LockView[]) => void | Promise<void>,
): Promise<LockListSummary> {
  requireRedisEnabled(config, '`wks lock`');
  const now = opts.now ?? new Date();
  return withRedis(config, async ({ client, keys }) => {
    let opened: Awaited<ReturnType<typeof tryOpenDb>> | null = null;
    const inclusion: DbInclusion = { included: true, reason: null };
    const state = { truncated: false };
    let count = 0;
    let unknownAge = 0;
    try {
      for await (const locks of scanLocks(client, keys, { cap: opts.cap, count: opts.count, state })) {
        if (!opened) {
          opened = await tryOpenDb(config, { bulkRead: true });
          Object.assign(inclusion, opened.inclusion);
        }
        const { db } = opened;
        let rows: Map<string, LockRowInfo> | null = null;
        if (db) {
          try {
            rows = await queryLockRows(
              db,
              locks.map((l) => l.executionId),
            );
          } catch (err) {
            if (!(err instanceof WksError)) throw err;
            inclusion.included = false;
            inclusion.reason = err.message;
          }
        }
        const views: LockView[] = [];
        for (const l of locks) {
          const row = rows?.get(l.executionId) ?? null;
          const acquiredAt = row?.lockAcquiredAt ?? null;
          const ageMs = acquiredAt ? now.getTime() - acquiredAt.getTime() : null;
          if (opts.olderThanMs !== undefined) {
            if (ageMs === null) {
              unknownAge++;
              continue;
            }
            if (ageMs < opts.olderThanMs) continue;
          }
          views.push({
            executionId: l.executionId,
            key: l.key,
            holder: l.holder,
            ttlMs: l.ttlMs,
            acquiredAt,
            ageMs,
            status: row?.status ?? null,
            trackingWorker: row?.workerId ?? null,
          });
        }
        count += views.length;
        if (views.length) await onBatch(views);
      }
    } finally {
      await opened?.db?.close();
    }
    return { namespace: keys.namespace, count, unknownAge, truncated: state.truncated, database: inclusion };
  });
}

/** Every lock, collected (see streamLocks; prefer it for very large keyspaces). */
export async function listLocks(
  config: Config,
  opts: LockListOptions = {},
): Promise<LockListSummary & { locks: LockView[] }> {
  const locks: LockView[] = [];
  const summary = await streamLocks(config, opts, (b) => void locks.push(...b));
  return { ...summary, locks };
}

/** `user@host` of the operator, for the audit trail. */
export function operatorIdentity(): string {
  let user: string;
  try {
    user = os.userInfo().username;
  } catch {
    user = process.env.USER ?? process.env.LOGNAME ?? 'unknown';
  }
  return `${user}@${os.hostname()}`;
}

/** What a release is about to do (shown in the confirmation). */
export interface LockReleasePlan {
  executionId: string;
  key: string;
  holder: string;
  ttlMs: number | null;
  /** The holder the compare-and-delete will require (the --worker, else the holder read now). */
  expectedHolder: string;
  force: boolean;
  reason: string | null;
  /** Execution status, when the database is reachable. */
  status: string | null;
  /**
   * Why this release is allowed without --force: the holder was named
   * (--worker, or shown at the TTY prompt), the execution finished or failed,
   * or this holder's lock is older than the stuck threshold. Null for --force.
   */
  proof: string | null;
}

export interface LockReleaseResult {
  plan: LockReleasePlan;
  outcome: 'released' | 'expired' | 'dry-run' | 'declined';
  trackingRowsCleared: number;
  audit: { recorded: boolean; reason: string | null };
}

export interface LockReleaseOptions {
  /** Release only if held by this worker. */
  worker?: string;
  /** Delete whoever holds it; requires `reason`. */
  force?: boolean;
  reason?: string;
  dryRun?: boolean;
  now?: Date;
  /** Who to record in the audit row (default operatorIdentity()). */
  who?: string;
  /** Called with the plan before anything changes; return false to decline. Default: proceed. */
  confirm?: (plan: LockReleasePlan) => Promise<boolean>;
  /**
   * True when `confirm` really shows the holder to a person (a TTY prompt, not
   * --yes): their answer names the holder, which makes the release safe.
   */
  confirmShowsHolder?: boolean;
  /** Audit source label (default `lock release`). */
  source?: string;
}

async function audit(
  db: DatabaseAdapter | null,
  inclusion: DbInclusion,
  entry: LockAuditEntry,
): Promise<{ recorded: boolean; reason: string | null }> {
  if (!db) return { recorded: false, reason: inclusion.reason ?? 'database not reachable' };
  try {
    await insertLockAudit(db, entry);
    return { recorded: true, reason: null };
  } catch (err) {
    const msg = (err as Error).message;
    return {
      recorded: false,
      reason: /lock_release_audit/i.test(msg) ? 'table lock_release_audit is missing: run `wks migrate up`' : msg,
    };
  }
}

/**
 * Why the lock held by `holder` may be released without --force, or null
 * when nothing proves it stuck. The age criterion counts only when the
 * tracking row names this same holder: a lock that just changed hands (the
 * old one expired, a new worker took it) is never old enough by the
 * previous holder's acquisition time.
 */
function stuckProof(
  config: Config,
  holder: string,
  row: ExecutionRow | null,
  now: Date,
  worker: string | undefined,
  shownAtPrompt: boolean,
): string | null {
  if (worker !== undefined) return `holder named with --worker ${worker}`;
  if (row?.status && FINISHED.has(row.status)) return `execution ${row.status}`;
  const t = row?.tracking;
  const threshold = config.execution.timeouts.default_workflow_timeout_ms;
  if (t?.workerId === holder && t.lockAcquiredAt && now.getTime() - t.lockAcquiredAt.getTime() > threshold)
    return `held by ${holder} for ${formatDuration(now.getTime() - t.lockAcquiredAt.getTime())}, over the stuck threshold (${formatDuration(threshold)})`;
  if (shownAtPrompt) return `holder ${holder} confirmed at the prompt`;
  return null;
}

/** ConflictError (exit 4) for a plain release of a lock nothing proves stuck; names the holder and the pasteable safe form. */
function notProvablyStuck(config: Config, plan: LockReleasePlan, row: ExecutionRow | null, now: Date): ConflictError {
  const t = row?.tracking;
  const age =
    t?.workerId === plan.holder && t.lockAcquiredAt
      ? `held for ${formatDuration(now.getTime() - t.lockAcquiredAt.getTime())}`
      : 'age unknown';
  const why = row ? `execution ${row.status ?? 'status unknown'}, ${age}` : `no execution row, ${age}`;
  return new ConflictError(
    `lock on execution ${plan.executionId} is held by ${plan.holder} and nothing proves it stuck (${why}; stuck threshold ${formatDuration(config.execution.timeouts.default_workflow_timeout_ms)}); left in place`,
    {
      hint: `if ${plan.holder} is really gone: wks lock release ${plan.executionId} --worker ${plan.holder}  (or --force --reason "...")`,
      details: { holder: plan.holder, status: plan.status },
    },
  );
}

/**
 * Release the lock of one execution, owner-checked:
 *  - with `worker`: only when the holder is that worker (else ConflictError, exit 4, lock kept);
 *  - without: only a provably stuck lock (execution finished/failed, or this
 *    holder's lock older than the stuck threshold, or the holder shown at a TTY
 *    prompt: `confirmShowsHolder`), else ConflictError (exit 4) naming the
 *    holder; the compare-and-delete requires that holder when it runs;
 *  - `force` deletes whoever holds it and requires `reason`.
 * Then clears the tracking row's lock columns (only when they still name the
 * released holder, unless forced) and appends an audit row (who, when,
 * what, why). A refused release (holder mismatch) is audited too.
 * @throws UsageError (--force without --reason), NotFoundError (no lock, exit 5),
 *   ConflictError (holder mismatch, exit 4), ConfigError/DependencyError (Redis).
 */
export async function releaseLock(
  config: Config,
  executionId: string,
  opts: LockReleaseOptions = {},
): Promise<LockReleaseResult> {
  if (opts.force && !opts.reason?.trim()) {
    throw new UsageError('--force requires --reason', {
      hint: 'say why, e.g. --force --reason "worker-3 died, INC-1234"',
    });
  }
  requireRedisEnabled(config, '`wks lock release`');
  const now = opts.now ?? new Date();
  return withRedis(config, async ({ client, keys }) => {
    const current = await readLock(client, keys, executionId);
    if (!current?.holder) {
      throw new NotFoundError(`no lock is held for execution ${executionId} (${keys.lock(executionId)})`, {
        hint: '`wks lock list` shows the locks that exist; it may have expired already',
      });
    }
    const { db, inclusion } = await tryOpenDb(config);
    try {
      const row = await readExecutionRow(db, executionId);
      const plan = planRelease(config, executionId, { ...current, holder: current.holder }, row, opts, now);
      const entry = auditEntryFor(plan, opts, now);
      if (!plan.force && opts.worker !== undefined && opts.worker !== current.holder) {
        const a = opts.dryRun
          ? { recorded: false, reason: 'dry run' }
          : await audit(db, inclusion, entry('mismatch', current.holder));
        throw new ConflictError(
          `lock on execution ${executionId} is held by ${current.holder}, not ${opts.worker}; left in place`,
          {
            hint: 'check the worker id (`wks lock list`), or use --force --reason "..." if that worker is gone',
            details: { holder: current.holder, expected: opts.worker, audit: a },
          },
        );
      }
      if (!plan.force && !plan.proof) throw notProvablyStuck(config, plan, row, now);
      if (opts.dryRun)
        return { plan, outcome: 'dry-run', trackingRowsCleared: 0, audit: { recorded: false, reason: 'dry run' } };
      if (opts.confirm && !(await opts.confirm(plan))) {
        return { plan, outcome: 'declined', trackingRowsCleared: 0, audit: { recorded: false, reason: 'declined' } };
      }
      return await performRelease(client, db, inclusion, plan, entry);
    } finally {
      await db?.close();
    }
  });
}

/** The execution's row, or null without a database or when it cannot be read (then only a named holder proves the lock stuck). */
async function readExecutionRow(db: DatabaseAdapter | null, executionId: string): Promise<ExecutionRow | null> {
  if (!db) return null;
  try {
    return (await queryExecutionsByIds(db, [executionId])).get(executionId) ?? null;
  } catch {
    /* without the row, only a named holder proves the lock stuck */
    return null;
  }
}

/** What a release of the current lock would do, and what proves it stuck (null when forced or nothing does). */
function planRelease(
  config: Config,
  executionId: string,
  current: RedisLock & { holder: string },
  row: ExecutionRow | null,
  opts: LockReleaseOptions,
  now: Date,
): LockReleasePlan {
  const proof = opts.force
    ? null
    : stuckProof(config, current.holder, row, now, opts.worker, !!opts.confirmShowsHolder && !opts.dryRun);
  return {
    executionId,
    key: current.key,
    holder: current.holder,
    ttlMs: current.ttlMs,
    expectedHolder: opts.worker ?? current.holder,
    force: !!opts.force,
    reason: opts.reason?.trim() || null,
    status: row?.status ?? null,
    proof,
  };
}

type AuditEntryOf = (outcome: LockAuditEntry['outcome'], holder: string | null) => LockAuditEntry;

/** The audit row of this release attempt (who, when, what, why) for an outcome and the holder it met. */
function auditEntryFor(plan: LockReleasePlan, opts: LockReleaseOptions, now: Date): AuditEntryOf {
  const who = opts.who ?? operatorIdentity();
  const source = opts.source ?? 'lock release';
  return (outcome, holder) => ({
    executionId: plan.executionId,
    lockKey: plan.key,
    holder,
    expectedWorker: opts.worker ?? null,
    forced: plan.force,
    reason: plan.reason,
    outcome,
    releasedBy: who,
    releasedAt: now,
    source,
  });
}

/**
 * The release itself: compare-and-delete (or delete when forced); a lock that
 * changed hands meanwhile is kept (ConflictError, exit 4, audited). Then the
 * tracking row's lock columns are cleared and the release is audited.
 */
async function performRelease(
  client: Parameters<typeof forceRelease>[0],
  db: DatabaseAdapter | null,
  inclusion: DbInclusion,
  plan: LockReleasePlan,
  entry: AuditEntryOf,
): Promise<LockReleaseResult> {
  const res = plan.force
    ? await forceRelease(client, plan.key)
    : await releaseIfHolder(client, plan.key, plan.expectedHolder);
  if (res.outcome === 'mismatch') {
    const a = await audit(db, inclusion, entry('mismatch', res.holder));
    throw new ConflictError(
      `lock on execution ${plan.executionId} changed hands: now held by ${res.holder}, not ${plan.expectedHolder}; left in place`,
      {
        hint: 'the new owner is probably running it; re-run `wks lock list` before trying again',
        details: { holder: res.holder, expected: plan.expectedHolder, audit: a },
      },
    );
  }
  const released = res.outcome === 'released';
  let cleared = 0;
  if (db) {
    try {
      cleared = await clearTrackingLock(db, plan.executionId, released ? res.holder : plan.expectedHolder, plan.force);
    } catch {
      /* reported through audit below when the database misbehaves */
    }
  }
  const a = await audit(db, inclusion, entry(released ? 'released' : 'absent', res.holder ?? plan.expectedHolder));
  return { plan, outcome: released ? 'released' : 'expired', trackingRowsCleared: cleared, audit: a };
}
