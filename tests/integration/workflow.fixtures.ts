/**
 * Shared fixtures for the workflow/lock integration tests: a migrated
 * database (SQLite file or a fresh PostgreSQL database) plus a Redis
 * namespace of its own, and helpers to seed executions in both stores.
 */
import path from 'node:path';
import type { Redis } from 'ioredis';
import { loadConfig } from '../../src/config/loader.js';
import type { Config } from '../../src/config/schema.js';
import { openDatabase } from '../../src/db/index.js';
import { toDbTime } from '../../src/db/time.js';
import type { DatabaseAdapter } from '../../src/db/types.js';
import { migrateUp } from '../../src/migrate/index.js';
import { keyspace, type Keyspace } from '../../src/redis/keyspace.js';
import type { TestDatabase, TestRedis } from '../helpers/services.js';
import { tmpDir } from '../helpers/tmp.js';

/** Fixed "now" for every test: stuck detection is a function of it. */
export const NOW = new Date('2026-06-01T12:00:00Z');
export const minutesAgo = (m: number): Date => new Date(NOW.getTime() - m * 60_000);

export interface Env {
  config: Config;
  env: Record<string, string>;
  cwd: string;
  keys: Keyspace;
  redis: Redis;
  db(): Promise<DatabaseAdapter>;
}

/** Build a config (via the real loader) for SQLite or PostgreSQL + the test Redis, and migrate the database. */
export async function makeEnv(
  kind: 'sqlite' | 'postgres',
  redis: TestRedis,
  pgdb: TestDatabase | null,
  extra: Record<string, string> = {},
): Promise<Env> {
  const cwd = tmpDir('wks-wf');
  const env: Record<string, string> = {
    ...redis.env,
    WORKFLOW_TIMEOUT_MS: '300000',
    ...(kind === 'sqlite' ? { DATABASE_PATH: path.join(cwd, 'wks.db') } : pgdb!.env),
    ...extra,
  };
  const { config } = loadConfig({ env, cwd });
  await migrateUp(config, {});
  return {
    config,
    env,
    cwd,
    keys: keyspace(redis.namespace),
    redis: redis.client,
    db: () => openDatabase(config),
  };
}

export interface ExecSpec {
  id: number;
  status: 'pending' | 'running' | 'completed' | 'failed';
  startedAt?: Date | null;
  completedAt?: Date | null;
  tracking?: { worker?: string | null; lockAcquiredAt?: Date | null; retryCount?: number; estimatedMs?: number } | null;
}

/** Insert a workflow (id 1) and the given executions (+ tracking rows). */
export async function seedDb(e: Env, specs: ExecSpec[]): Promise<void> {
  const db = await e.db();
  try {
    const t = (d: Date | null | undefined) => (d ? toDbTime(d, db.dialect) : null);
    const have = await db.query('SELECT id FROM workflows WHERE id = 1');
    if (have.length === 0)
      await db.run("INSERT INTO workflows (id, name, status) VALUES (1, 'nightly-report', 'active')");
    for (const s of specs) {
      await db.run(
        'INSERT INTO workflow_executions (id, workflow_id, status, started_at, completed_at) VALUES ($1, 1, $2, $3, $4)',
        [s.id, s.status, t(s.startedAt === undefined ? minutesAgo(1) : s.startedAt), t(s.completedAt)],
      );
      if (s.tracking !== null && s.tracking !== undefined) {
        await db.run(
          'INSERT INTO workflow_execution_tracking (execution_id, workflow_id, started_at, retry_count, lock_acquired_at, worker_id, estimated_duration_ms) VALUES ($1, 1, $2, $3, $4, $5, $6)',
          [
            s.id,
            t(s.startedAt ?? minutesAgo(1)),
            s.tracking.retryCount ?? 0,
            t(s.tracking.lockAcquiredAt),
            s.tracking.worker ?? null,
            s.tracking.estimatedMs ?? null,
          ],
        );
      }
    }
  } finally {
    await db.close();
  }
}

/** Seed Redis state for one execution (hash form by default, or the legacy JSON string). */
export async function seedState(
  e: Env,
  id: number | string,
  fields: { status: string; progress?: number; startedAt?: Date; step?: string },
  form: 'hash' | 'json' = 'hash',
): Promise<void> {
  const key = e.keys.workflow(id);
  const started = (fields.startedAt ?? minutesAgo(1)).getTime();
  if (form === 'hash') {
    await e.redis.hset(key, {
      status: fields.status,
      progress: String(fields.progress ?? 10),
      current_step: fields.step ?? 'extract',
      data: '{"rows":3}',
      started_at: String(started),
    });
    await e.redis.expire(key, 3600);
  } else {
    await e.redis.set(
      key,
      JSON.stringify({
        status: fields.status,
        progress: fields.progress ?? 10,
        currentStep: fields.step ?? 'extract',
        startedAt: started,
        data: { rows: 3 },
      }),
      'EX',
      3600,
    );
  }
}

export async function clearRedis(e: Env): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await e.redis.scan(cursor, 'MATCH', `${e.keys.namespace}:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length) await e.redis.del(...keys);
  } while (cursor !== '0');
}

/** A snapshot of everything both stores hold, to prove a dry run changed nothing. */
export async function snapshot(e: Env): Promise<unknown> {
  const db = await e.db();
  try {
    const exec = await db.query('SELECT * FROM workflow_executions ORDER BY id');
    const tracking = await db.query('SELECT * FROM workflow_execution_tracking ORDER BY execution_id');
    const audit = await db.query('SELECT * FROM lock_release_audit ORDER BY id');
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await e.redis.scan(cursor, 'MATCH', `${e.keys.namespace}:*`, 'COUNT', 1000);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0');
    keys.sort();
    const redis: Record<string, unknown> = {};
    for (const k of keys) {
      const type = await e.redis.type(k);
      redis[k] =
        type === 'hash'
          ? await e.redis.hgetall(k)
          : type === 'set'
            ? (await e.redis.smembers(k)).sort()
            : await e.redis.get(k);
    }
    return JSON.parse(JSON.stringify({ exec, tracking, audit, redis }));
  } finally {
    await db.close();
  }
}

/** Empty the tables these tests write, and the namespace. */
export async function reset(e: Env): Promise<void> {
  await clearRedis(e);
  const db = await e.db();
  try {
    await db.run('DELETE FROM lock_release_audit');
    await db.run('DELETE FROM workflow_execution_tracking');
    await db.run('DELETE FROM workflow_executions');
  } finally {
    await db.close();
  }
}
