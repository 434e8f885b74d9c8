import { describe, it, expect, beforeAll, beforeEach, afterAll } from 'vitest';
import { createTestDatabase, createTestRedis } from '../helpers/services.js';
import { listExecutions, showExecution, workflowStats, findDiscrepancies } from '../../src/workflow/inspect.js';
import { reapStale } from '../../src/workflow/reap.js';
import { loadConfig } from '../../src/config/loader.js';
import { NotFoundError } from '../../src/errors.js';
import { makeEnv, seedDb, seedState, snapshot, reset, minutesAgo, NOW, type Env } from './workflow.fixtures.js';

const redis = await createTestRedis('workflow');
const pgdb = redis ? await createTestDatabase('workflow') : null;
afterAll(async () => {
  await redis?.cleanup();
  await pgdb?.drop();
});

/** The standard scene: one execution per discrepancy kind, plus healthy ones. */
async function scene(e: Env): Promise<void> {
  await seedDb(e, [
    { id: 1, status: 'running', startedAt: minutesAgo(1), tracking: { worker: 'w1', lockAcquiredAt: minutesAgo(1) } },
    {
      id: 2,
      status: 'running',
      startedAt: minutesAgo(10),
      tracking: { worker: 'w2', lockAcquiredAt: minutesAgo(10), retryCount: 3 },
    },
    { id: 3, status: 'running', startedAt: minutesAgo(2), tracking: { worker: 'w3' } },
    {
      id: 4,
      status: 'completed',
      startedAt: minutesAgo(30),
      completedAt: minutesAgo(20),
      tracking: { worker: 'w4', lockAcquiredAt: minutesAgo(30), retryCount: 1 },
    },
    { id: 5, status: 'failed', startedAt: minutesAgo(30), completedAt: minutesAgo(25) },
    { id: 6, status: 'pending', startedAt: null, tracking: null },
  ]);
  await seedState(e, 1, { status: 'running', progress: 40 });
  await seedState(e, 2, { status: 'running', progress: 50, startedAt: minutesAgo(10) }, 'json');
  await e.redis.sadd(e.keys.activeExecutions, '1', '2', '3', '5', '99');
  await e.redis.set(e.keys.lock(1), 'w1', 'EX', 300);
  await e.redis.set(e.keys.lock(2), 'w2', 'EX', 300);
  await e.redis.set(e.keys.lock(4), 'w4', 'EX', 300);
}

const kinds = (list: Array<{ kind: string; executionId: string }>) =>
  list.map((d) => `${d.kind}:${d.executionId}`).sort();

