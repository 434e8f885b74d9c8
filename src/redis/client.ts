/**
 * The Redis connection for a CLI that must never hang:
 *  - lazyConnect + an explicit connect() with connectTimeout =
 *    config.redis.connection.connect_timeout_ms;
 *  - a bounded number of connect attempts (CONNECT_ATTEMPTS) with a short
 *    backoff, then one line naming host:port (never the password);
 *  - enableOfflineQueue false and maxRetriesPerRequest 1, so a command
 *    issued while disconnected fails at once instead of queueing forever;
 *  - commandTimeout, so a server that accepts but never answers cannot
 *    stall the process;
 *  - withRedis() always disconnects in `finally`, so the process exits.
 *
 * ioredis is imported lazily: `wks --help` never loads it.
 */
import type { Redis, RedisOptions } from 'ioredis';
import type { Config } from '../config/index.js';
import { ConfigError, DependencyError } from '../errors.js';
import { registerSecret } from '../redact.js';
import { sleep } from '../util/process.js';
import { keyspace, type Keyspace } from './keyspace.js';

/** Connect attempts before giving up (the first plus retries). */
export const CONNECT_ATTEMPTS = 2;
/** Upper bound for any single command (a stuck server must not stall the CLI). */
export const COMMAND_TIMEOUT_MS = 15_000;

/** `host:port` (and `/db` when not 0) for messages. Never includes the password. */
export function redisAddress(config: Config): string {
  const c = config.redis.connection;
  return `${c.host}:${c.port}${c.db ? `/${c.db}` : ''}`;
}

/**
 * The server part of every wks ioredis client (host, port, db, password) from
 * config.redis.connection; registers the password as a secret. Callers add
 * their own timeouts and retry policy (CLI, health probe and daemon differ).
 */
export function redisServerOptions(config: Config): {
  host: string;
  port: number;
  db: number;
  password: string | undefined;
  lazyConnect: true;
} {
  const c = config.redis.connection;
  registerSecret(c.password);
  return { host: c.host, port: c.port, db: c.db, password: c.password ?? undefined, lazyConnect: true };
}

/** What differs between wks's Redis clients (CLI, health probe, daemon): timeouts, retries, the name. */
export type RedisClientOptions = Omit<
  RedisOptions,
  'host' | 'port' | 'db' | 'password' | 'username' | 'lazyConnect'
> & {
  connectionName: string;
};

/**
 * The one way wks builds an ioredis client: the configured server (redisServerOptions) plus the
 * per-use options. Not connected yet (lazyConnect): the caller connects and must disconnect.
 */
export async function createRedisClient(config: Config, perUse: RedisClientOptions): Promise<Redis> {
  const { Redis } = await import('ioredis');
  return new Redis({ ...redisServerOptions(config), ...perUse });
}

/** Hint shown when Redis is unreachable. */
const UNREACHABLE_HINT =
  'check that redis-server is running and REDIS_HOST/REDIS_PORT (phase4.redis.connection) point at it; ' +
  'set REDIS_ENABLED=false to run the database-only views without Redis';

/**
 * Throw (exit 78) when Redis is disabled. `what` names the command for the message.
 * @throws ConfigError naming REDIS_ENABLED
 */
export function requireRedisEnabled(config: Config, what = 'this command'): void {
  if (!config.redis.enabled) {
    throw new ConfigError(`${what} needs Redis, which is disabled (REDIS_ENABLED=false)`, [], {
      hint: 'set REDIS_ENABLED=true (or phase4.redis.enabled: true in phase4-config.yml) and point REDIS_HOST/REDIS_PORT at the server',
    });
  }
}

/** A connected client plus the namespace's keyspace. */
export interface RedisHandle {
  client: Redis;
  keys: Keyspace;
  /** host:port[/db] for messages. */
  address: string;
}

