import { describe, it, expect, afterAll, beforeEach } from 'vitest';
import { createTestRedis } from '../helpers/services.js';
import { loadConfig } from '../../src/config/loader.js';
import { showRateLimits, resetRateLimits } from '../../src/redis/ratelimit.js';
import { NotFoundError } from '../../src/errors.js';
import { tmpDir } from '../helpers/tmp.js';

const redis = await createTestRedis('ratelimit');
afterAll(async () => redis?.cleanup());

describe.skipIf(!redis)('rate limits', () => {
  const config = () =>
    loadConfig({
      env: { ...redis!.env, RATE_LIMIT_MAX_REQUESTS: '5', RATE_LIMIT_WINDOW_MS: '60000' },
      cwd: tmpDir('rl'),
    }).config;
  const key = (u: string, ep: string) => `${redis!.namespace}:ratelimit:${u}:${ep}`;
  const NOW = new Date('2026-06-01T12:00:00Z');
  beforeEach(async () => {
    await redis!.client.del(
      key('u1', '/api/auth'),
      key('u1', '/api/auto:run'),
      key('u1*', 'x'),
      key('u2', '/api/auth'),
    );
    await redis!.client.set(key('u1', '/api/auth'), '7', 'PX', 30_000);
    await redis!.client.set(key('u1', '/api/auto:run'), '2', 'PX', 50_000);
    await redis!.client.set(key('u1*', 'x'), '1'); // a user id with a glob character must not be matched by u1's scan
    await redis!.client.set(key('u2', '/api/auth'), '1', 'PX', 30_000);
  });

  it('shows counts, remaining and reset times against the configured limit', async () => {
    const res = await showRateLimits(config(), 'u1', { now: NOW });
    expect(res.limit).toBe(5);
    expect(res.windowMs).toBe(60_000);
    expect(res.counters.every((c) => c.kind === 'counter')).toBe(true);
    expect(res.counters.map((c) => [c.endpoint, c.count, c.remaining, c.limited])).toEqual([
      ['/api/auth', 7, 0, true],
      ['/api/auto:run', 2, 3, false],
    ]);
    const auth = res.counters[0]!;
    expect(auth.resetInMs).toBeGreaterThan(25_000);
    expect(auth.resetAt!.getTime()).toBe(NOW.getTime() + auth.resetInMs!);
    const one = await showRateLimits(config(), 'u1', { endpoint: '/api/auto:run' });
    expect(one.counters.map((c) => c.endpoint)).toEqual(['/api/auto:run']);
  });

  it('reads a sliding-window sorted set (ms or s scores): requests inside the window, reset when the oldest leaves it', async () => {
    const k = key('u3', '/api/sw');
    const k2 = key('u3', '/api/sws');
    await redis!.client.del(k, k2);
    const t = NOW.getTime();
    // window 60 s: two requests inside (10 s and 50 s ago), one outside (70 s ago)
    await redis!.client.zadd(k, t - 70_000, 'a', t - 50_000, 'b', t - 10_000, 'c');
    await redis!.client.zadd(k2, (t - 70_000) / 1000, 'a', (t - 30_000) / 1000, 'b');
    const res = await showRateLimits(config(), 'u3', { now: NOW });
    const [sw, sws] = res.counters;
    expect(sw).toMatchObject({ endpoint: '/api/sw', kind: 'sliding-window', count: 2, remaining: 3, limited: false });
    expect(sw!.resetAt!.toISOString()).toBe(new Date(t - 50_000 + 60_000).toISOString());
    expect(sw!.resetInMs).toBe(10_000);
    expect(sws).toMatchObject({ endpoint: '/api/sws', count: 1 });
    expect(sws!.resetInMs).toBe(30_000);
    await redis!.client.del(k, k2);
  });

  it('resets one endpoint or all of a user, leaving other users alone', async () => {
    const dry = await resetRateLimits(config(), 'u1', { dryRun: true });
    expect(dry.keys).toHaveLength(2);
    expect(await redis!.client.exists(key('u1', '/api/auth'))).toBe(1);
    const one = await resetRateLimits(config(), 'u1', { endpoint: '/api/auth' });
    expect(one.deleted).toBe(1);
    expect(await redis!.client.exists(key('u1', '/api/auto:run'))).toBe(1);
    const all = await resetRateLimits(config(), 'u1');
    expect(all.deleted).toBe(1);
    expect(await redis!.client.exists(key('u2', '/api/auth'))).toBe(1);
    expect(await redis!.client.exists(key('u1*', 'x'))).toBe(1);
    await expect(resetRateLimits(config(), 'u1')).rejects.toBeInstanceOf(NotFoundError);
  });
});
