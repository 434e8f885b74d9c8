/**
 * Leader leases against the real Redis, PostgreSQL and filesystem: exactly
 * one leader, owner-checked renewal, takeover after release or expiry.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { hostname } from 'node:os';
import pg from 'pg';
import { DEFAULTS } from '../../src/config/defaults.js';
import type { Config } from '../../src/config/schema.js';
import { RedisLease, PgLease, FileLease, chooseMechanism, type LeaderLease } from '../../src/serve/leader.js';
import { createTestRedis, createTestDatabase, type TestRedis, type TestDatabase } from '../helpers/services.js';
import { tmpDir } from '../helpers/tmp.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(cond: () => boolean, ms: number): Promise<number> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`condition not met within ${ms} ms`);
    await sleep(20);
  }
  return Date.now() - t0;
}

let redis: TestRedis | null = null;
let pgdb: TestDatabase | null = null;
beforeAll(async () => {
  [redis, pgdb] = await Promise.all([createTestRedis('leader'), createTestDatabase('leader')]);
});
afterAll(async () => {
  await redis?.cleanup();
  await pgdb?.drop();
});

function redisConfig(): Config {
  const c = structuredClone(DEFAULTS);
  c.redis.enabled = true;
  c.redis.namespace = redis!.namespace;
  Object.assign(c.redis.connection, { host: redis!.host, port: redis!.port, db: redis!.db });
  return c;
}

describe('chooseMechanism', () => {
  it('prefers Redis, then PostgreSQL, then a file lock', () => {
    const c = structuredClone(DEFAULTS);
    expect(chooseMechanism(c)).toBe('file');
    c.database.type = 'postgresql';
    expect(chooseMechanism(c)).toBe('postgres');
    c.redis.enabled = true;
    expect(chooseMechanism(c)).toBe('redis');
  });
});

describe('Redis lease', () => {
  it('gives exactly one leader; the follower takes over after release', async (ctx) => {
    if (!redis) return ctx.skip();
    const c = redisConfig();
    const a = new RedisLease(c, { leaseMs: 1500, instanceId: 'a' });
    const b = new RedisLease(c, { leaseMs: 1500, instanceId: 'b' });
    try {
      await a.start();
      await b.start();
      expect([a.isLeader(), b.isLeader()]).toEqual([true, false]);
      expect(b.holder()).toBe('a');
      expect(await redis!.client.get(`${redis!.namespace}:leader:serve`)).toBe('a');
      expect(await redis!.client.pttl(`${redis!.namespace}:leader:serve`)).toBeGreaterThan(0);
      await sleep(1800); // longer than the lease: renewal keeps it
      expect([a.isLeader(), b.isLeader()]).toEqual([true, false]);
      await a.stop();
      await until(() => b.isLeader(), 1000);
      expect(await redis!.client.get(`${redis!.namespace}:leader:serve`)).toBe('b');
    } finally {
      await a.stop();
      await b.stop();
    }
  });

  it('takes over an expired lease of a dead owner, and never renews a lease it lost', async (ctx) => {
    if (!redis) return ctx.skip();
    const key = `${redis.namespace}:leader:serve`;
    await redis.client.set(key, 'ghost', 'PX', 600);
    const b = new RedisLease(redisConfig(), { leaseMs: 3000, instanceId: 'b' });
    try {
      await b.start();
      expect(b.isLeader()).toBe(false);
      expect(b.holder()).toBe('ghost');
      const waited = await until(() => b.isLeader(), 2000);
      expect(waited).toBeLessThan(1600);
      // Someone else overwrites the key: b must step down at its next renewal.
      await redis.client.set(key, 'intruder', 'PX', 10_000);
      await until(() => !b.isLeader(), 2500);
      expect(await redis.client.get(key)).toBe('intruder');
    } finally {
      await b.stop();
      expect(await redis.client.get(key)).toBe('intruder'); // release is owner-checked too
      await redis.client.del(key);
    }
  });
});

describe('PostgreSQL advisory lease', () => {
  const cfg = (): Config => {
    const c = structuredClone(DEFAULTS);
    c.database.type = 'postgresql';
    Object.assign(c.database.postgresql, {
      enabled: true,
      host: pgdb!.host,
      port: pgdb!.port,
      database: pgdb!.name,
      user: pgdb!.user,
      password: 'unused',
    });
    return c;
  };

  it('one leader; the follower takes over when the leader connection dies', async (ctx) => {
    if (!pgdb) return ctx.skip();
    const a = new PgLease(cfg(), { leaseMs: 1500, instanceId: 'pg-a' });
    const b = new PgLease(cfg(), { leaseMs: 1500, instanceId: 'pg-b' });
    try {
      await a.start();
      await b.start();
      expect([a.isLeader(), b.isLeader()]).toEqual([true, false]);
      expect(b.holder()).toBe('pg-a');
      // Kill the leader's session as a crash would.
      const admin = new pg.Client({ connectionString: pgdb.url });
      await admin.connect();
      await admin.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'wks-serve-leader pg-a'`,
      );
      await admin.end();
      await until(() => b.isLeader(), 2500);
      await until(() => !a.isLeader(), 2500);
    } finally {
      await a.stop();
      await b.stop();
    }
  });
});

describe('file lease (SQLite, one host)', () => {
  it('one leader; takeover after release and after expiry', async () => {
    const file = path.join(tmpDir('wks-lease'), 'w.db.serve.lock');
    const leases: LeaderLease[] = [];
    try {
      const a = new FileLease(file, { leaseMs: 1200, instanceId: 'fa' });
      const b = new FileLease(file, { leaseMs: 1200, instanceId: 'fb' });
      leases.push(a, b);
      await a.start();
      await b.start();
      expect([a.isLeader(), b.isLeader()]).toEqual([true, false]);
      await sleep(1500);
      expect([a.isLeader(), b.isLeader()]).toEqual([true, false]);
      await a.stop();
      expect(existsSync(file)).toBe(false);
      await until(() => b.isLeader(), 1000);
      await b.stop();

      // A dead owner's stale file is taken over.
      writeFileSync(file, JSON.stringify({ instance: 'dead', pid: 999999, host: 'x', expiresAt: Date.now() - 1 }));
      const c = new FileLease(file, { leaseMs: 1200, instanceId: 'fc' });
      leases.push(c);
      await c.start();
      expect(c.isLeader()).toBe(true);
      await c.stop();

      // An unexpired lease of a process that no longer exists on this host (kill -9) is taken over at once.
      writeFileSync(
        file,
        JSON.stringify({ instance: 'killed', pid: 2 ** 22 + 12345, host: hostname(), expiresAt: Date.now() + 60_000 }),
      );
      const d = new FileLease(file, { leaseMs: 1200, instanceId: 'fd' });
      leases.push(d);
      await d.start();
      expect(d.isLeader()).toBe(true);
      // ...but a live process's lease is respected.
      await d.stop();
      writeFileSync(
        file,
        JSON.stringify({ instance: 'alive', pid: process.pid, host: hostname(), expiresAt: Date.now() + 60_000 }),
      );
      const e = new FileLease(file, { leaseMs: 1200, instanceId: 'fe' });
      leases.push(e);
      await e.start();
      expect(e.isLeader()).toBe(false);
      expect(e.holder()).toBe('alive');
    } finally {
      for (const l of leases) await l.stop();
    }
  });
});