/** Reject with an ETIMEDOUT error when `p` has not settled after `ms`. */
function withDeadline<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error(`no answer within ${ms} ms`), { code: 'ETIMEDOUT' })), ms);
  });
  p.catch(() => undefined);
  return Promise.race([p, deadline]).finally(() => clearTimeout(timer));
}

/**
 * A Redis connection failure in a few words for `Redis at host:port is
 * unreachable (...)`: connection refused, host not found, `timedOut` (default
 * names REDIS_CONNECT_TIMEOUT_MS), authentication failed, not Redis, else the
 * first line of the message.
 */
export function describeRedisError(
  err: unknown,
  timedOut = 'no answer within the connect timeout (REDIS_CONNECT_TIMEOUT_MS)',
): string {
  const e = err as NodeJS.ErrnoException & { message?: string };
  if (e?.code === 'ECONNREFUSED') return 'connection refused';
  if (e?.code === 'ENOTFOUND' || e?.code === 'EAI_AGAIN') return 'host not found';
  if (e?.code === 'ETIMEDOUT' || /timed? ?out|no answer/i.test(e?.message ?? '')) return timedOut;
  if (/NOAUTH|WRONGPASS|invalid password|AUTH/i.test(e?.message ?? '')) return 'authentication failed';
  if (/Unknown RESP type|Protocol error/i.test(e?.message ?? ''))
    return 'the server there does not speak the Redis protocol';
  return e?.message ? e.message.split('\n')[0]! : String(err);
}

/**
 * Open a connected client (caller must call `client.disconnect()`; prefer withRedis).
 * Defaults: connect timeout from config, CONNECT_ATTEMPTS attempts.
 * @throws ConfigError when Redis is disabled; DependencyError (exit 1) with host:port and a hint when unreachable.
 */
export async function openRedis(config: Config, opts: { attempts?: number } = {}): Promise<RedisHandle> {
  requireRedisEnabled(config);
  const c = config.redis.connection;
  const attempts = Math.max(1, opts.attempts ?? CONNECT_ATTEMPTS);
  const address = redisAddress(config);
  let lastErr: unknown;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const client = await createRedisClient(config, {
      connectTimeout: c.connect_timeout_ms,
      commandTimeout: COMMAND_TIMEOUT_MS,
      maxRetriesPerRequest: 1,
      enableOfflineQueue: false,
      // Reconnection is ours (the bounded loop), not ioredis's endless one.
      retryStrategy: () => null,
      enableReadyCheck: true,
      connectionName: 'wks',
      // ioredis arms a timer of this length on disconnect(), cleared only by
      // a 'close' that a failed socket never emits again: keep it short so
      // a failed connect does not hold the process open for 2 s.
      disconnectTimeout: 200,
    });
    // Without a listener ioredis prints unhandled 'error' events to stderr.
    // The socket error (ECONNREFUSED, ETIMEDOUT...) arrives here; connect()
    // itself only rejects with "Connection is closed".
    let socketErr: unknown;
    client.on('error', (e) => {
      socketErr ??= e;
    });
    try {
      // connectTimeout covers only the TCP connect; a server that accepts
      // and never answers would stall the ready check, so the whole
      // handshake (connect + ready + PING) is bounded by the same timeout.
      await withDeadline(
        client.connect().then(() => client.ping()),
        c.connect_timeout_ms,
      );
      return { client, keys: keyspace(config.redis.namespace), address };
    } catch (err) {
      lastErr = (err as NodeJS.ErrnoException)?.code === 'ETIMEDOUT' ? err : (socketErr ?? err);
      client.disconnect();
      if (/NOAUTH|WRONGPASS/i.test((err as Error)?.message ?? '')) break; // retrying cannot help
      if (attempt < attempts) await sleep(Math.min(200 * attempt, 1000));
    }
  }
  throw new DependencyError(`Redis at ${address} is unreachable (${describeRedisError(lastErr)})`, {
    hint: UNREACHABLE_HINT,
    cause: lastErr,
  });
}

/**
 * Run `fn` with a connected Redis and always disconnect afterwards.
 * @throws what openRedis throws, and whatever `fn` throws.
 */
