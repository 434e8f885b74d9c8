/**
 * Database reads and writes for workflow inspection, in SQL both dialects
 * accept (`$n` placeholders; timestamps compared in JS via parseDbTime, so
 * SQLite text and PostgreSQL timestamptz behave the same).
 *
 * Tables (the platform's schema, migrations 0001/0002): workflow_executions, workflows,
 * workflow_execution_tracking; 0003 adds lock_release_audit.
 */
import type { DatabaseAdapter } from '../db/index.js';
import { parseDbTime, toDbTime } from '../db/index.js';

export interface TrackingRow {
  userId: string | null;
  startedAt: Date | null;
  estimatedDurationMs: number | null;
  priority: number | null;
  retryCount: number;
  lockAcquiredAt: Date | null;
  workerId: string | null;
}

/** One execution joined with its workflow's name and its tracking row. */
export interface ExecutionRow {
  id: string;
  workflowId: string | null;
  workflowName: string | null;
  status: string | null;
  startedAt: Date | null;
  completedAt: Date | null;
  errorMessage: string | null;
  /** null when the execution has no workflow_execution_tracking row. */
  tracking: TrackingRow | null;
}

const SELECT_EXECUTIONS = `
SELECT e.id AS id, e.workflow_id AS workflow_id, w.name AS workflow_name, e.status AS status,
       e.started_at AS started_at, e.completed_at AS completed_at, e.error_message AS error_message,
       t.execution_id AS t_execution_id, t.user_id AS t_user_id, t.started_at AS t_started_at,
       t.estimated_duration_ms AS t_estimated_duration_ms, t.priority AS t_priority,
       t.retry_count AS t_retry_count, t.lock_acquired_at AS t_lock_acquired_at, t.worker_id AS t_worker_id
FROM workflow_executions e
LEFT JOIN workflows w ON w.id = e.workflow_id
LEFT JOIN workflow_execution_tracking t ON t.execution_id = e.id`;

const str = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));
const num = (v: unknown): number | null => (v === null || v === undefined || v === '' ? null : Number(v));

function toRow(r: Record<string, unknown>): ExecutionRow {
  const hasTracking = r.t_execution_id !== null && r.t_execution_id !== undefined;
  return {
    id: String(r.id),
    workflowId: str(r.workflow_id),
    workflowName: str(r.workflow_name),
    status: str(r.status),
    startedAt: parseDbTime(r.started_at),
    completedAt: parseDbTime(r.completed_at),
    errorMessage: str(r.error_message),
    tracking: hasTracking
      ? {
          userId: str(r.t_user_id),
          startedAt: parseDbTime(r.t_started_at),
          estimatedDurationMs: num(r.t_estimated_duration_ms),
          priority: num(r.t_priority),
          retryCount: num(r.t_retry_count) ?? 0,
          lockAcquiredAt: parseDbTime(r.t_lock_acquired_at),
          workerId: str(r.t_worker_id),
        }
      : null,
  };
}

/** When the execution started: the execution row, else the tracking row. */
export function startedAtOf(row: ExecutionRow): Date | null {
  return row.startedAt ?? row.tracking?.startedAt ?? null;
}

/**
 * Executions, newest first (by id), optionally filtered by status.
 * `limit` 0 means no limit.
 */
export async function queryExecutions(
  db: DatabaseAdapter,
  opts: { status?: string | string[]; limit?: number; ids?: string[] } = {},
): Promise<ExecutionRow[]> {
  const where: string[] = [];
  const params: unknown[] = [];
  const statuses = opts.status === undefined ? [] : Array.isArray(opts.status) ? opts.status : [opts.status];
  if (statuses.length) {
    where.push(`e.status IN (${statuses.map((s) => `$${params.push(s)}`).join(', ')})`);
  }
  if (opts.ids) {
    if (opts.ids.length === 0) return [];
    const ints = opts.ids.filter((i) => /^-?\d+$/.test(i));
    if (ints.length === 0) return [];
    where.push(`e.id IN (${ints.map((i) => `$${params.push(Number(i))}`).join(', ')})`);
  }
  let sql = SELECT_EXECUTIONS;
  if (where.length) sql += `\nWHERE ${where.join(' AND ')}`;
  sql += '\nORDER BY e.id DESC';
  if (opts.limit && opts.limit > 0) {
    params.push(opts.limit);
    sql += ` LIMIT $${params.length}`;
  }
  const rows = await db.query(sql, params);
  return rows.map(toRow);
}

/** Query in chunks (SQLite's bound-parameter limit; PostgreSQL's too). */
export async function queryExecutionsByIds(db: DatabaseAdapter, ids: string[]): Promise<Map<string, ExecutionRow>> {
  const out = new Map<string, ExecutionRow>();
  for (let i = 0; i < ids.length; i += 500) {
    for (const row of await queryExecutions(db, { ids: ids.slice(i, i + 500) })) out.set(row.id, row);
  }
  return out;
}

/** What `lock list` needs per execution: status and the tracking row's lock columns. */
export interface LockRowInfo {
  status: string | null;
  lockAcquiredAt: Date | null;
  workerId: string | null;
}

/**
 * Status and tracking lock columns for many executions (`lock list` calls it
 * once per SCAN batch). The ids travel as ONE parameter, a JSON array read
 * with json_each (SQLite) or a bigint[] (PostgreSQL): a statement with 1000
 * placeholders would be parsed anew for every batch. Non-numeric ids (lock
 * keys that are not execution ids) are skipped.
 */
