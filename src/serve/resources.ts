/**
 * The daemon's long-lived connections: one database adapter, reopened lazily after a failure or when
 * a restore replaced the SQLite file, and one Redis client that reconnects on its own. Being down is
 * never fatal here: callers see the error, probes and wks_up report it.
 */
import { statSync } from 'node:fs';
import type { Redis } from 'ioredis';
import type { Config } from '../config/index.js';
import { isConnectionLoss, type DatabaseAdapter } from '../db/index.js';
import { instrumentDb, type WksMetrics } from '../metrics/index.js';
import type { Logger } from './scheduler.js';
import { dependencyLog, repeating } from '../log/index.js';

/** The daemon's database adapter (see the module comment). */
export class DaemonDatabase {
  private db: DatabaseAdapter | null = null;
  private opening: Promise<DatabaseAdapter | null> | null = null;
  private closed = false;
  // SQLite: the file's identity at open. A restore renames a new file into
  // place; the old handle would keep reading the replaced inode, so reopen.
  private openedIno: number | null = null;

  constructor(
    private readonly config: Config,
    private readonly metrics: WksMetrics,
    private readonly log: Logger,
    /** Called when the SQLite file was replaced and the adapter reopened (cached readings are stale). */
    private readonly onReplaced: () => void,
  ) {}

  private replaced(): boolean {
    if (this.openedIno === null) return false;
    try {
      return statSync(this.config.database.path).ino !== this.openedIno;
    } catch {
      return true;
    }
  }

  /** The open adapter, opening it when needed; null once closed. Rejects when the database cannot be opened. */
  readonly get = async (): Promise<DatabaseAdapter | null> => {
    if (this.db && this.config.database.type === 'sqlite' && this.replaced()) {
      const old = this.db;
      this.db = null;
      this.openedIno = null;
      await old.close().catch(() => undefined);
      this.onReplaced();
      this.log('info', `the database file ${this.config.database.path} was replaced (restore?); reopening it`);
    }
    if (this.db || this.closed) return this.db;
    if (!this.opening) {
      this.opening = (async () => {
        try {
          const { openDatabase } = await import('../db/index.js');
          const raw = await openDatabase(this.config, { create: false, applicationName: 'wks-serve' });
          if (raw.dialect === 'sqlite') this.openedIno = statSync(this.config.database.path).ino;
          this.db = instrumentDb(raw, this.metrics);
          return this.db;
        } finally {
          this.opening = null;
        }
      })();
    }
    return this.opening;
  };

  /** Run `fn` on the adapter; a PostgreSQL connection that was lost is dropped so the next use reopens it. */
  async withRetry<T>(fn: (d: DatabaseAdapter) => Promise<T>): Promise<T> {
    const d = await this.get();
    if (!d) throw new Error('the database is closed');
    try {
      return await fn(d);
    } catch (err) {
      if (this.db === d && d.dialect === 'postgres' && isConnectionLoss(err)) {
        this.db = null;
        await d.close().catch(() => undefined);
      }
      throw err;
    }
  }

  /** No more opening; closes the adapter unless `keepOpen` (a job that outlived the grace period still uses it). */
  async close(keepOpen = false): Promise<void> {
    this.closed = true;
    const d = this.db;
    this.db = null;
    if (!keepOpen) await d?.close().catch(() => undefined);
  }
}

/** The daemon's Redis client, and what the collectors and alerts need of it. */
export interface DaemonRedis {
  countLocks: (() => Promise<number>) | null;
  ping: (() => Promise<void>) | null;
  close(): Promise<void>;
  disconnect(): void;
}

/**
 * Connect the daemon's Redis client when Redis is enabled (in the background: it reconnects on its
 * own). Being down is logged on a change of state plus a periodic summary every `repeatMs`.
 */
export async function openDaemonRedis(config: Config, log: Logger, repeatMs: number): Promise<DaemonRedis> {
  if (!config.redis.enabled)
    return { countLocks: null, ping: null, close: async () => undefined, disconnect: () => undefined };
  const { keyspace, createRedisClient, countKeys } = await import('../redis/index.js');
  const c = config.redis.connection;
  const locksPattern = keyspace(config.redis.namespace).patterns.locks;
  const redis: Redis = await createRedisClient(config, {
    connectTimeout: c.connect_timeout_ms,
    commandTimeout: config.health.check_timeout_ms,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    retryStrategy: (n) => Math.min(n * 250, 2000),
    connectionName: 'wks-serve',
  });
  // ioredis retries every 2 s; one line per retry would flood the log.
  const state = dependencyLog(repeating(log, repeatMs), 'Redis');
  redis.on('error', (err) => state.failure(err));
  redis.on('ready', () => state.success());
  redis.connect().catch(() => undefined);
  return {
    countLocks: () => countKeys(redis, locksPattern),
    ping: async () => void (await redis.ping()),
    close: async () => {
      await redis.quit().catch(() => redis.disconnect());
    },
    disconnect: () => redis.disconnect(),
  };
}
