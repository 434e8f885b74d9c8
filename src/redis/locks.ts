/**
 * Execution locks in Redis (`{ns}:lock:execution:{id}` = worker id, SET NX
 * with a TTL). Release is owner-checked: one Lua script compares the holder
 * and deletes in the same atomic step, so a lock taken over by a new owner
 * between our read and our delete survives. Only `forceRelease` deletes
 * regardless of the holder (the command requires --force --reason and audits it).
 */
import type { Redis } from 'ioredis';
import type { Keyspace } from './keyspace.js';
import { SCAN_CAP, SCAN_COUNT } from './client.js';

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
 * One SCAN step plus the holder and PTTL of every key it returned, in one
 * atomic script (one round trip per batch instead of 1 + 2 per key: at 100k
 * locks a pipelined GET+PTTL per key spent most of its time in per-command
 * client overhead). ARGV: cursor, MATCH pattern, COUNT. Reply: ONE string, a
 * JSON array (Redis's built-in cjson): the cursor, then key, holder, pttl
 * triples. A key that is not a string (WRONGTYPE) or is gone is left out
 * here. One bulk string is parsed by JSON.parse at native speed; a RESP array
 * of 3 elements per lock was decoded element by element (~a third of the
 * client's time at 100k locks, profiled).
 */
export const SCAN_LOCKS_LUA = `
local r = redis.call('SCAN', ARGV[1], 'MATCH', ARGV[2], 'COUNT', ARGV[3])
local out = {r[1]}
for _, k in ipairs(r[2]) do
  local ok, v = pcall(redis.call, 'GET', k)
  if ok and v then
    out[#out + 1] = k
    out[#out + 1] = v
    out[#out + 1] = redis.call('PTTL', k)
  end
end
return cjson.encode(out)
`;

/**
 * Stream every lock of the namespace, one SCAN batch at a time (COUNT
 * `count`, default 1000; stopping after `cap` locks, default SCAN_CAP, with
 * `state.truncated` set). Holder and TTL come with the batch (SCAN_LOCKS_LUA,
 * sent with EVAL: Redis caches the compiled script by its text, and a plain
 * EVAL spares the client the sha1 ioredis computes for EVALSHA, whose first
 * use initialises OpenSSL: about 30 ms of a short `lock list`, profiled).
 * Memory stays proportional to one batch.
 */
export async function* scanLocks(
  client: Redis,
  keys: Keyspace,
  opts: { count?: number; cap?: number; state?: { truncated: boolean } } = {},
): AsyncGenerator<RedisLock[]> {
  const count = opts.count ?? SCAN_COUNT;
  const cap = opts.cap ?? SCAN_CAP;
  const pattern = keys.patterns.locks;
  const scan = async (cursor: string) =>
    JSON.parse((await client.eval(SCAN_LOCKS_LUA, 0, cursor, pattern, count)) as string) as Array<string | number>;
  let seen = 0;
  // The next batch is requested before the current one is handed to the
  // caller, so Redis works while the caller joins and writes.
  let next: Promise<Array<string | number>> | null = scan('0');
  while (next) {
    const reply: Array<string | number> = await next;
    const cursor: string = String(reply[0]);
    next = cursor === '0' ? null : scan(cursor);
    next?.catch(() => undefined); // awaited on the next turn; avoid an unhandled rejection meanwhile
    const out: RedisLock[] = [];
    for (let i = 1; i + 2 < reply.length; i += 3) {
      const pttl = Number(reply[i + 2]);
      const key = String(reply[i]);
      out.push({
        executionId: keys.parseLockKey(key) ?? key,
        key,
        holder: String(reply[i + 1]),
        ttlMs: pttl >= 0 ? pttl : null,
      });
    }
    if (out.length === 0) continue;
    if (seen + out.length >= cap) {
      const batch = out.slice(0, cap - seen);
      if (batch.length) yield batch;
      if (next && opts.state) opts.state.truncated = true;
      return;
    }
    seen += out.length;
    yield out;
  }
}
