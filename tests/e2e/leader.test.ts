/**
 * Two `wks serve` instances with Redis enabled but down (REDIS_PORT points at
 * a closed port): the leader lease lives with the database (a file lock on
 * SQLite, an advisory lock on PostgreSQL), so exactly one instance leads and
 * the scheduled backups keep running, each tick once. When the leader is
 * killed (SIGKILL, no release) the follower takes over and the backups go on.
 * Redis being down is logged on a change of state, not once per retry.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { runWks, baseEnv, WKS_BIN } from '../helpers/cli.js';
import { freePort } from '../helpers/net.js';
import { createTestDatabase, type TestDatabase } from '../helpers/services.js';
import { tmpDir } from '../helpers/tmp.js';

const LEASE_MS = 2000;
/** Every 2 seconds (croner's 6-field form). */
const TICK_MS = 2000;
const SCHEDULE = '*/2 * * * * *';

interface Instance {
  child: ChildProcess;
  url: string;
  stderr: () => string;
  exited: Promise<number | null>;
}

async function start(args: string[], env: Record<string, string>, cwd: string): Promise<Instance> {
  const port = await freePort();
  const child = spawn(process.execPath, [WKS_BIN, ...args, 'serve', '--port', String(port)], {
    cwd,
    env: baseEnv(env),
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (d) => (err += d));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const t0 = Date.now();
  while (!/serving http:\/\//.test(err)) {
    if (child.exitCode !== null || Date.now() - t0 > 15_000) throw new Error(`wks serve did not start:\n${err}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  return { child, url: `http://127.0.0.1:${port}`, stderr: () => err, exited };
}

async function leaderOf(i: Instance): Promise<{ leader: boolean; role: string; instance: string; mechanism: string }> {
  const ready = (await (await fetch(`${i.url}/ready`)).json()) as any;
  return {
    leader: ready.leader.leader,
    role: ready.leader.role,
    instance: ready.leader.instance,
    mechanism: ready.leader.mechanism,
  };
}

/** The scheduled backups in the catalog, by created_at. */
function scheduledBackups(dir: string): { id: string; created: number; host: string }[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json') && !f.endsWith('.verify.json'))
    .map((f) => JSON.parse(readFileSync(path.join(dir, f), 'utf8')))
    .filter((m) => m.type === 'scheduled')
    .map((m) => ({ id: m.id, created: Date.parse(m.created_at), host: m.hostname }))
    .sort((a, b) => a.created - b.created);
}

async function until<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, ms: number): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v as T;
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function closedPort(): Promise<string> {
  return String(await freePort()); // free a moment ago, and nothing listens on it
}

async function scenario(env: Record<string, string>, dir: string, mechanism: string): Promise<void> {
  const backups = env.BACKUP_STORAGE_PATH!;
  const cfg = path.join(dir, 'phase4-config.yml');
  writeFileSync(cfg, `phase4:\n  version: "4.0.0"\n  serve:\n    leader_lease_ms: ${LEASE_MS}\n`);
  expect((await runWks(['migrate', 'up', '--no-backup'], { env, cwd: dir })).code).toBe(0);
  const a = await start(['-c', cfg], env, dir);
  const b = await start(['-c', cfg], env, dir);
  try {
    const [la, lb] = await Promise.all([leaderOf(a), leaderOf(b)]);
    expect([la.leader, lb.leader].filter(Boolean)).toHaveLength(1);
    expect(la.mechanism).toBe(mechanism);
    const [leader, follower] = la.leader ? [a, b] : [b, a];
    // Each says what it is: in /ready, and once in its log (not once per lease poll).
    expect([la, lb].map((x) => x.role).sort()).toEqual(['follower', 'leader']);

    // Scheduled backups run while Redis is down.
    await until('3 scheduled backups', () => scheduledBackups(backups).length >= 3 || undefined, 30_000);
    expect(follower.stderr().match(/role: follower/g), follower.stderr()).toHaveLength(1);
    expect(leader.stderr().match(/role: leader/g), leader.stderr()).toHaveLength(1);

    // Kill the leader without a release: the follower takes over and the backups go on.
    leader.child.kill('SIGKILL');
    await leader.exited;
    const killedAt = Date.now();
    await until('the follower to lead', async () => (await leaderOf(follower)).leader || undefined, LEASE_MS * 5);
    await until(
      'a scheduled backup by the new leader',
      () => scheduledBackups(backups).some((x) => x.created > killedAt) || undefined,
      30_000,
    );
    expect(follower.stderr()).toMatch(new RegExp(`became leader \\(${mechanism} lease\\)`));
    expect((await leaderOf(follower)).role).toBe('leader');
  } finally {
    for (const i of [a, b]) if (i.child.exitCode === null && i.child.signalCode === null) i.child.kill('SIGTERM');
    await Promise.all([a.exited, b.exited]);
  }

  // Each tick ran at most once across both instances (the tick is created_at rounded down to the schedule).
  const list = scheduledBackups(backups);
  const ticks = list.map((x) => Math.floor(x.created / TICK_MS));
  expect(new Set(ticks).size, JSON.stringify(list)).toBe(ticks.length);
  // Every backup is complete and verifies.
  const verify = await runWks(['backup', 'verify', '--all', '--json'], { env, cwd: dir });
  expect(verify.code, verify.stderr).toBe(0);

  // Redis down for the whole run: a few lines about it per instance (the first failure, maybe a summary), not one per retry.
  for (const i of [a, b]) {
    const lines = i.stderr().split('\n');
    expect(lines.filter((l) => /Redis/.test(l)).length, i.stderr()).toBeLessThanOrEqual(3);
    expect(lines.filter((l) => /Redis is unavailable(?! \(repeated)/.test(l)).length, i.stderr()).toBe(1);
  }
}

describe('two wks serve instances with Redis down', () => {
  let pgdb: TestDatabase | null = null;
  beforeAll(async () => {
    pgdb = await createTestDatabase('serve_leader');
  });
  afterAll(async () => {
    await pgdb?.drop();
  });

  it('SQLite: scheduled backups keep running, each tick once, through a failover', async () => {
    const dir = tmpDir('wks-leader-e2e');
    const env = {
      DATABASE_PATH: path.join(dir, 'w.db'),
      BACKUP_STORAGE_PATH: path.join(dir, 'backups'),
      BACKUP_SCHEDULE: SCHEDULE,
      REDIS_ENABLED: 'true',
      REDIS_HOST: '127.0.0.1',
      REDIS_PORT: await closedPort(),
      METRICS_SCRAPE_CACHE_MS: '0',
    };
    await scenario(env, dir, 'file');
  }, 120_000);

  it('PostgreSQL: scheduled backups keep running, each tick once, through a failover', async (ctx) => {
    if (!pgdb) return ctx.skip();
    const dir = tmpDir('wks-leader-e2e-pg');
    const env = {
      ...pgdb.env,
      BACKUP_STORAGE_PATH: path.join(dir, 'backups'),
      BACKUP_SCHEDULE: SCHEDULE,
      REDIS_ENABLED: 'true',
      REDIS_HOST: '127.0.0.1',
      REDIS_PORT: await closedPort(),
      METRICS_SCRAPE_CACHE_MS: '0',
    };
    await scenario(env, dir, 'postgres');
  }, 120_000);
});
