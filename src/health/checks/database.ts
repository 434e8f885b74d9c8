/**
 * `database`: reachable and sound.
 *  - SQLite: PRAGMA quick_check (PRAGMA integrity_check with --deep); any
 *    reported problem is critical.
 *  - PostgreSQL: SELECT 1 round trip; data checksum failures reported by
 *    pg_stat_database are critical; server connections against
 *    max_connections and, when the handle is a long-lived pool (wks serve),
 *    the pool's usage against DB_POOL_MAX: at or above
 *    health.pool_usage_warn_percent, or any waiting client, is warn.
 * Unreachable or missing database: critical (the error's message and hint).
 */
import { performance } from 'node:perf_hooks';
import type { CheckDefinition, CheckOutcome } from '../types.js';
import { formatBytes } from '../../util/size.js';

const CORRUPT_HINT =
  'stop writers, then restore the newest verified backup (`wks backup restore --latest`), or salvage with sqlite3 .recover';

export const databaseCheck: CheckDefinition = {
  name: 'database',
  description: 'reachable; SQLite quick_check (integrity_check with --deep); PostgreSQL SELECT 1 and pool usage',
  async run(ctx): Promise<CheckOutcome> {
    const db = await ctx.resources.db();
    const t0 = performance.now(); // the check's own latency, excluding the (shared) open
    if (db.dialect === 'sqlite') {
      const pragma = ctx.deep ? 'integrity_check' : 'quick_check';
      // Bounded to 20 messages: enough to say what is wrong, never a flood.
      let rows: Record<string, unknown>[];
      try {
        rows = await db.query<Record<string, unknown>>(`PRAGMA ${pragma}(20)`);
      } catch (err) {
        // SQLITE_CORRUPT / SQLITE_NOTADB surface as an error rather than as check rows.
        if (
          !/malformed|corrupt|not a database/i.test(
            `${(err as Error).message} ${((err as Error).cause as Error | undefined)?.message ?? ''}`,
          )
        )
          throw err;
        return {
          status: 'critical',
          detail: `${pragma} failed: ${(err as Error).message}`,
          hint: CORRUPT_HINT,
          data: { dialect: 'sqlite', target: db.target, check: pragma },
        };
      }
      const messages = rows.map((r) => String(Object.values(r)[0]));
      const ms = Math.round(performance.now() - t0);
      const [size] = await db.query<{ size: unknown }>(
        'SELECT page_count * page_size AS size FROM pragma_page_count(), pragma_page_size()',
      );
      const bytes = Number(size?.size ?? 0);
      const data = { dialect: 'sqlite', target: db.target, check: pragma, sizeBytes: bytes, latencyMs: ms };
      if (messages.length === 1 && messages[0] === 'ok') {
        return { status: 'ok', detail: `${pragma} ok (${formatBytes(bytes)}) in ${ms} ms`, data };
      }
      return {
        status: 'critical',
        detail: `${pragma} found ${messages.length === 20 ? '20+' : messages.length} problem(s): ${messages[0]}`,
        hint: CORRUPT_HINT,
        data: { ...data, problems: messages },
      };
    }

    await db.query('SELECT 1');
    const latencyMs = Math.round(performance.now() - t0);
    const pct = ctx.config.health.pool_usage_warn_percent;
    const warnings: string[] = [];
    const data: Record<string, unknown> = { dialect: 'postgres', target: db.target, latencyMs };

    const [conn] = await db.query<{ used: unknown; max: unknown }>(
      "SELECT (SELECT count(*) FROM pg_stat_activity) AS used, current_setting('max_connections')::int AS max",
    );
    const used = Number(conn?.used ?? 0);
    const max = Number(conn?.max ?? 0);
    data.serverConnections = { used, max };
    if (max > 0 && (used / max) * 100 >= pct) warnings.push(`server connections ${used}/${max} (>= ${pct}%)`);

    // Data-page checksum failures the server has seen (NULL when data checksums are off).
    const [cs] = await db.query<{ failures: unknown }>(
      'SELECT checksum_failures AS failures FROM pg_stat_database WHERE datname = current_database()',
    );
    const checksumFailures = cs?.failures === null || cs?.failures === undefined ? null : Number(cs.failures);
    data.checksumFailures = checksumFailures;
    if (checksumFailures && checksumFailures > 0) {
      return {
        status: 'critical',
        detail: `PostgreSQL reports ${checksumFailures} data checksum failure(s) in ${db.target}`,
        hint: 'storage corruption: check the server log and disks; restore from a verified backup',
        data,
      };
    }

    const pool = db.poolStats();
    const poolMax = ctx.config.database.pooling.max;
    if (pool) {
      const inUse = pool.total - pool.idle;
      data.pool = { ...pool, inUse, max: poolMax };
      if ((inUse / poolMax) * 100 >= pct)
        warnings.push(`pool ${inUse}/${poolMax} connections in use (>= ${pct}% of DB_POOL_MAX)`);
      if (pool.waiting > 0) warnings.push(`${pool.waiting} client(s) waiting for a pool connection`);
    }
    const base = `SELECT 1 in ${latencyMs} ms; server connections ${used}/${max}`;
    if (warnings.length > 0) {
      return {
        status: 'warn',
        detail: `${base}; ${warnings.join('; ')}`,
        hint: 'raise DB_POOL_MAX or max_connections, or find what holds connections (pg_stat_activity)',
        data,
      };
    }
    return { status: 'ok', detail: base, data };
  },
};
