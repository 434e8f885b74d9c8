/**
 * The integration helpers (tests/helpers/services.ts) against the real PostgreSQL and Redis:
 * two test files get distinct databases and Redis namespaces, what one writes the other does
 * not see, and drop()/cleanup() remove everything they created (and nothing else).
 */
import { describe, it, expect, afterAll, vi } from 'vitest';
import pg from 'pg';
import { Redis } from 'ioredis';
import {
  createTestDatabase,
  createTestRedis,
  TEST_PG_URL,
  TEST_REDIS_URL,
  type TestDatabase,
  type TestRedis,
} from '../helpers/services.js';

// Two "files" asking with the same tag, as two test files with the same name would.
const dbA = await createTestDatabase('services');
const dbB = dbA ? await createTestDatabase('services') : null;
const redisA = await createTestRedis('services');
const redisB = redisA ? await createTestRedis('services') : null;

afterAll(async () => {
  // Idempotent: the tests below drop and clean up themselves; this covers a failure midway.
  await dbA?.drop();
  await dbB?.drop();
  if (redisA?.client.status === 'ready') await redisA.cleanup();
  if (redisB?.client.status === 'ready') await redisB.cleanup();
});

async function query<T extends pg.QueryResultRow>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<T>(sql, params)).rows;
  } finally {
    await c.end();
  }
}

const databaseExists = async (name: string) =>
  (await query<{ n: number }>(TEST_PG_URL, 'SELECT count(*)::int AS n FROM pg_database WHERE datname = $1', [name]))[0]
    .n === 1;

const publicTables = async (db: TestDatabase) =>
  (
    await query<{ tablename: string }>(db.url, 'SELECT tablename FROM pg_tables WHERE schemaname = $1 ORDER BY 1', [
      'public',
    ])
  ).map((r) => r.tablename);

async function keysOf(client: Redis, namespace: string): Promise<string[]> {
  const out: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `${namespace}:*`, 'COUNT', 1000);
    cursor = next;
    out.push(...keys);
  } while (cursor !== '0');
  return out.sort();
}

describe.skipIf(!dbA || !dbB)('PostgreSQL test databases', () => {
  const a = dbA as TestDatabase;
  const b = dbB as TestDatabase;

  it('each file gets its own fresh, empty database, pointed at by its env', async () => {
    expect(a.name).not.toBe(b.name);
    expect(a.name).toMatch(/^wks_t_services_[0-9a-f]{6}$/);
    for (const db of [a, b]) {
      const [row] = await query<{ name: string }>(db.url, 'SELECT current_database() AS name');
      expect(row.name).toBe(db.name);
      expect(db.env.PG_DATABASE).toBe(db.name);
      expect(await publicTables(db)).toEqual([]);
    }
  });

  it('what one file writes, the other does not see', async () => {
    await query(a.url, 'CREATE TABLE only_in_a (id int)');
    await query(a.url, 'INSERT INTO only_in_a VALUES (1)');
    expect(await publicTables(a)).toEqual(['only_in_a']);
    expect(await publicTables(b)).toEqual([]);
  });

  it('drop() removes the database, even with a connection still open, and only that one', async () => {
    const open = new pg.Client({ connectionString: a.url });
    await open.connect();
    open.on('error', () => {}); // the forced drop terminates it
    expect(await databaseExists(a.name)).toBe(true);
    await a.drop();
    expect(await databaseExists(a.name)).toBe(false);
    await open.end().catch(() => {});
    expect(await databaseExists(b.name)).toBe(true);
    await b.drop();
    expect(await databaseExists(b.name)).toBe(false);
  });
});

describe.skipIf(!redisA || !redisB)('Redis test namespaces', () => {
  const a = redisA as TestRedis;
  const b = redisB as TestRedis;

  it('each file gets its own namespace, pointed at by its env', () => {
    expect(a.namespace).not.toBe(b.namespace);
    expect(a.namespace).toMatch(/^wkst_services_[0-9a-f]{6}$/);
    expect(a.env.REDIS_NAMESPACE).toBe(a.namespace);
    expect(b.env.REDIS_NAMESPACE).toBe(b.namespace);
  });

  it("what one file writes under its namespace, the other's does not hold", async () => {
    await a.client.set(`${a.namespace}:probe`, 'a');
    await b.client.set(`${b.namespace}:probe`, 'b');
    expect(await keysOf(a.client, a.namespace)).toEqual([`${a.namespace}:probe`]);
    expect(await keysOf(b.client, b.namespace)).toEqual([`${b.namespace}:probe`]);
    expect(await b.client.get(`${b.namespace}:probe`)).toBe('b');
  });

  it('cleanup() deletes every key of its namespace (more than one SCAN page), closes its client, and spares others', async () => {
    const pipe = a.client.pipeline();
    for (let i = 0; i < 2500; i++) pipe.set(`${a.namespace}:k:${i}`, String(i));
    pipe.hset(`${a.namespace}:workflow:1`, 'status', 'running');
    await pipe.exec();
    // A key that shares the namespace's text but is not under it (no ':' after the namespace).
    const lookalike = `${a.namespace}x:probe`;
    await b.client.set(lookalike, 'keep');

    await a.cleanup();
    await vi.waitFor(() => expect(a.client.status).toBe('end'), { timeout: 10_000 });

    const check = new Redis(TEST_REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await check.connect();
    try {
      expect(await keysOf(check, a.namespace)).toEqual([]);
      expect(await check.get(lookalike)).toBe('keep');
      expect(await keysOf(check, b.namespace)).toEqual([`${b.namespace}:probe`]);
      await check.del(lookalike);
      await b.cleanup();
      expect(await keysOf(check, b.namespace)).toEqual([]);
    } finally {
      check.disconnect();
    }
  });
});
