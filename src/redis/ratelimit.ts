/**
 * Rate-limit counters (`{ns}:ratelimit:{userId}:{endpoint}`, a string
 * incremented per request, expiring with the window) shown against
 * RATE_LIMIT_MAX_REQUESTS / RATE_LIMIT_WINDOW_MS.
 */
import type { Config } from '../config/schema.js';
import { NotFoundError } from '../errors.js';
import { requireRedisEnabled, scanKeys, withRedis } from './client.js';

export interface RateLimitCounter {
  userId: string;
  endpoint: string;
  key: string;
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

async function counterKeys(client: import('ioredis').Redis, keys: import('./keyspace.js').Keyspace, userId: string, endpoint?: string): Promise<string[]> {
  if (endpoint !== undefined) return [keys.rateLimit(userId, endpoint)];
  const out: string[] = [];
  for await (const batch of scanKeys(client, keys.patterns.rateLimitsOf(userId), { cap: 10_000 })) out.push(...batch);
  return out.sort();
}

/**
 * Counters of one user (all endpoints, or one), with remaining requests and reset times.
 * @throws ConfigError (Redis disabled), DependencyError (unreachable).
 */
export async function showRateLimits(config: Config, userId: string, opts: { endpoint?: string; now?: Date } = {}): Promise<RateLimitReport> {
  requireRedisEnabled(config, '`wks ratelimit`');
  const now = opts.now ?? new Date();
  const limit = config.performance.rate_limiting.max_requests;
  const windowMs = config.performance.rate_limiting.window_ms;
  return withRedis(config, async ({ client, keys }) => {
    const found = await counterKeys(client, keys, userId, opts.endpoint);
    const pipe = client.pipeline();
    for (const k of found) pipe.get(k).pttl(k);
    const res = found.length ? ((await pipe.exec()) ?? []) : [];
    const counters: RateLimitCounter[] = [];
    found.forEach((key, i) => {
      const raw = res[2 * i]?.[1] as string | null;
      if (raw === null || raw === undefined) return;
      const count = Number(raw);
      const pttl = Number(res[2 * i + 1]?.[1]);
      const parsed = keys.parseRateLimitKey(key);
      const c = Number.isFinite(count) ? count : 0;
      counters.push({
        userId,
        endpoint: parsed?.endpoint ?? opts.endpoint ?? key,
        key,
        count: c,
        limit,
        remaining: Math.max(0, limit - c),
        limited: c >= limit,
        resetInMs: pttl >= 0 ? pttl : null,
        resetAt: pttl >= 0 ? new Date(now.getTime() + pttl) : null,
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
      throw new NotFoundError(`no rate-limit counters for user ${userId}${opts.endpoint ? ` on ${opts.endpoint}` : ''}`, {
        hint: `\`wks ratelimit show ${userId}\` lists the counters`,
      });
    }
    if (opts.dryRun) return { userId, keys: found, deleted: 0, dryRun: true };
    if (opts.confirm && !(await opts.confirm(found))) return { userId, keys: found, deleted: 0, dryRun: false };
    let deleted = 0;
    for (let i = 0; i < found.length; i += 500) deleted += await client.del(...found.slice(i, i + 500));
    return { userId, keys: found, deleted, dryRun: false };
  });
}
