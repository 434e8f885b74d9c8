/**
 * Two `wks serve` instances on one Redis: exactly one leader; when the
 * leader is killed (SIGKILL, no release), the follower takes over within
 * the lease time (plus its poll interval).
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { runWks, baseEnv, WKS_BIN } from '../helpers/cli.js';
import { freePort } from '../helpers/net.js';
import { createTestRedis, createTestDatabase, type TestRedis, type TestDatabase } from '../helpers/services.js';
import { tmpDir } from '../helpers/tmp.js';

const LEASE_MS = 2000;

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

async function leaderOf(
  i: Instance,
  mechanism = 'redis',
): Promise<{ leader: boolean; role: string; instance: string; holder: string | null; metric: number }> {
  const ready = (await (await fetch(`${i.url}/ready`)).json()) as any;
  const text = await (await fetch(`${i.url}/metrics`)).text();
  const m = text.match(new RegExp(`^wks_leader\\{wks_instance="([^"]+)",mechanism="${mechanism}"\\} (\\S+)$`, 'm'));
  return {
    leader: ready.leader.leader,
    role: ready.leader.role,
    instance: ready.leader.instance,
    holder: ready.leader.holder,
    metric: Number(m?.[2]),
  };
}

let redis: TestRedis | null = null;
let dir: string;
let env: Record<string, string>;
let cfg: string;
beforeAll(async () => {
  redis = await createTestRedis('serve_leader');
  if (!redis) return;
  dir = tmpDir('wks-leader-e2e');
  env = {
    ...redis.env,
    DATABASE_PATH: path.join(dir, 'w.db'),
    BACKUP_STORAGE_PATH: path.join(dir, 'backups'),
    METRICS_SCRAPE_CACHE_MS: '0',
  };
  expect((await runWks(['migrate', 'up'], { env, cwd: dir })).code).toBe(0);
  cfg = path.join(dir, 'phase4-config.yml');
  writeFileSync(cfg, `phase4:\n  version: "4.0.0"\n  serve:\n    leader_lease_ms: ${LEASE_MS}\n`);
});
afterAll(async () => {
  await redis?.cleanup();
});

describe('two wks serve instances on one Redis', () => {
  it('exactly one leads; the follower takes over after the leader is killed', async (ctx) => {
    if (!redis) return ctx.skip();
    const a = await start(['-c', cfg], env, dir);
    const b = await start(['-c', cfg], env, dir);
    try {
      const [la, lb] = await Promise.all([leaderOf(a), leaderOf(b)]);
      expect([la.leader, lb.leader].filter(Boolean)).toHaveLength(1);
      expect(la.metric + lb.metric).toBe(1);
      const [leader, follower, lf] = la.leader ? [a, b, lb] : [b, a, la];
      const leaderId = (la.leader ? la : lb).instance;
      expect(lf.holder).toBe(leaderId);
      expect(await redis.client.get(`${redis.namespace}:leader:serve`)).toBe(leaderId);
      // Followers keep serving probes and metrics, and say what they are: in /ready, and once in the log.
      expect((await fetch(`${follower.url}/ready`)).status).toBe(200);
      expect([lf.role, (la.leader ? la : lb).role]).toEqual(['follower', 'leader']);
      await new Promise((r) => setTimeout(r, 1000)); // ~5 lease polls
      expect(
        follower.stderr().match(/role: follower \(redis lease; the leader is [^)]+\)/g),
        follower.stderr(),
      ).toHaveLength(1);
      expect(leader.stderr().match(/role: leader/g)).toHaveLength(1);

      leader.child.kill('SIGKILL');
      await leader.exited;
      const killedAt = Date.now();
      let took = -1;
      while (Date.now() - killedAt < LEASE_MS * 3) {
        if ((await leaderOf(follower)).leader) {
          took = Date.now() - killedAt;
          break;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(took, follower.stderr()).toBeGreaterThanOrEqual(0);
      // Within the lease, plus the follower's poll interval (min(1 s, lease/10)).
      expect(took).toBeLessThanOrEqual(LEASE_MS + 200 + 300);
      const after = await leaderOf(follower);
      expect(after.metric).toBe(1);
      expect(after.role).toBe('leader');
      expect(await redis.client.get(`${redis.namespace}:leader:serve`)).toBe(after.instance);
      expect(follower.stderr()).toMatch(/became leader \(redis lease\)/);
    } finally {
      for (const i of [a, b]) if (i.child.exitCode === null && i.child.signalCode === null) i.child.kill('SIGTERM');
      await Promise.all([a.exited, b.exited]);
    }
    // The survivor released its lease on a graceful stop.
    expect(await redis.client.get(`${redis.namespace}:leader:serve`)).toBeNull();
  });
});

describe('two wks serve instances on one PostgreSQL database (no Redis)', () => {
  let pgdb: TestDatabase | null = null;
  beforeAll(async () => {
    pgdb = await createTestDatabase('serve_leader_e2e');
  });
  afterAll(async () => {
    await pgdb?.drop();
  });

  it('the advisory lock gives one leader; the follower takes over after the leader is killed', async (ctx) => {
    if (!pgdb) return ctx.skip();
    const pdir = tmpDir('wks-leader-pg');
    const penv = { ...pgdb.env, BACKUP_STORAGE_PATH: path.join(pdir, 'backups'), METRICS_SCRAPE_CACHE_MS: '0' };
    const m = await runWks(['migrate', 'up'], { env: penv, cwd: pdir });
    expect(m.code, m.stderr).toBe(0);
    const pcfg = path.join(pdir, 'phase4-config.yml');
    writeFileSync(pcfg, `phase4:\n  version: "4.0.0"\n  serve:\n    leader_lease_ms: ${LEASE_MS}\n`);
    const a = await start(['-c', pcfg], penv, pdir);
    const b = await start(['-c', pcfg], penv, pdir);
    try {
      const [la, lb] = await Promise.all([leaderOf(a, 'postgres'), leaderOf(b, 'postgres')]);
      expect([la.leader, lb.leader].filter(Boolean)).toHaveLength(1);
      expect(la.metric + lb.metric).toBe(1);
      const [leader, follower] = la.leader ? [a, b] : [b, a];
      const scrape = await (await fetch(`${follower.url}/metrics`)).text();
      expect(scrape).toMatch(/^wks_up\{dependency="database"\} 1$/m);
      expect(scrape).toMatch(/^database_connections\{pool_name="wks"\} [1-9]/m);
      leader.child.kill('SIGKILL');
      await leader.exited;
      const killedAt = Date.now();
      let took = -1;
      while (Date.now() - killedAt < 10_000) {
        if ((await leaderOf(follower, 'postgres')).leader) {
          took = Date.now() - killedAt;
          break;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      // PostgreSQL drops the dead session's lock once it notices the closed socket (immediate on a local kill).
      expect(took, follower.stderr()).toBeGreaterThanOrEqual(0);
      expect(took).toBeLessThanOrEqual(LEASE_MS + 500);
    } finally {
      for (const i of [a, b]) if (i.child.exitCode === null && i.child.signalCode === null) i.child.kill('SIGTERM');
      await Promise.all([a.exited, b.exited]);
    }
  });
});
