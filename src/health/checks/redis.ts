/**
 * `redis`: when Redis is enabled, PING latency against
 * health.redis_latency_warn_ms, used memory against maxmemory
 * (health.redis_memory_warn_percent) and evicted keys (an evicting Redis can
 * drop execution locks and workflow state): each is warn. Unreachable is
 * critical. Disabled (REDIS_ENABLED=false) is ok, and says so.
 */
import { performance } from 'node:perf_hooks';
import type { CheckDefinition, CheckOutcome } from '../types.js';
import { formatBytes } from '../../util/size.js';

/** Parse the `key:value` lines of an INFO reply. */
export function parseInfo(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#')) out[line.slice(0, i)] = line.slice(i + 1).trim();
  }
  return out;
}

export const redisCheck: CheckDefinition = {
  name: 'redis',
  description: 'when enabled: PING latency, memory against maxmemory, evictions',
  async run(ctx): Promise<CheckOutcome> {
    if (!ctx.config.redis.enabled) {
      return { status: 'ok', detail: 'disabled (REDIS_ENABLED=false)', data: { enabled: false } };
    }
    const { client, address } = await ctx.resources.redis();
    const t0 = performance.now();
    await client.ping();
    const latencyMs = Math.round((performance.now() - t0) * 10) / 10;
    const info = parseInfo(`${await client.info('memory')}\n${await client.info('stats')}`);
    const used = Number(info.used_memory ?? 0);
    const max = Number(info.maxmemory ?? 0);
    const policy = info.maxmemory_policy ?? 'unknown';
    const evicted = Number(info.evicted_keys ?? 0);
    const h = ctx.config.health;
    const data = {
      enabled: true,
      address,
      latencyMs,
      usedMemoryBytes: used,
      maxMemoryBytes: max,
      maxMemoryPolicy: policy,
      evictedKeys: evicted,
    };

    const warnings: string[] = [];
    if (latencyMs > h.redis_latency_warn_ms)
      warnings.push(`PING took ${latencyMs} ms (> ${h.redis_latency_warn_ms} ms)`);
    if (max > 0 && (used / max) * 100 >= h.redis_memory_warn_percent) {
      warnings.push(
        `memory ${formatBytes(used)} of ${formatBytes(max)} (>= ${h.redis_memory_warn_percent}%, policy ${policy})`,
      );
    }
    if (evicted > 0)
      warnings.push(
        `${evicted} key(s) evicted since restart (policy ${policy}): locks or workflow state may have been lost`,
      );

    const base = `PING ${latencyMs} ms at ${address}; memory ${formatBytes(used)}${max > 0 ? ` of ${formatBytes(max)}` : ' (no maxmemory)'}`;
    if (warnings.length > 0) {
      return {
        status: 'warn',
        detail: `${base}; ${warnings.join('; ')}`,
        hint: 'raise maxmemory or use maxmemory-policy noeviction/volatile-*; check the Redis host load (redis-cli --latency)',
        data,
      };
    }
    return { status: 'ok', detail: base, data };
  },
};
