/**
 * Collectors, sampling and agent health checks against real databases:
 * a SQLite file, and a fresh PostgreSQL database when reachable.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import http from 'node:http';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { DEFAULTS } from '../../src/config/defaults.js';
import type { Config } from '../../src/config/schema.js';
import { migrateUp } from '../../src/migrate/index.js';
import { openDatabase } from '../../src/db/index.js';
import { toDbTime } from '../../src/db/time.js';
import type { DatabaseAdapter } from '../../src/db/types.js';
import { createMetrics, type WksMetrics } from '../../src/metrics/registry.js';
import { PlatformCollector } from '../../src/metrics/collect.js';
import { instrumentDb } from '../../src/metrics/instrument.js';
import { sampleMetrics } from '../../src/metrics/sample.js';
import { checkAgents } from '../../src/serve/agent-health.js';
import { createTestDatabase, createTestRedis, type TestDatabase } from '../helpers/services.js';
import { scanKeys } from '../../src/redis/client.js';
import { keyspace } from '../../src/redis/keyspace.js';
import { tmpDir } from '../helpers/tmp.js';

const NOW = new Date('2026-06-01T12:00:00Z');
const ago = (s: number) => new Date(NOW.getTime() - s * 1000);

async function values(
  m: WksMetrics,
  name: string,
): Promise<Array<{ labels: Record<string, unknown>; value: number; metricName?: string }>> {
  return (await m.registry.getSingleMetric(name)!.get()).values as never;
}
async function counter(m: WksMetrics, name: string, labels: Record<string, string>): Promise<number> {
  const v = (await values(m, name)).find((x) => Object.entries(labels).every(([k, val]) => x.labels[k] === val));
  return v?.value ?? 0;
}

let pgdb: TestDatabase | null = null;
beforeAll(async () => {
  pgdb = await createTestDatabase('serve_metrics');
});
afterAll(async () => {
  await pgdb?.drop();
});

function sqliteConfig(): Config {
  const c = structuredClone(DEFAULTS);
  const dir = tmpDir('wks-metrics');
  c.database.path = path.join(dir, 'w.db');
  c.database.backup.storage_path = path.join(dir, 'backups');
  return c;
}
function pgConfig(): Config | null {
  if (!pgdb) return null;
  const c = structuredClone(DEFAULTS);
  c.database.type = 'postgresql';
  Object.assign(c.database.postgresql, {
    enabled: true,
    host: pgdb.host,
    port: pgdb.port,
    database: pgdb.name,
    user: pgdb.user,
    password: 'unused',
  });
  return c;
}

describe.each([
  ['sqlite', sqliteConfig],
  ['postgres', pgConfig],
] as const)('platform metrics on %s', (dialect, makeConfig) => {
  let config: Config;
  let db: DatabaseAdapter;
  let wfA: number;
  let wfB: number;
  const skip = () => !config;

  beforeAll(async () => {
    const c = makeConfig();
    if (!c) return;
    config = c;
    await migrateUp(config);
    db = await openDatabase(config);
    const t = (d: Date) => toDbTime(d, db.dialect);
    wfA = Number(
      (
        await db.query<{ id: number }>(`INSERT INTO workflows (name, status) VALUES ('alpha', 'active') RETURNING id`)
      )[0]!.id,
    );
    wfB = Number(
      (
        await db.query<{ id: number }>(`INSERT INTO workflows (name, status) VALUES ('beta', 'active') RETURNING id`)
      )[0]!.id,
    );
    const ins = async (wf: number, status: string, started: Date | null, completed: Date | null) =>
      Number(
        (
          await db.query<{ id: number }>(
            `INSERT INTO workflow_executions (workflow_id, status, started_at, completed_at) VALUES ($1, $2, $3, $4) RETURNING id`,
            [wf, status, started ? t(started) : null, completed ? t(completed) : null],
          )
        )[0]!.id,
      );
    const e1 = await ins(wfA, 'completed', ago(100), ago(90)); // 10 s
    await ins(wfA, 'completed', ago(100), ago(40)); // 60 s
    await ins(wfB, 'failed', ago(50), ago(45)); // 5 s
    await ins(wfA, 'running', ago(10), null);
    await ins(wfB, 'running', ago(3600), null); // stuck (timeout 300 s)
    await ins(wfB, 'pending', null, null);
    await db.run(
      `INSERT INTO workflow_execution_tracking (execution_id, workflow_id, started_at, priority, lock_acquired_at) VALUES ($1, $2, $3, 1, $4)`,
      [e1, wfA, t(ago(103)), t(ago(100))],
    );
  });
  afterAll(async () => {
    await db?.close();
  });

  it('computes executions, durations, queue wait, active and stuck', async (ctx) => {
    if (skip()) return ctx.skip();
    const m = createMetrics({ processDefaults: false });
    const col = new PlatformCollector(m, config, { db: async () => instrumentDb(db, m), now: () => NOW });
    await col.collect();
    expect(await counter(m, 'workflow_executions_total', { workflow_name: 'alpha', status: 'completed' })).toBe(2);
    expect(await counter(m, 'workflow_executions_total', { workflow_name: 'beta', status: 'failed' })).toBe(1);
    expect(await counter(m, 'active_workflows', {})).toBe(3);
    expect(await counter(m, 'wks_workflows_stuck', {})).toBe(1);
    expect(await counter(m, 'wks_up', { dependency: 'database' })).toBe(1);
    const hist = await values(m, 'workflow_execution_duration_seconds');
    expect(
      hist.find((v) => v.metricName === 'workflow_execution_duration_seconds_sum' && v.labels.workflow_name === 'alpha')
        ?.value,
    ).toBe(70);
    expect(
      hist.find(
        (v) =>
          v.metricName === 'workflow_execution_duration_seconds_bucket' &&
          v.labels.workflow_name === 'alpha' &&
          v.labels.le === 10,
      )?.value,
    ).toBe(1);
    const wait = await values(m, 'workflow_queue_wait_seconds');
    expect(
      wait.find((v) => v.metricName === 'workflow_queue_wait_seconds_sum' && v.labels.priority === '1')?.value,
    ).toBe(3);
    expect(
      await counter(m, 'database_queries_total', { query_type: 'select', table: 'workflow_executions' }),
    ).toBeGreaterThanOrEqual(2);
    expect(await counter(m, 'database_connections', { pool_name: 'wks' })).toBeGreaterThanOrEqual(1);

    // Incremental: a running execution finishes, a new one is added; each is counted once.
    const t = (d: Date) => toDbTime(d, db.dialect);
    await db.run(
      `UPDATE workflow_executions SET status = 'completed', completed_at = $1 WHERE status = 'running' AND workflow_id = $2`,
      [t(ago(1)), wfA],
    );
    await db.run(
      `INSERT INTO workflow_executions (workflow_id, status, started_at, completed_at) VALUES ($1, 'failed', $2, $3)`,
      [wfA, t(ago(30)), t(ago(20))],
    );
    await col.collect();
    await col.collect();
    expect(await counter(m, 'workflow_executions_total', { workflow_name: 'alpha', status: 'completed' })).toBe(3);
    expect(await counter(m, 'workflow_executions_total', { workflow_name: 'alpha', status: 'failed' })).toBe(1);
    expect(await counter(m, 'active_workflows', {})).toBe(2);

    // An id committed out of order (lower than one already read) is still counted, once.
    const maxId = Number((await db.query<{ m: number }>(`SELECT MAX(id) AS m FROM workflow_executions`))[0]!.m);
    await db.run(
      `INSERT INTO workflow_executions (id, workflow_id, status, started_at, completed_at) VALUES ($1, $2, 'completed', $3, $4)`,
      [maxId + 2, wfB, t(ago(9)), t(ago(8))],
    );
    await col.collect();
    await db.run(
      `INSERT INTO workflow_executions (id, workflow_id, status, started_at, completed_at) VALUES ($1, $2, 'completed', $3, $4)`,
      [maxId + 1, wfB, t(ago(7)), t(ago(6))],
    );
    await col.collect();
    await col.collect();
    expect(await counter(m, 'workflow_executions_total', { workflow_name: 'beta', status: 'completed' })).toBe(2);
    if (db.dialect === 'postgres') {
      // Explicit ids do not advance the identity sequence.
      await db.query(
        `SELECT setval(pg_get_serial_sequence('workflow_executions', 'id'), (SELECT MAX(id) FROM workflow_executions))`,
      );
    }

    // A fresh collector (a restarted daemon) reads the history once and agrees.
    const m2 = createMetrics({ processDefaults: false });
    await new PlatformCollector(m2, config, { db: async () => db, now: () => NOW }).collect();
    expect(await counter(m2, 'workflow_executions_total', { workflow_name: 'alpha', status: 'completed' })).toBe(3);
  });

  it('checks agents over HTTP, writes agent_health_checks rows and exports agent_health_status', async (ctx) => {
    if (skip()) return ctx.skip();
    const server = http.createServer((req, res) => {
      if (req.url === '/ok') return res.end('{"status":"ok"}');
      if (req.url === '/degraded') return res.end('{"status":"degraded"}');
      if (req.url === '/slow') return void setTimeout(() => res.end('ok'), 300);
      res.statusCode = 500;
      res.end('no');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const add = (name: string, cfg: unknown, status = 'active') =>
        db.run(`INSERT INTO agents (name, type, status, config_json) VALUES ($1, 'mcp', $2, $3)`, [
          name,
          status,
          cfg === null ? null : JSON.stringify(cfg),
        ]);
      await add(`ok-${dialect}`, { health_url: `${base}/ok` });
      await add(`bad-${dialect}`, { health_url: `${base}/fail` });
      await add(`slow-${dialect}`, { health_url: `${base}/slow`, degraded_after_ms: 100 });
      await add(`deg-${dialect}`, { health_url: `${base}/degraded` });
      await add(`none-${dialect}`, null);
      await add(`off-${dialect}`, { health_url: `${base}/ok` }, 'inactive');
      const checks = await checkAgents(config, db, ago(5));
      const by = Object.fromEntries(checks.map((c) => [c.name, c.status]));
      expect(by).toEqual({
        [`ok-${dialect}`]: 'healthy',
        [`bad-${dialect}`]: 'unhealthy',
        [`slow-${dialect}`]: 'degraded',
        [`deg-${dialect}`]: 'degraded',
      });
      const rows = await db.query<{ n: number }>(`SELECT COUNT(*) AS n FROM agent_health_checks`);
      expect(Number(rows[0]!.n)).toBe(4);
      const stored = await db.query<{ metrics_json: string; error_message: string | null }>(
        `SELECT metrics_json, error_message FROM agent_health_checks`,
      );
      expect(stored.every((r) => !JSON.stringify(r.metrics_json).includes('127.0.0.1'))).toBe(true);

      const m = createMetrics({ processDefaults: false });
      await new PlatformCollector(m, config, { db: async () => db, now: () => NOW }).collect();
      expect(await counter(m, 'agent_health_status', { agent_name: `ok-${dialect}` })).toBe(1);
      expect(await counter(m, 'agent_health_status', { agent_name: `bad-${dialect}` })).toBe(0);
      expect(await counter(m, 'agent_health_status', { agent_name: `deg-${dialect}` })).toBe(0.5);
      // No check at all, or a check older than health.agent_stale_after: 0.
      const later = createMetrics({ processDefaults: false });
      await new PlatformCollector(later, config, {
        db: async () => db,
        now: () => new Date(NOW.getTime() + 3_600_000),
      }).collect();
      expect(await counter(later, 'agent_health_status', { agent_name: `ok-${dialect}` })).toBe(0);
    } finally {
      server.close();
    }
  });

  it('errorRate and longestRunningSeconds come from the incremental view (no scan)', async (ctx) => {
    if (skip()) return ctx.skip();
    let clock = NOW;
    const m = createMetrics({ processDefaults: false });
    const col = new PlatformCollector(m, config, { db: async () => db, now: () => clock, catalog: false });
    expect(col.errorRate(clock, 300_000)).toBeNull();
    await col.collect(); // history: the baseline, not a spike
    expect(col.errorRate(clock, 300_000)).toBeNull();
    expect(col.longestRunningSeconds()).toBe(3600);
    const t = (d: Date) => toDbTime(d, db.dialect);
    for (const status of ['completed', 'failed', 'failed', 'completed']) {
      await db.run(
        `INSERT INTO workflow_executions (workflow_id, status, started_at, completed_at) VALUES ($1, $2, $3, $4)`,
        [wfA, status, t(ago(5)), t(ago(1))],
      );
    }
    clock = new Date(NOW.getTime() + 60_000);
    await col.collect();
    expect(col.errorRate(clock, 300_000)).toBe(0.5);
    clock = new Date(NOW.getTime() + 600_000); // nothing finished in the last 5 minutes
    await col.collect();
    expect(col.errorRate(clock, 300_000)).toBeNull();
  });

  it('samples gauges into the metrics table and prunes by retention', async (ctx) => {
    if (skip()) return ctx.skip();
    const m = createMetrics({ processDefaults: false });
    await new PlatformCollector(m, config, { db: async () => db, now: () => NOW }).collect();
    const first = await sampleMetrics(m, db, { now: ago(7200), retentionMs: 3_600_000 });
    expect(first.inserted).toBeGreaterThan(0);
    const second = await sampleMetrics(m, db, { now: NOW, retentionMs: 3_600_000 });
    expect(second.pruned).toBe(first.inserted);
    const rows = await db.query<{ metric_name: string; metric_value: number }>(
      `SELECT metric_name, metric_value FROM metrics WHERE metric_name = 'active_workflows'`,
    );
    expect(rows).toHaveLength(1);
    expect(Number(rows[0]!.metric_value)).toBe(2);
  });
});

describe('wks_locks_held from Redis', () => {
  it('counts execution locks with SCAN, in the background after the first scrape', async (ctx) => {
    const redis = await createTestRedis('serve_locks');
    if (!redis) return ctx.skip();
    try {
      const ks = keyspace(redis.namespace);
      for (let i = 0; i < 25; i++) await redis.client.set(ks.lock(i), `worker-${i}`, 'EX', 60);
      await redis.client.set(`${redis.namespace}:session:1`, 'x', 'EX', 60); // not a lock
      let clock = NOW;
      const count = async () => {
        let n = 0;
        for await (const b of scanKeys(redis.client, ks.patterns.locks)) n += b.length;
        return n;
      };
      const m = createMetrics({ processDefaults: false });
      const col = new PlatformCollector(m, sqliteConfig(), {
        db: async () => null,
        countLocks: count,
        now: () => clock,
        catalog: false,
        locksTtlMs: 5000,
      });
      await col.collect(); // the first scrape waits for a count
      expect(await counter(m, 'wks_locks_held', {})).toBe(25);
      expect(await counter(m, 'wks_up', { dependency: 'redis' })).toBe(1);
      await redis.client.del(ks.lock(0));
      clock = new Date(NOW.getTime() + 1000);
      await col.collect(); // within the TTL: the last count
      expect(await counter(m, 'wks_locks_held', {})).toBe(25);
      clock = new Date(NOW.getTime() + 6000);
      await col.collect(); // refresh starts in the background
      await new Promise((r) => setTimeout(r, 200));
      expect(await counter(m, 'wks_locks_held', {})).toBe(24);
      // Redis failing: redis marked down, the scrape still succeeds.
      const bad = new PlatformCollector(m, sqliteConfig(), {
        db: async () => null,
        countLocks: async () => Promise.reject(new Error('down')),
        now: () => clock,
        catalog: false,
      });
      await bad.collect();
      expect(await counter(m, 'wks_up', { dependency: 'redis' })).toBe(0);
    } finally {
      await redis.cleanup();
    }
  });
});
