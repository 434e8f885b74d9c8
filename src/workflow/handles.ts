/**
 * Opening the two stores the workflow views join: the database (required;
 * never created by a read-only view) and Redis (optional: disabled means
 * "not included", unreachable means "not included" for views, or an error
 * for commands that change state).
 */
import type { Config } from '../config/index.js';
import type { DatabaseAdapter } from '../db/index.js';
import { openRedis, type RedisHandle } from '../redis/index.js';
import { WksError } from '../errors.js';

/** Whether Redis state is part of a result, and why not. */
export interface RedisInclusion {
  included: boolean;
  /** Why not: `disabled (REDIS_ENABLED=false)` or the unreachable message. */
  reason: string | null;
  /** True when Redis is turned off by configuration (a choice, not a problem). */
  disabled?: boolean;
}

export interface Handles {
  db: DatabaseAdapter;
  redis: RedisHandle | null;
  redisInclusion: RedisInclusion;
}

/** Open the database through the db layer (lazy import keeps --help light). */
export async function openDb(config: Config, opts: { create?: boolean } = {}): Promise<DatabaseAdapter> {
  const { openDatabase } = await import('../db/index.js');
  return openDatabase(config, { create: opts.create ?? false });
}

/**
 * Run `fn` with the database and (when enabled) Redis; both are closed in `finally`.
 * `redis: 'optional'` (views): an unreachable Redis is reported in `redisInclusion`;
 * `redis: 'required-if-enabled'` (reap): an unreachable Redis throws DependencyError.
 * @throws NotFoundError when the SQLite file does not exist; DatabaseError/DependencyError when unreachable.
 */
export async function withHandles<T>(
  config: Config,
  mode: 'optional' | 'required-if-enabled',
  fn: (h: Handles) => Promise<T>,
): Promise<T> {
  const db = await openDb(config);
  let redis: RedisHandle | null = null;
  let redisInclusion: RedisInclusion = {
    included: false,
    disabled: true,
    reason: 'Redis is disabled (REDIS_ENABLED=false)',
  };
  try {
    if (config.redis.enabled) {
      try {
        redis = await openRedis(config);
        redisInclusion = { included: true, reason: null };
      } catch (err) {
        if (mode === 'required-if-enabled' || !(err instanceof WksError)) throw err;
        redisInclusion = { included: false, reason: err.message };
      }
    }
    return await fn({ db, redis, redisInclusion });
  } finally {
    redis?.client.disconnect();
    await db.close();
  }
}
