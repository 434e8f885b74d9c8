/**
 * Connections shared by the checks of one health run: one database handle
 * (opened lazily, on first use, through src/db's openDatabase) and cleanup
 * callbacks. The runner closes everything when the run ends, including after
 * a timeout, so nothing a check opened can keep the process alive.
 *
 * Timeouts inside the drivers are clamped to the check budget (SQLite busy
 * timeout, PostgreSQL connect and query timeouts) because a synchronous
 * SQLite call cannot be interrupted by a timer: bounding it at the source is
 * the only way to keep the overall deadline.
 */
import type { Config } from '../config/index.js';
import type { DatabaseAdapter } from '../db/index.js';
import type { Redis } from 'ioredis';
import { DependencyError } from '../errors.js';

/** A Redis client owned by the health run. */
export interface HealthRedis {
  client: Redis;
  /** host:port[/db], never the password. */
  address: string;
}

export class HealthResources {
  private dbPromise?: Promise<DatabaseAdapter>;
  private redisPromise?: Promise<HealthRedis>;
  private readonly cleanups: Array<() => Promise<void> | void> = [];
  private closed = false;

  /**
   * @param config    validated configuration
   * @param budgetMs  each check's budget; driver timeouts are clamped to it
   * @param external  an already open database handle (e.g. `wks serve`'s); used as is and never closed here
   */
  constructor(
    readonly config: Config,
    readonly budgetMs: number,
    private readonly external?: DatabaseAdapter,
  ) {}

  /** The config with driver timeouts clamped to the check budget. */
  clampedConfig(): Config {
    const c = structuredClone(this.config);
    const b = Math.max(1, this.budgetMs);
    c.database.busy_timeout_ms = Math.min(c.database.busy_timeout_ms, b);
    c.database.query_timeout_ms = Math.min(c.database.query_timeout_ms || b, b);
    c.database.pooling.connection_timeout_ms = Math.min(c.database.pooling.connection_timeout_ms || b, b);
    c.database.pooling.min = 0;
    c.redis.connection.connect_timeout_ms = Math.min(c.redis.connection.connect_timeout_ms, b);
    return c;
  }

  /**
   * The run's database handle, opened on first call (never creates a missing
   * SQLite file). Throws what openDatabase throws: NotFoundError for a missing
   * SQLite file, DependencyError when PostgreSQL is unreachable.
   */
  db(): Promise<DatabaseAdapter> {
    if (this.external) return Promise.resolve(this.external);
    if (!this.dbPromise) {
      this.dbPromise = (async () => {
        const { openDatabase } = await import('../db/index.js');
        const db = await openDatabase(this.clampedConfig(), { create: false, readonly: true });
        if (this.closed) {
          await db.close();
          throw new Error('health run already finished');
        }
        this.cleanups.push(() => db.close());
        return db;
      })();
      // Avoid an unhandled rejection when only a dependent check awaited it.
      this.dbPromise.catch(() => undefined);
    }
    return this.dbPromise;
  }

  /**
   * The run's Redis client, connected on first call (one attempt: a probe
   * reports, it does not retry). Unlike src/redis's openRedis, the client's
   * every timeout is the check budget and close() destroys its socket at
   * once, so a server that accepts but never answers cannot hold the process.
   * @throws DependencyError naming host:port when unreachable
   */
  redis(): Promise<HealthRedis> {
    if (!this.redisPromise) {
      this.redisPromise = (async () => {
        const { redisAddress, createRedisClient, describeRedisError } = await import('../redis/index.js');
        const c = this.config.redis.connection;
        const address = redisAddress(this.config);
        const client = await createRedisClient(this.config, {
          connectTimeout: Math.min(c.connect_timeout_ms, this.budgetMs),
          commandTimeout: this.budgetMs,
          // ioredis's disconnect() arms this timer and clears it on the socket's 'close'; on a socket that
          // already closed (connection refused) it never clears and holds the process for 2 s by default.
          disconnectTimeout: 0,
          maxRetriesPerRequest: 0,
          enableOfflineQueue: false,
          retryStrategy: () => null,
          enableReadyCheck: false,
          connectionName: 'wks-health',
        });
        // ioredis rejects connect() with "Connection is closed."; the cause is in the 'error' event.
        let lastError: unknown;
        client.on('error', (err) => (lastError = err));
        const destroy = () => {
          client.disconnect();
          // disconnect() only half-closes; a hung peer would keep the socket (and the process) alive.
          (client as unknown as { stream?: { destroy(): void } }).stream?.destroy();
        };
        this.onClose(destroy);
        try {
          await client.connect();
        } catch (err) {
          destroy();
          throw new DependencyError(
            `Redis at ${address} is unreachable (${describeRedisError(lastError ?? err, 'timed out')})`,
            {
              hint: 'check that redis-server is running and REDIS_HOST/REDIS_PORT point at it, or set REDIS_ENABLED=false',
              cause: err,
            },
          );
        }
        return { client, address };
      })();
      this.redisPromise.catch(() => undefined);
    }
    return this.redisPromise;
  }

  /** Whether the database was opened successfully in this run (false when never asked or failed). */
  async dbOpened(): Promise<boolean> {
    if (!this.dbPromise) return false;
    return this.dbPromise.then(
      () => true,
      () => false,
    );
  }

  /** Register a cleanup to run when the run ends (sockets, clients). */
  onClose(fn: () => Promise<void> | void): void {
    if (this.closed)
      void Promise.resolve()
        .then(fn)
        .catch(() => undefined);
    else this.cleanups.push(fn);
  }

  /** Close everything opened during the run (idempotent; errors are swallowed: the report matters more). */
  async close(): Promise<void> {
    this.closed = true;
    const fns = this.cleanups.splice(0).reverse();
    await Promise.all(
      fns.map((fn) =>
        Promise.resolve()
          .then(fn)
          .catch(() => undefined),
      ),
    );
  }
}
