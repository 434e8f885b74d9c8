import { describe, it, expect, afterAll, beforeAll } from 'vitest';
import path from 'node:path';
import { runWks } from '../helpers/cli.js';
import { createTestRedis } from '../helpers/services.js';
import { tmpDir } from '../helpers/tmp.js';

const redis = await createTestRedis('e2elock');
afterAll(async () => redis?.cleanup());

const STACK = /\bat .*\.js:\d+/;

describe.skipIf(!redis)('wks lock / workflow / session / ratelimit (spawned)', () => {
  const cwd = tmpDir('e2e-lock');
  const env = () => ({ ...redis!.env, DATABASE_PATH: path.join(cwd, 'wks.db') });
  const lock = (id: string) => `${redis!.namespace}:lock:execution:${id}`;

  beforeAll(async () => {
    const r = await runWks(['migrate', 'up'], { cwd, env: env() });
    expect(r.code, r.stderr).toBe(0);
  });

  it('lock list --json is one JSON document with holder and TTL', async () => {
    await redis!.client.set(lock('1'), 'worker-a', 'EX', 300);
    await redis!.client.set(lock('2'), 'worker-b');
    const r = await runWks(['lock', 'list', '--json'], { cwd, env: env() });
    expect(r.code, r.stderr).toBe(0);
    const doc = r.json();
    expect(doc.count).toBe(2);
    expect(doc.namespace).toBe(redis!.namespace);
    expect(doc.database.included).toBe(true);
    const by = Object.fromEntries(doc.locks.map((l: any) => [l.executionId, l]));
    expect(by['1'].holder).toBe('worker-a');
    expect(by['1'].ttlMs).toBeGreaterThan(290_000);
    expect(by['2'].ttlMs).toBeNull();
  });

  it('lock list on a namespace without locks never opens the database (nothing to join, nothing left out)', async () => {
    const empty = {
      ...env(),
      REDIS_NAMESPACE: `${redis!.namespace}-empty`,
      DATABASE_PATH: path.join(cwd, 'missing.db'),
    };
    const r = await runWks(['lock', 'list', '--json'], { cwd, env: empty });
    expect(r.code, r.stderr).toBe(0);
    expect(r.json()).toMatchObject({ count: 0, database: { included: true } });
    expect(r.stderr).toBe('');
    // With a lock to join, the missing database is reported.
    await redis!.client.set(`${redis!.namespace}-empty:lock:execution:9`, 'worker-z', 'EX', 60);
    const j = await runWks(['lock', 'list', '--json'], { cwd, env: empty });
    expect(j.code, j.stderr).toBe(0);
    expect(j.json()).toMatchObject({ count: 1, database: { included: false } });
    await redis!.client.del(`${redis!.namespace}-empty:lock:execution:9`);
  });

  it('lock release with a wrong --worker exits 4 and leaves the lock', async () => {
    await redis!.client.set(lock('3'), 'worker-c', 'EX', 300);
    const r = await runWks(['lock', 'release', '3', '--worker', 'worker-x', '--yes'], { cwd, env: env() });
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/^Error: .*held by worker-c, not worker-x/m);
    expect(r.stderr).not.toMatch(STACK);
    expect(await redis!.client.get(lock('3'))).toBe('worker-c');
  });

  it('lock release refuses without --yes off a TTY (exit 2); -y alone is not blind (exit 4); --worker releases', async () => {
    await redis!.client.set(lock('4'), 'worker-d', 'EX', 300);
    const refused = await runWks(['lock', 'release', '4', '--worker', 'worker-d'], { cwd, env: env() });
    expect(refused.code).toBe(2);
    expect(await redis!.client.get(lock('4'))).toBe('worker-d');
    const blind = await runWks(['lock', 'release', '4', '--yes'], { cwd, env: env() });
    expect(blind.code, blind.stderr).toBe(4);
    expect(blind.stderr).toMatch(/^Error: lock on execution 4 is held by worker-d and nothing proves it stuck/m);
    expect(blind.stderr).toMatch(/^Try: if worker-d is really gone: wks lock release 4 --worker worker-d/m);
    expect(await redis!.client.get(lock('4'))).toBe('worker-d');
    const ok = await runWks(['lock', 'release', '4', '--worker', 'worker-d', '--yes', '--json'], { cwd, env: env() });
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.json()).toMatchObject({ outcome: 'released', plan: { holder: 'worker-d' }, audit: { recorded: true } });
    expect(await redis!.client.exists(lock('4'))).toBe(0);
  });

  it('--force without --reason is a usage error (exit 2)', async () => {
    const r = await runWks(['lock', 'release', '3', '--force', '--yes'], { cwd, env: env() });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--force requires --reason/);
  });

  it('an unreachable Redis port fails within the timeout, one line + hint, no stack trace', async () => {
    const t0 = Date.now();
    const r = await runWks(['lock', 'list'], {
      cwd,
      env: { ...env(), REDIS_PORT: '1', REDIS_CONNECT_TIMEOUT_MS: '1000' },
    });
    const elapsed = Date.now() - t0;
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^Error: Redis at [^ ]+:1\/15 is unreachable \(connection refused\)$/m);
    expect(r.stderr).toMatch(/^Try: .*REDIS_HOST/m);
    expect(r.stderr).not.toMatch(STACK);
    expect(elapsed).toBeLessThan(5000);
  });

  it('Redis-only commands name REDIS_ENABLED when it is disabled (exit 78)', async () => {
    for (const args of [
      ['lock', 'list'],
      ['session', 'list'],
      ['ratelimit', 'show', 'u1'],
    ]) {
      const r = await runWks(args, { cwd, env: { ...env(), REDIS_ENABLED: 'false' } });
      expect(r.code).toBe(78);
      expect(r.stderr).toMatch(/REDIS_ENABLED/);
      expect(r.stderr).not.toMatch(STACK);
    }
  });

  it('workflow list works with Redis disabled and says Redis state is not included', async () => {
    const r = await runWks(['workflow', 'list'], { cwd, env: { ...env(), REDIS_ENABLED: 'false' } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/Redis state is not included/);
    const j = await runWks(['workflow', 'stats', '--json'], { cwd, env: { ...env(), REDIS_ENABLED: 'false' } });
    expect(j.code).toBe(0);
    expect(j.json()).toMatchObject({ redis: { included: false }, maxConcurrent: 50, activeSet: null });
  });

  it('workflow show of an unknown id exits 5; reap --dry-run exits 0', async () => {
    const r = await runWks(['workflow', 'show', '999'], { cwd, env: env() });
    expect(r.code).toBe(5);
    const d = await runWks(['workflow', 'reap', '--dry-run', '--older-than', '10m'], { cwd, env: env() });
    expect(d.code, d.stderr).toBe(0);
    expect(d.stdout).toMatch(/nothing to reap/);
    const bad = await runWks(['workflow', 'reap', '--older-than', 'soon'], { cwd, env: env() });
    expect(bad.code).toBe(2);
  });

  it('session list never prints the token; ratelimit show reports the limit', async () => {
    await redis!.client.hset(`${redis!.namespace}:session:u1`, {
      token: 'tok-very-secret',
      last_activity: '1780000000',
    });
    await redis!.client.set(`${redis!.namespace}:ratelimit:u1:/api/auth`, '3', 'EX', 600);
    const s = await runWks(['session', 'list'], { cwd, env: env() });
    expect(s.code, s.stderr).toBe(0);
    expect(s.stdout).toMatch(/u1\s+sha256:[0-9a-f]{12}/);
    expect(s.stdout + s.stderr).not.toContain('tok-very-secret');
    const rl = await runWks(['ratelimit', 'show', 'u1', '--json'], { cwd, env: env() });
    expect(rl.json()).toMatchObject({ limit: 100, counters: [{ endpoint: '/api/auth', count: 3, remaining: 97 }] });
  });
});
