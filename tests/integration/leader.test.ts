/**
 * Leader leases against the real PostgreSQL and filesystem: exactly
 * one leader, owner-checked renewal, takeover after release or expiry.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { hostname } from 'node:os';
import pg from 'pg';
import { DEFAULTS } from '../../src/config/defaults.js';
import type { Config } from '../../src/config/schema.js';
import { PgLease, FileLease, chooseMechanism, type LeaderLease } from '../../src/serve/leader.js';
import { createTestDatabase, type TestDatabase } from '../helpers/services.js';
import { tmpDir } from '../helpers/tmp.js';
import { freePort } from '../helpers/net.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(cond: () => boolean, ms: number): Promise<number> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`condition not met within ${ms} ms`);
    await sleep(20);
  }
  return Date.now() - t0;
}

let pgdb: TestDatabase | null = null;
beforeAll(async () => {
  pgdb = await createTestDatabase('leader');
});
afterAll(async () => {
  await pgdb?.drop();
});

describe('chooseMechanism', () => {
  it('uses the database being backed up, never Redis (a Redis outage must not stop scheduled backups)', () => {
    const c = structuredClone(DEFAULTS);
    c.redis.enabled = true;
    expect(chooseMechanism(c)).toBe('file');
    c.database.type = 'postgresql';
    expect(chooseMechanism(c)).toBe('postgres');
  });
});

describe('lease store down', () => {
  it('logs the outage once (plus a periodic summary), not once per poll', async () => {
    const lines: string[] = [];
    const c = structuredClone(DEFAULTS);
    c.database.type = 'postgresql';
    Object.assign(c.database.postgresql, { host: '127.0.0.1', port: await freePort(), database: 'x', user: 'x' });
    c.database.pooling.connection_timeout_ms = 500;
    // Polls every 100 ms; a summary every 600 ms.
    const lease = new PgLease(c, {
      leaseMs: 1000,
      instanceId: 'a',
      outageSummaryMs: 600,
      log: (level, message) => lines.push(`${level} ${message}`),
    });
    try {
      await lease.start();
      await sleep(1500);
      expect(lease.isLeader()).toBe(false);
    } finally {
      await lease.stop();
    }
    const first = lines.filter((l) => /^warn the leader lease's database is unavailable$/.test(l));
    const summaries = lines.filter((l) =>
      /^warn the leader lease's database is unavailable \(repeated \d+ times in the last/.test(l),
    );
    expect(first, lines.join('\n')).toHaveLength(1);
    expect(summaries.length, lines.join('\n')).toBeGreaterThanOrEqual(1);
    expect(summaries.length, lines.join('\n')).toBeLessThanOrEqual(3);
    expect(lines.length, lines.join('\n')).toBeLessThanOrEqual(4);
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
