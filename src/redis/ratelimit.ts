/**
 * Rate-limit counters (`{ns}:ratelimit:{userId}:{endpoint}`, a string
 * incremented per request, expiring with the window) shown against
 * RATE_LIMIT_MAX_REQUESTS / RATE_LIMIT_WINDOW_MS.
 */
import type { Redis } from 'ioredis';
import type { Config } from '../config/index.js';
import { NotFoundError } from '../errors.js';
import { requireRedisEnabled, scanKeys, withRedis } from './client.js';

export interface RateLimitCounter {
  userId: string;
  endpoint: string;
  key: string;
  /** `counter`: the platform's string counter; `sliding-window`: a sorted set of request times. */
  kind: 'counter' | 'sliding-window';
  /** Requests counted in the current window. */
  count: number;
  limit: number;
  remaining: number;
  limited: boolean;
  /** Milliseconds until the counter expires (null: no TTL, it never resets by itself). */
  resetInMs: number | null;
  resetAt: Date | null;
}

export interface RateLimitReport {
  userId: string;
  limit: number;
  windowMs: number;
  counters: RateLimitCounter[];
}

async function counterKeys(
  client: import('ioredis').Redis,
  keys: import('./keyspace.js').Keyspace,
  userId: string,
  endpoint?: string,
): Promise<string[]> {
  if (endpoint !== undefined) return [keys.rateLimit(userId, endpoint)];
  const out: string[] = [];
  for await (const batch of scanKeys(client, keys.patterns.rateLimitsOf(userId), { cap: 10_000 })) out.push(...batch);
  return out.sort();
}

/**
 * For sliding-window limiters (a sorted set of request times per key): the requests inside the window
 * and when the oldest of them leaves it. Scores are epoch milliseconds, or seconds when small (< 1e11).
 */
async function slidingWindows(
  client: Redis,
  zsets: string[],
  now: Date,
  windowMs: number,
): Promise<Map<string, { count: number; resetAt: Date | null }>> {
  const windowInfo = new Map<string, { count: number; resetAt: Date | null }>();
  if (zsets.length === 0) return windowInfo;
  const oldest = new Map<string, number>();
  const p2 = client.pipeline();
  // biome-ignore lint/suspicious/noExplicitAny: ioredis 6 types lack the WITHSCORES overload on pipelines
  for (const k of zsets) (p2 as any).zrange(k, 0, 0, 'WITHSCORES');
  const r2 = (await p2.exec()) ?? [];
  for (const [j, k] of zsets.entries()) {
    const v = r2[j]?.[1] as string[] | undefined;
    if (v && v.length === 2) oldest.set(k, Number(v[1]));
  }
  const p3 = client.pipeline();
  const units: number[] = [];
  for (const k of zsets) {
    const unit = (oldest.get(k) ?? now.getTime()) < 1e11 ? 1000 : 1;
    units.push(unit);
    const start = (now.getTime() - windowMs) / unit;
    p3.zcount(k, `(${start}`, '+inf').zrangebyscore(k, `(${start}`, '+inf', 'WITHSCORES', 'LIMIT', 0, 1);
  }
  const r3 = (await p3.exec()) ?? [];
  for (const [j, k] of zsets.entries()) {
    const first = r3[2 * j + 1]?.[1] as string[] | undefined;
    const firstMs = first && first.length === 2 ? Number(first[1]) * units[j]! : null;
    windowInfo.set(k, {
      count: Number(r3[2 * j]?.[1] ?? 0),
      resetAt: firstMs === null ? null : new Date(firstMs + windowMs),
    });
  }
  return windowInfo;
}

/**
 * Counters of one user (all endpoints, or one), with remaining requests and reset times.
 * @throws ConfigError (Redis disabled), DependencyError (unreachable).
 */
export async function showRateLimits(
  config: Config,
  userId: string,
  opts: { endpoint?: string; now?: Date } = {},
): Promise<RateLimitReport> {
  requireRedisEnabled(config, '`wks ratelimit`');
  const now = opts.now ?? new Date();
  const limit = config.performance.rate_limiting.max_requests;
  const windowMs = config.performance.rate_limiting.window_ms;
  return withRedis(config, async ({ client, keys }) => {
    const found = await counterKeys(client, keys, userId, opts.endpoint);
    if (found.length === 0) return { userId, limit, windowMs, counters: [] };
    // The platform stores a string counter expiring with the window. A sliding-
    // window limiter (performance.rate_limiting.strategy) may keep a sorted
    // set of request timestamps instead: both are read.
    const p1 = client.pipeline();
    for (const k of found) p1.type(k).pttl(k).get(k);
    const r1 = (await p1.exec()) ?? [];
    const zsets = found.filter((_, i) => r1[3 * i]?.[1] === 'zset');
    const windowInfo = await slidingWindows(client, zsets, now, windowMs);
    const counters: RateLimitCounter[] = [];
    found.forEach((key, i) => {
      const type = String(r1[3 * i]?.[1]);
      const pttl = Number(r1[3 * i + 1]?.[1]);
      let c: number;
      let resetAt: Date | null;
      let kind: RateLimitCounter['kind'];
      if (type === 'string') {
        const count = Number(r1[3 * i + 2]?.[1]);
        c = Number.isFinite(count) ? count : 0;
        resetAt = pttl >= 0 ? new Date(now.getTime() + pttl) : null;
        kind = 'counter';
      } else if (type === 'zset') {
        const w = windowInfo.get(key)!;
        c = w.count;
        resetAt = w.resetAt ?? (pttl >= 0 ? new Date(now.getTime() + pttl) : null);
        kind = 'sliding-window';
      } else return; // vanished, or a type no limiter writes
      const parsed = keys.parseRateLimitKey(key);
      counters.push({
        userId,
        endpoint: parsed?.endpoint ?? opts.endpoint ?? key,
        key,
        kind,
        count: c,
        limit,
        remaining: Math.max(0, limit - c),
        limited: c >= limit,
        resetInMs: resetAt ? Math.max(0, resetAt.getTime() - now.getTime()) : null,
        resetAt,
      });
    });
    return { userId, limit, windowMs, counters };
  });
}

/**
 * Reset (delete) a user's counters: all endpoints, or one. `dryRun` lists what would go.
 * @throws NotFoundError when there is nothing to reset (exit 5), ConfigError, DependencyError.
 */
export async function resetRateLimits(
  config: Config,
  userId: string,
  opts: { endpoint?: string; dryRun?: boolean; confirm?: (keys: string[]) => Promise<boolean> } = {},
): Promise<{ userId: string; keys: string[]; deleted: number; dryRun: boolean }> {
  requireRedisEnabled(config, '`wks ratelimit`');
  return withRedis(config, async ({ client, keys }) => {
    let found = await counterKeys(client, keys, userId, opts.endpoint);
    if (opts.endpoint !== undefined && !(await client.exists(found[0]!))) found = [];
    if (found.length === 0) {
      throw new NotFoundError(
        `no rate-limit counters for user ${userId}${opts.endpoint ? ` on ${opts.endpoint}` : ''}`,
        {
          hint: `\`wks ratelimit show ${userId}\` lists the counters`,
        },
      );
    }
    if (opts.dryRun) return { userId, keys: found, deleted: 0, dryRun: true };
    if (opts.confirm && !(await opts.confirm(found))) return { userId, keys: found, deleted: 0, dryRun: false };
    let deleted = 0;
    for (let i = 0; i < found.length; i += 500) deleted += await client.del(...found.slice(i, i + 500));
    return { userId, keys: found, deleted, dryRun: false };
  });
}
