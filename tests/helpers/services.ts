/**
 * Integration helpers for the real PostgreSQL and Redis on this machine.
 *
 * URLs come from WKS_TEST_PG_URL (default postgres://postgres@127.0.0.1:5432/test)
 * and WKS_TEST_REDIS_URL (default redis://127.0.0.1:6379/15). Each test file
 * gets its own database and its own Redis key namespace, so files can run in
 * parallel. When a service is unreachable the tests skip with a loud message,
 * except under CI=true, where they fail.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { Redis } from 'ioredis';

export const TEST_PG_URL = process.env.WKS_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const TEST_REDIS_URL = process.env.WKS_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/15';

const inCI = (): boolean => process.env.CI === 'true';

function unavailable(service: string, url: string, err: unknown): null {
  const msg = `${service} at ${url} is unreachable (${(err as Error).message})`;
  if (inCI()) throw new Error(`${msg}; CI=true requires it (.ci/run starts it)`);
  console.warn(
    `\n!!! SKIPPING ${service} tests: ${msg}\n!!! Start it (README.md, "Run the tests"; .ci/run starts it) to run them.\n`,
  );
  return null;
}

export interface TestDatabase {
  /** Connection URL of the new, empty database. */
  url: string;
  name: string;
  host: string;
  port: number;
  user: string;
  /** Environment variables that point wks (PG_*) at this database. */
  env: Record<string, string>;
  drop(): Promise<void>;
}

function withDb(url: string, db: string): string {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
}

/** Run one query in `database` on the test server (a fresh connection) and return its rows. */
export async function queryDb<T = Record<string, unknown>>(
  database: string,
  sql: string,
  params: unknown[] = [],
): Promise<T[]> {
  const c = new pg.Client({ connectionString: withDb(TEST_PG_URL, database) });
  await c.connect();
  try {
    return (await c.query(sql, params)).rows as T[];
  } finally {
    await c.end();
  }
}

/**
 * Create a fresh database named `wks_t_<tag>_<random>` for one test file.
 * Returns null (after a loud warning) when PostgreSQL is unreachable outside CI.
 */
export async function createTestDatabase(tag: string): Promise<TestDatabase | null> {
  const admin = new pg.Client({ connectionString: TEST_PG_URL, connectionTimeoutMillis: 3000 });
  try {
    await admin.connect();
  } catch (err) {
    return unavailable('PostgreSQL', TEST_PG_URL, err);
  }
  const name = `wks_t_${tag.replace(/[^a-z0-9_]/gi, '_').toLowerCase()}_${randomBytes(3).toString('hex')}`;
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const u = new URL(TEST_PG_URL);
  const user = decodeURIComponent(u.username || 'postgres');
  return {
    url: withDb(TEST_PG_URL, name),
    name,
    host: u.hostname,
    port: Number(u.port || 5432),
    user,
    env: {
      PG_ENABLED: 'true',
      PG_HOST: u.hostname,
      PG_PORT: u.port || '5432',
      PG_DATABASE: name,
      PG_USER: user,
      // trust auth ignores it, but the platform's schema requires PG_PASSWORD when PG is enabled
      PG_PASSWORD: decodeURIComponent(u.password) || 'unused-by-trust-auth',
    },
    async drop() {
      const c = new pg.Client({ connectionString: TEST_PG_URL });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}

export interface TestRedis {
  client: Redis;
  /** A namespace of its own (use as redis.namespace / REDIS_NAMESPACE). */
  namespace: string;
  host: string;
  port: number;
  db: number;
  /** Environment variables that point wks at this Redis and namespace. */
  env: Record<string, string>;
  /** Delete every key under the namespace and close the client. */
  cleanup(): Promise<void>;
}

/** Connect to the test Redis with a fresh namespace. Returns null (loudly) when unreachable outside CI. */
export async function createTestRedis(tag: string): Promise<TestRedis | null> {
  const u = new URL(TEST_REDIS_URL);
  const db = Number(u.pathname.replace('/', '') || 15);
  const client = new Redis(TEST_REDIS_URL, {
    lazyConnect: true,
    connectTimeout: 2000,
    maxRetriesPerRequest: 1,
    retryStrategy: () => null,
  });
  try {
    await client.connect();
    await client.ping();
  } catch (err) {
    client.disconnect();
    return unavailable('Redis', TEST_REDIS_URL, err);
  }
  const namespace = `wkst_${tag.replace(/[^a-z0-9_]/gi, '_').toLowerCase()}_${randomBytes(3).toString('hex')}`;
  return {
    client,
    namespace,
    host: u.hostname,
    port: Number(u.port || 6379),
    db,
    env: {
      REDIS_ENABLED: 'true',
      REDIS_HOST: u.hostname,
      REDIS_PORT: u.port || '6379',
      REDIS_DB: String(db),
      REDIS_NAMESPACE: namespace,
    },
    async cleanup() {
      let cursor = '0';
      do {
        const [next, keys] = await client.scan(cursor, 'MATCH', `${namespace}:*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length) await client.del(...keys);
      } while (cursor !== '0');
      client.disconnect();
    },
  };
}
