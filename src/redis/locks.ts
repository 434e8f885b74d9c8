/**
 * Execution locks in Redis (`{ns}:lock:execution:{id}` = worker id, SET NX
 * with a TTL). Release is owner-checked: one Lua script compares the holder
 * and deletes in the same atomic step, so a lock taken over by a new owner
 * between our read and our delete survives. Only `forceRelease` deletes
 * regardless of the holder (the command requires --force --reason and audits it).
 */
import type { Redis } from 'ioredis';
import type { Keyspace } from './keyspace.js';
import { scanKeys, type SCAN_CAP } from './client.js';

/**
 * Compare-and-delete. KEYS[1] = lock key, ARGV[1] = expected holder.
 * Returns {1, holder} released; {2, holder} held by someone else (kept); {0, ''} no such lock.
 */
export const RELEASE_IF_HOLDER_LUA = `
local v = redis.call('GET', KEYS[1])
if not v then return {0, ''} end
if v == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return {1, v}
end
return {2, v}
`;

export type ReleaseOutcome = 'released' | 'mismatch' | 'absent';

export interface ReleaseResult {
  outcome: ReleaseOutcome;
  /** The holder at the moment of the atomic check (null when there was no lock). */
  holder: string | null;
}

/** Release `key` only if its value is still `expectedHolder` (atomic, Lua). */
export async function releaseIfHolder(client: Redis, key: string, expectedHolder: string): Promise<ReleaseResult> {
  const [code, holder] = (await client.eval(RELEASE_IF_HOLDER_LUA, 1, key, expectedHolder)) as [number, string];
  if (code === 1) return { outcome: 'released', holder };
  if (code === 2) return { outcome: 'mismatch', holder };
  return { outcome: 'absent', holder: null };
}

/** Delete the lock whoever holds it (GETDEL: returns the holder it removed). For --force only. */
export async function forceRelease(client: Redis, key: string): Promise<ReleaseResult> {
  const holder = await client.getdel(key);
  return holder === null ? { outcome: 'absent', holder: null } : { outcome: 'released', holder };
}

/** One lock as Redis has it. */
export interface RedisLock {
  executionId: string;
  key: string;
  /** The worker id stored as the value (null if the key vanished between SCAN and GET). */
  holder: string | null;
  /** Milliseconds left before Redis expires it; null = no TTL (a lock that never expires: suspicious). */
  ttlMs: number | null;
}

/** Read one lock (holder + TTL) in one round trip. */
export async function readLock(client: Redis, keys: Keyspace, executionId: string | number): Promise<RedisLock | null> {
  const key = keys.lock(executionId);
  const res = await client.multi().get(key).pttl(key).exec();
  const holder = (res?.[0]?.[1] as string | null) ?? null;
  const pttl = res?.[1]?.[1] as number;
  if (holder === null) return null;
  return { executionId: String(executionId), key, holder, ttlMs: pttl >= 0 ? pttl : null };
}

/**
 * Stream every lock of the namespace, one SCAN batch at a time: SCAN (COUNT
 * `count`, capped at `cap`) then one pipeline of GET + PTTL per batch. The
 * next SCAN is issued before the pipeline's reply is awaited, so round trips
 * overlap. Keys that vanish between SCAN and GET are skipped. Memory stays
 * proportional to one batch.
 */
export async function* scanLocks(
  client: Redis,
  keys: Keyspace,
  opts: { count?: number; cap?: number; state?: { truncated: boolean } } = {},
): AsyncGenerator<RedisLock[]> {
  let pending: Promise<RedisLock[]> | null = null;
  for await (const batch of scanKeys(client, keys.patterns.locks, opts)) {
    const pipe = client.pipeline();
    for (const k of batch) pipe.get(k).pttl(k);
    const p = pipe.exec().then((res) => {
      const out: RedisLock[] = [];
      for (let i = 0; i < batch.length; i++) {
        const holder = res?.[2 * i]?.[1] as string | null;
        if (holder === null || holder === undefined) continue;
        const pttl = res?.[2 * i + 1]?.[1] as number;
        const key = batch[i]!;
        out.push({ executionId: keys.parseLockKey(key) ?? key, key, holder, ttlMs: pttl >= 0 ? pttl : null });
      }
      return out;
    });
    p.catch(() => undefined); // awaited below; avoid an unhandled rejection meanwhile
    if (pending) yield await pending;
    pending = p;
  }
  if (pending) yield await pending;
}

export type { SCAN_CAP };