export async function withRedis<T>(config: Config, fn: (r: RedisHandle) => Promise<T>): Promise<T> {
  const handle = await openRedis(config);
  try {
    return await fn(handle);
  } catch (err) {
    throw translateRedisError(err, handle.address);
  } finally {
    handle.client.disconnect();
  }
}

/** Turn a connection loss in the middle of a command into the one-line DependencyError. Other errors pass through. */
export function translateRedisError(err: unknown, address: string): unknown {
  const msg = (err as Error)?.message ?? '';
  if (
    /Connection is closed|Stream isn't writeable|enableOfflineQueue|Command timed out|ECONNRESET|ECONNREFUSED/i.test(
      msg,
    ) &&
    !(err instanceof DependencyError)
  ) {
    return new DependencyError(`Redis at ${address} went away during the command (${describeRedisError(err)})`, {
      hint: UNREACHABLE_HINT,
      cause: err,
    });
  }
  return err;
}

/** Default COUNT hint per SCAN call. */
export const SCAN_COUNT = 1000;
/** Default cap on keys one scan returns (the caller reports `truncated`). */
export const SCAN_CAP = 1_000_000;

/**
 * The one cursor loop behind scanKeys and scanSet: calls `step(cursor)` until
 * the cursor returns to 0, yields non-empty batches, and stops after `cap`
 * items, setting `state.truncated` (before the last batch is yielded) when
 * items were left unread.
 */
async function* capped(
  step: (cursor: string) => Promise<[string, string[]]>,
  cap: number,
  state?: { truncated: boolean },
): AsyncGenerator<string[]> {
  let cursor = '0';
  let seen = 0;
  do {
    const [next, items] = await step(cursor);
    cursor = next;
    if (items.length === 0) continue;
    const over = seen + items.length > cap;
    const batch = over ? items.slice(0, cap - seen) : items;
    seen += batch.length;
    if (over || (seen >= cap && cursor !== '0')) {
      if (state) state.truncated = true;
      if (batch.length) yield batch;
      return;
    }
    yield batch;
  } while (cursor !== '0');
}

/**
 * Iterate keys matching `pattern` with SCAN (never KEYS), `count` per call
 * (default SCAN_COUNT), stopping after `cap` keys (default SCAN_CAP). Yields
 * non-empty batches. Keys are unique per SCAN guarantees except during a
 * rehash; the caller may see a key twice in that rare case. Sets
 * `state.truncated` when the cap stopped the scan.
 */
export function scanKeys(
  client: Redis,
  pattern: string,
  opts: { count?: number; cap?: number; type?: string; state?: { truncated: boolean } } = {},
): AsyncGenerator<string[]> {
  const args: Array<string | number> = ['MATCH', pattern, 'COUNT', opts.count ?? SCAN_COUNT];
  if (opts.type) args.push('TYPE', opts.type);
  // biome-ignore lint/suspicious/noExplicitAny: ioredis 6 types have no overload for a spread argument list
  return capped((cursor) => (client as any).scan(cursor, ...args), opts.cap ?? SCAN_CAP, opts.state);
}

/**
 * Iterate the members of a set with SSCAN (never SMEMBERS on an unbounded
 * set), capped like scanKeys (same defaults, same `state.truncated`).
 */
export function scanSet(
  client: Redis,
  key: string,
  opts: { count?: number; cap?: number; state?: { truncated: boolean } } = {},
): AsyncGenerator<string[]> {
  return capped(
    (cursor) => client.sscan(key, cursor, 'COUNT', opts.count ?? SCAN_COUNT),
    opts.cap ?? SCAN_CAP,
    opts.state,
  );
}

/** How many keys match `pattern` (SCAN with scanKeys' defaults: counts at most SCAN_CAP). */
export async function countKeys(client: Redis, pattern: string): Promise<number> {
  let n = 0;
  for await (const batch of scanKeys(client, pattern)) n += batch.length;
  return n;
}