describe.skipIf(!redis).each(['sqlite', 'postgres'] as const)('workflow inspection on %s', (kind) => {
  let e: Env;
  beforeAll(async () => {
    if (kind === 'postgres' && !pgdb) return;
    e = await makeEnv(kind, redis!, pgdb);
  });
  beforeEach(async (ctx) => {
    if (kind === 'postgres' && !pgdb) ctx.skip();
    await reset(e);
  });

  it('finds every discrepancy kind', async () => {
    await scene(e);
    const res = await findDiscrepancies(e.config, { now: NOW });
    expect(res.redis.included).toBe(true);
    expect(kinds(res.discrepancies)).toEqual(
      [
        'running_past_timeout:2',
        'running_without_redis_state:3',
        'active_without_db_row:99',
        'finished_in_active_set:5',
        'lock_on_finished_execution:4',
      ].sort(),
    );
  });

  it('reports a lock for an execution the database does not have, and a status mismatch', async () => {
    await seedDb(e, [{ id: 7, status: 'running', startedAt: minutesAgo(1), tracking: { worker: 'w7' } }]);
    await seedState(e, 7, { status: 'completed', progress: 100 });
    await e.redis.set(e.keys.lock(123), 'ghost');
    const res = await findDiscrepancies(e.config, { now: NOW });
    expect(kinds(res.discrepancies)).toEqual(['lock_without_db_row:123', 'status_mismatch:7']);
  });

  it('lists executions joined with Redis state (hash and legacy JSON) and filters --stuck', async () => {
    await scene(e);
    const all = await listExecutions(e.config, { now: NOW });
    expect(all.executions.map((x) => x.id)).toEqual(['6', '5', '4', '3', '2', '1']);
    const one = all.executions.find((x) => x.id === '1')!;
    expect(one.workflowName).toBe('nightly-report');
    expect(one.redis?.state?.form).toBe('hash');
    expect(one.redis?.state?.progress).toBe(40);
    expect(one.redis?.active).toBe(true);
    expect(one.redis?.lock?.holder).toBe('w1');
    expect(one.ageMs).toBe(60_000);
    const two = all.executions.find((x) => x.id === '2')!;
    expect(two.redis?.state?.form).toBe('json');
    expect(two.redis?.state?.currentStep).toBe('extract');
    expect(two.pastTimeout).toBe(true);
    expect(two.tracking?.retryCount).toBe(3);

    const stuck = await listExecutions(e.config, { now: NOW, stuck: true });
    expect(stuck.executions.map((x) => x.id).sort()).toEqual(['2', '3']);
    const running = await listExecutions(e.config, { now: NOW, status: 'running', limit: 2 });
    expect(running.executions.map((x) => x.id)).toEqual(['3', '2']);
  });

  it('shows one execution: rows, state, active set, lock + TTL, age, progress and ETA', async () => {
    await scene(e);
    const d = await showExecution(e.config, '1', { now: NOW });
    expect(d.execution?.redis?.lock?.holder).toBe('w1');
    expect(d.execution?.redis?.lock?.ttlMs).toBeGreaterThan(290_000);
    expect(d.execution?.redis?.active).toBe(true);
    expect(d.execution?.progress).toBe(40);
    // 60 s elapsed at 40% -> 150 s in total
    expect(d.execution?.estimatedCompletion?.toISOString()).toBe(
      new Date(minutesAgo(1).getTime() + 150_000).toISOString(),
    );
    expect(d.discrepancies).toEqual([]);
    const orphan = await showExecution(e.config, '99', { now: NOW });
    expect(orphan.execution).toBeNull();
    expect(orphan.discrepancies.map((x) => x.kind)).toEqual(['active_without_db_row']);
    await expect(showExecution(e.config, '4242', { now: NOW })).rejects.toBeInstanceOf(NotFoundError);
  });

  it('stats: counts, concurrency, oldest running, past timeout, retries', async () => {
    await scene(e);
    const s = await workflowStats(e.config, { now: NOW });
    expect(s.byStatus).toEqual({ completed: 1, failed: 1, pending: 1, running: 3 });
    expect(s.running).toBe(3);
    expect(s.activeSet).toBe(5);
    expect(s.maxConcurrent).toBe(50);
    expect(s.oldestRunning?.id).toBe('2');
    expect(s.pastTimeout).toBe(1);
    expect(s.retries).toEqual([
      { retryCount: 0, count: 2 },
      { retryCount: 1, count: 1 },
      { retryCount: 3, count: 1 },
    ]);
    expect(s.retriesExhausted).toBe(1);
  });

  it('reap --dry-run changes nothing', async () => {
    await scene(e);
    const before = await snapshot(e);
    const res = await reapStale(e.config, { dryRun: true, now: NOW });
    expect(res.candidates.map((c) => c.id)).toEqual(['2']);
    expect(res.actions).toEqual([]);
    expect(await snapshot(e)).toEqual(before);
  });

  it('reap marks stale executions failed, updates Redis, releases the lock owner-checked, and is idempotent', async () => {
    await scene(e);
    // Execution 8: stale, but its lock now belongs to another worker (a retry): it must survive.
    await seedDb(e, [
      {
        id: 8,
        status: 'running',
        startedAt: minutesAgo(60),
        tracking: { worker: 'w8', lockAcquiredAt: minutesAgo(60) },
      },
    ]);
    await seedState(e, 8, { status: 'running' });
    await e.redis.sadd(e.keys.activeExecutions, '8');
    await e.redis.set(e.keys.lock(8), 'w8-retry', 'EX', 300);

    const res = await reapStale(e.config, { now: NOW, who: 'tester@host' });
    expect(res.actions.map((a) => [a.id, a.outcome, a.lock, a.redisState]).sort()).toEqual([
      ['2', 'reaped', 'released', 'json'],
      ['8', 'reaped', 'kept', 'hash'],
    ]);
    const db = await e.db();
    try {
      const rows = await db.query<{ id: unknown; status: string; error_message: string }>(
        'SELECT id, status, error_message FROM workflow_executions WHERE id IN (2, 8) ORDER BY id',
      );
      expect(rows.map((r) => r.status)).toEqual(['failed', 'failed']);
      expect(rows[0]!.error_message).toMatch(/reaped by wks \(tester@host\)/);
      const t = await db.query<{ worker_id: unknown; lock_acquired_at: unknown }>(
        'SELECT worker_id, lock_acquired_at FROM workflow_execution_tracking WHERE execution_id = 2',
      );
      expect(t[0]).toEqual({ worker_id: null, lock_acquired_at: null });
      const t8 = await db.query<{ worker_id: unknown }>(
        'SELECT worker_id FROM workflow_execution_tracking WHERE execution_id = 8',
      );
      expect(t8[0]!.worker_id).toBe('w8');
      const audit = await db.query<{ execution_id: string; outcome: string; source: string }>(
        'SELECT execution_id, outcome, source FROM lock_release_audit ORDER BY execution_id',
      );
      expect(audit.map((a) => [a.execution_id, a.outcome, a.source])).toEqual([
        ['2', 'released', 'workflow reap'],
        ['8', 'mismatch', 'workflow reap'],
      ]);
    } finally {
      await db.close();
    }
    expect(JSON.parse((await e.redis.get(e.keys.workflow(2)))!).status).toBe('failed');
    expect(await e.redis.ttl(e.keys.workflow(2))).toBeGreaterThan(3000);
    expect(await e.redis.hget(e.keys.workflow(8), 'status')).toBe('failed');
    expect(await e.redis.sismember(e.keys.activeExecutions, '2')).toBe(0);
    expect(await e.redis.sismember(e.keys.activeExecutions, '1')).toBe(1);
    expect(await e.redis.get(e.keys.lock(2))).toBeNull();
    expect(await e.redis.get(e.keys.lock(8))).toBe('w8-retry');
    expect(await e.redis.get(e.keys.lock(1))).toBe('w1');

    const again = await reapStale(e.config, { now: NOW });
    expect(again.candidates).toEqual([]);
    expect(again.actions).toEqual([]);
  });

  it('with Redis disabled the database-only views work and say Redis state is not included', async () => {
    await scene(e);
    const { config } = loadConfig({ env: { ...e.env, REDIS_ENABLED: 'false' }, cwd: e.cwd });
    const list = await listExecutions(config, { now: NOW });
    expect(list.redis.included).toBe(false);
    expect(list.redis.reason).toMatch(/REDIS_ENABLED=false/);
    expect(list.executions).toHaveLength(6);
    expect(list.executions.every((x) => x.redis === null)).toBe(true);
    expect(kinds(list.discrepancies)).toEqual(['running_past_timeout:2']);
    const stats = await workflowStats(config, { now: NOW });
    expect(stats.activeSet).toBeNull();
    const dry = await reapStale(config, { now: NOW, dryRun: true });
    expect(dry.candidates.map((c) => c.id)).toEqual(['2']);
  });
});