export async function queryLockRows(db: DatabaseAdapter, ids: string[]): Promise<Map<string, LockRowInfo>> {
  const out = new Map<string, LockRowInfo>();
  const ints = ids.filter((i) => /^\d{1,15}$/.test(i)).map(Number);
  if (ints.length === 0) return out;
  const cols = 'e.id, e.status, t.lock_acquired_at, t.worker_id';
  const rows =
    db.dialect === 'sqlite'
      ? await db.queryRows(
          `SELECT ${cols} FROM json_each($1) j JOIN workflow_executions e ON e.id = j.value
           LEFT JOIN workflow_execution_tracking t ON t.execution_id = e.id`,
          [JSON.stringify(ints)],
        )
      : await db.queryRows(
          `SELECT ${cols} FROM workflow_executions e LEFT JOIN workflow_execution_tracking t ON t.execution_id = e.id
           WHERE e.id = ANY($1::bigint[])`,
          [ints],
        );
  for (const [id, status, lockAcquiredAt, workerId] of rows)
    out.set(String(id), {
      status: str(status),
      lockAcquiredAt: parseDbTime(lockAcquiredAt),
      workerId: str(workerId),
    });
  return out;
}

/** Counts by execution status (null status reported as "unknown"). */
export async function countByStatus(db: DatabaseAdapter): Promise<Record<string, number>> {
  const rows = await db.query<{ status: unknown; n: unknown }>(
    'SELECT status, COUNT(*) AS n FROM workflow_executions GROUP BY status ORDER BY status',
  );
  const out: Record<string, number> = {};
  for (const r of rows) out[r.status === null ? 'unknown' : String(r.status)] = Number(r.n);
  return out;
}

/** retry_count -> number of tracking rows. */
export async function retryDistribution(db: DatabaseAdapter): Promise<Array<{ retryCount: number; count: number }>> {
  const rows = await db.query<{ retry_count: unknown; n: unknown }>(
    'SELECT COALESCE(retry_count, 0) AS retry_count, COUNT(*) AS n FROM workflow_execution_tracking GROUP BY COALESCE(retry_count, 0) ORDER BY 1',
  );
  return rows.map((r) => ({ retryCount: Number(r.retry_count), count: Number(r.n) }));
}

/**
 * Mark one running execution failed. Only a row still `running` changes, so
 * a concurrent completion wins and a second reap is a no-op.
 * Returns true when the row changed.
 */
export async function markFailed(db: DatabaseAdapter, id: string, message: string, now: Date): Promise<boolean> {
  const { changes } = await db.run(
    "UPDATE workflow_executions SET status = 'failed', completed_at = $1, error_message = $2 WHERE id = $3 AND status = 'running'",
    [toDbTime(now, db.dialect), message, Number(id)],
  );
  return changes > 0;
}

/**
 * Clear the tracking row's lock columns. Only when the row still names
 * `holder` as its worker (or names none), unless `force`; so a tracking row
 * already updated by a new owner is left alone. Returns rows changed.
 */
export async function clearTrackingLock(
  db: DatabaseAdapter,
  id: string,
  holder: string | null,
  force: boolean,
): Promise<number> {
  if (!/^-?\d+$/.test(id)) return 0;
  if (force || holder === null) {
    const { changes } = await db.run(
      'UPDATE workflow_execution_tracking SET lock_acquired_at = NULL, worker_id = NULL WHERE execution_id = $1 AND (lock_acquired_at IS NOT NULL OR worker_id IS NOT NULL)',
      [Number(id)],
    );
    return changes;
  }
  const { changes } = await db.run(
    'UPDATE workflow_execution_tracking SET lock_acquired_at = NULL, worker_id = NULL WHERE execution_id = $1 AND (worker_id = $2 OR worker_id IS NULL) AND (lock_acquired_at IS NOT NULL OR worker_id IS NOT NULL)',
    [Number(id), holder],
  );
  return changes;
}

/** One row of lock_release_audit (migration 0003). */
export interface LockAuditEntry {
  executionId: string;
  lockKey: string;
  holder: string | null;
  expectedWorker: string | null;
  forced: boolean;
  reason: string | null;
  outcome: 'released' | 'mismatch' | 'absent';
  releasedBy: string;
  releasedAt: Date;
  /** Which command released it: `lock release`, `workflow reap` or `workflow release`. */
  source: string;
}

/** Append one audit row. Throws DatabaseError when the table is missing (migration 0003 not applied). */
export async function insertLockAudit(db: DatabaseAdapter, e: LockAuditEntry): Promise<void> {
  await db.run(
    `INSERT INTO lock_release_audit (execution_id, lock_key, holder, expected_worker, forced, reason, outcome, released_by, released_at, source)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
    [
      e.executionId,
      e.lockKey,
      e.holder,
      e.expectedWorker,
      db.dialect === 'sqlite' ? (e.forced ? 1 : 0) : e.forced,
      e.reason,
      e.outcome,
      e.releasedBy,
      toDbTime(e.releasedAt, db.dialect),
      e.source,
    ],
  );
}

/** Audit rows for one execution, newest first. */
export async function queryLockAudit(db: DatabaseAdapter, executionId?: string): Promise<LockAuditEntry[]> {
  const rows = await db.query<Record<string, unknown>>(
    executionId === undefined
      ? 'SELECT * FROM lock_release_audit ORDER BY id DESC'
      : 'SELECT * FROM lock_release_audit WHERE execution_id = $1 ORDER BY id DESC',
    executionId === undefined ? [] : [executionId],
  );
  return rows.map((r) => ({
    executionId: String(r.execution_id),
    lockKey: String(r.lock_key),
    holder: str(r.holder),
    expectedWorker: str(r.expected_worker),
    forced: r.forced === true || Number(r.forced) === 1,
    reason: str(r.reason),
    outcome: String(r.outcome) as LockAuditEntry['outcome'],
    releasedBy: String(r.released_by),
    releasedAt: parseDbTime(r.released_at) ?? new Date(0),
    source: String(r.source),
  }));
}
