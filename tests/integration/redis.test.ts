import { describe, it, expect, afterAll } from 'vitest';
import { createTestRedis } from '../helpers/services.js';
import { loadConfig } from '../../src/config/loader.js';
import { openRedis, scanKeys, scanSet, withRedis } from '../../src/redis/client.js';
import { scanLocks } from '../../src/redis/locks.js';
import { readExecutionStates, markStateFailed } from '../../src/redis/state.js';
import { keyspace } from '../../src/redis/keyspace.js';
import { ConfigError, DependencyError } from '../../src/errors.js';
import { tmpDir } from '../helpers/tmp.js';

const redis = await createTestRedis('redis');
afterAll(async () => redis?.cleanup());

describe.skipIf(!redis)('Redis client and scans', () => {
  const config = (extra: Record<string, string> = {}) =>
    loadConfig({ env: { ...redis!.env, ...extra }, cwd: tmpDir('redis') }).config;
  const ks = () => keyspace(redis!.namespace);

  it('withRedis connects to the configured DB and always disconnects', async () => {
    let client: any;
    const db = await withRedis(config(), async (h) => {
      client = h.client;
      expect(h.keys.namespace).toBe(redis!.namespace);
      return (h.client as any).options.db;
    });
    expect(db).toBe(redis!.db);
    await new Promise((r) => setTimeout(r, 100));
    expect(client.status).toBe('end');
  });

  it('disabled Redis is a ConfigError naming REDIS_ENABLED; unreachable is one line without the password', async () => {
    await expect(openRedis(config({ REDIS_ENABLED: 'false' }))).rejects.toThrow(/REDIS_ENABLED/);
    await expect(openRedis(config({ REDIS_ENABLED: 'false' }))).rejects.toBeInstanceOf(ConfigError);
    const t0 = Date.now();
    const err = await openRedis(config({ REDIS_PORT: '1', REDIS_PASSWORD: 'not-the-password' })).catch((e) => e);
    expect(err).toBeInstanceOf(DependencyError);
    expect(err.message).toMatch(/^Redis at [^ ]+:1\/\d+ is unreachable \(connection refused\)$/);
    expect(err.message + err.hint).not.toContain('not-the-password');
    expect(Date.now() - t0).toBeLessThan(3000);
  });

  it('SCAN is capped and says so; scanLocks returns holder and TTL per key', async () => {
    const k = ks();
    const p = redis!.client.pipeline();
    for (let i = 1; i <= 25; i++) p.set(k.lock(i), `w${i}`, 'EX', 600);
    p.set(k.lock('nottl'), 'wx');
    p.hset(k.lock('wrongtype'), 'a', '1');
    await p.exec();
    const state = { truncated: false };
    let n = 0;
    for await (const b of scanKeys(redis!.client, k.patterns.locks, { count: 5, cap: 10, state })) n += b.length;
    expect(n).toBe(10);
    expect(state.truncated).toBe(true);

    const all = [];
    for await (const b of scanLocks(redis!.client, k, { count: 7 })) all.push(...b);
    expect(all).toHaveLength(26); // the hash at a lock key is skipped, not an error
    const l7 = all.find((l) => l.executionId === '7')!;
    expect(l7.holder).toBe('w7');
    expect(l7.ttlMs).toBeGreaterThan(590_000);
    expect(all.find((l) => l.executionId === 'nottl')!.ttlMs).toBeNull();

    const capped = { truncated: false };
    const some = [];
    for await (const b of scanLocks(redis!.client, k, { count: 7, cap: 12, state: capped })) some.push(...b);
    expect(some).toHaveLength(12);
    expect(capped.truncated).toBe(true);
  });

  it('scanLocks returns keys and holders byte for byte whatever they contain (the batch travels as JSON)', async () => {
    const k = ks();
    const odd = [
      'quo"te',
      'back\\slash',
      'new\nline\ttab',
      'uni\u00e9\u4e2d\u{1F600}',
      'sla/sh',
      '[1,"x"]',
      ' ',
      '\u0000nul',
    ];
    const p = redis!.client.pipeline();
    for (const [i, h] of odd.entries()) p.set(k.lock(`odd${i}${h}`), h, 'PX', 600_000 + i);
    await p.exec();
    const all = [];
    for await (const b of scanLocks(redis!.client, k, { count: 3 }))
      all.push(...b.filter((l) => l.executionId.startsWith('odd')));
    expect(all.map((l) => [l.key, l.holder]).sort()).toEqual(odd.map((h, i) => [k.lock(`odd${i}${h}`), h]).sort());
    for (const l of all) expect(l.ttlMs).toBeGreaterThan(590_000);
  });

  it('SSCAN over the active set, and state reads/updates in both forms', async () => {
    const k = ks();
    await redis!.client.sadd(k.activeExecutions, ...Array.from({ length: 30 }, (_, i) => String(i + 100)));
    const members: string[] = [];
    for await (const b of scanSet(redis!.client, k.activeExecutions, { count: 4 })) members.push(...b);
    expect(new Set(members).size).toBe(30);

    await redis!.client.hset(k.workflow(100), { status: 'running', progress: '20' });
    await redis!.client.set(k.workflow(101), JSON.stringify({ status: 'running', progress: 5 }), 'EX', 100);
    await redis!.client.set(k.workflow(102), 'garbage');
    const st = await readExecutionStates(redis!.client, k, ['100', '101', '102', '103']);
    expect(st.get('100')!.state?.form).toBe('hash');
    expect(st.get('101')!.state?.form).toBe('json');
    expect(st.get('102')!.state).toBeNull();
    expect(st.get('102')!.stateType).toBe('string');
    expect(st.get('103')!.stateType).toBe('none');
    expect(st.get('100')!.active).toBe(true);

    const now = new Date('2026-06-01T12:00:00Z');
    expect((await markStateFailed(redis!.client, k, '100', 'why', now)).stateForm).toBe('hash');
    expect(await redis!.client.hget(k.workflow(100), 'status')).toBe('failed');
    expect((await markStateFailed(redis!.client, k, '101', 'why', now)).stateForm).toBe('json');
    expect(JSON.parse((await redis!.client.get(k.workflow(101)))!)).toMatchObject({
      status: 'failed',
      error: 'why',
      progress: 5,
    });
    expect(await redis!.client.ttl(k.workflow(101))).toBeGreaterThan(90);
    expect((await markStateFailed(redis!.client, k, '102', 'why', now)).stateForm).toBe('unreadable');
    expect(await redis!.client.sismember(k.activeExecutions, '101')).toBe(0);
  });
});
