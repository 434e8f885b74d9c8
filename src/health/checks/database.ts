/**
 * `database`: reachable and sound.
 *  - SQLite, by default: a check whose cost does not grow with the file:
 *    the header reads (SQLite itself reports a file shorter than its header
 *    says as malformed), the schema parses, and the first page of every
 *    table reads. With --deep: PRAGMA integrity_check (everything quick_check
 *    checks, plus index contents) over the whole file, in a child process
 *    that is killed when the check's time is up, so the timeout holds and the
 *    event loop is never blocked however large the file is.
 *  - PostgreSQL: SELECT 1 round trip; data checksum failures reported by
 *    pg_stat_database are critical; server connections against
 *    max_connections and, when the handle is a long-lived pool (wks serve),
 *    the pool's usage against DB_POOL_MAX: at or above
 *    health.pool_usage_warn_percent, or any waiting client, is warn. An
 *    unfinished `wks db copy` target (a run not verified, foreign keys set
 *    aside) is critical: it lacks constraints of the platform's schema and
 *    maybe rows, and writes to it could break the foreign keys the copy adds back.
 * Unreachable or missing database: critical (the error's message and hint).
 */
import { performance } from 'node:perf_hooks';
import type { CheckContext, CheckDefinition, CheckOutcome } from '../types.js';
import type { DatabaseAdapter } from '../../db/index.js';
import { quoteIdent } from '../../db/index.js';
import { formatBytes } from '../../util/size.js';

const CORRUPT_HINT =
  'stop writers, then restore the newest verified backup (`wks backup restore --latest`; with --force it keeps the damaged file for `wks db salvage`)';

const isCorruption = (err: unknown) =>
  /malformed|corrupt|not a database/i.test(
    `${(err as Error).message} ${((err as Error).cause as Error | undefined)?.message ?? ''}`,
  );

/**
 * The database does not exist. When the configured database has backups, the
 * first hint is the restore: `wks migrate up` would create an empty database,
 * which is only right for a new install.
 */
async function missingDatabase(ctx: CheckContext, err: Error & { hint?: string }): Promise<CheckOutcome> {
  let hint = err.hint ?? 'check DATABASE_PATH';
  let newest: string | null = null;
  try {
    const { sourceCatalog } = await import('../../backup/index.js');
    const cat = await sourceCatalog(ctx.config);
    newest = cat.entries[0]?.manifest.id ?? null;
    if (newest) {
      hint = `restore it from the newest backup (${newest}): \`wks backup restore --latest\` (\`wks migrate up\` would create an empty database: only for a new install)`;
    } else if (cat.others.length) {
      hint = `${err.hint ?? 'check DATABASE_PATH'}; no backup of this database in ${cat.location}, but ${cat.others.length} of other databases (\`wks backup list\`)`;
    }
  } catch {
    /* the backup catalog is unreadable too: keep the database's own hint */
  }
  return { status: 'critical', detail: err.message, hint, data: { missing: true, newestBackup: newest } };
}

/** page_count * page_size from the header: the database's size in bytes. */
async function sizeOf(db: DatabaseAdapter): Promise<number> {
  const [r] = await db.query<{ size: unknown }>(
    'SELECT page_count * page_size AS size FROM pragma_page_count(), pragma_page_size()',
  );
  return Number(r?.size ?? 0);
}

/** The default SQLite check: header, schema and each table's first page; O(tables), not O(file). */
async function sqliteBasic(db: DatabaseAdapter): Promise<CheckOutcome> {
  const t0 = performance.now();
  const check = 'header, schema and table roots';
  const bytes = await sizeOf(db);
  const data: Record<string, unknown> = { dialect: 'sqlite', target: db.target, check, sizeBytes: bytes };
  const tables = await db.query<{ name: string }>(
    "SELECT name FROM sqlite_schema WHERE type = 'table' AND sql NOT LIKE 'CREATE VIRTUAL%'",
  );
  for (const t of tables) await db.query(`SELECT 1 FROM ${quoteIdent(t.name)} LIMIT 1`);
  const ms = Math.round(performance.now() - t0);
  Object.assign(data, { tables: tables.length, latencyMs: ms });
  return {
    status: 'ok',
    detail: `${check} ok (${formatBytes(bytes)}, ${tables.length} tables) in ${ms} ms; --deep reads every page`,
    data,
  };
}

/** --deep on SQLite: integrity_check over the whole file, in a child process killed when the check's time is up. */
async function sqliteDeep(db: DatabaseAdapter, ctx: CheckContext): Promise<CheckOutcome> {
  const { sqliteCheckInChild } = await import('../../db/index.js');
  const pragma = 'integrity_check';
  const t0 = performance.now();
  const bytes = await sizeOf(db);
  // Bounded to 20 messages: enough to say what is wrong, never a flood.
  const messages = await sqliteCheckInChild(ctx.config.database.path, {
    pragma,
    maxErrors: 20,
    busyTimeoutMs: ctx.timeoutMs,
    signal: ctx.signal,
  });
  const ms = Math.round(performance.now() - t0);
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

export const databaseCheck: CheckDefinition = {
  name: 'database',
  description:
    'reachable; SQLite header, schema and table roots (full integrity_check with --deep); PostgreSQL SELECT 1, pool usage and no unfinished `db copy`',
  async run(ctx): Promise<CheckOutcome> {
    let db: DatabaseAdapter;
    try {
      db = await ctx.resources.db();
    } catch (err) {
      if ((err as { exitCode?: number }).exitCode !== 5) throw err;
      return missingDatabase(ctx, err as Error & { hint?: string });
    }
    const t0 = performance.now(); // the check's own latency, excluding the (shared) open
    if (db.dialect === 'sqlite') {
      try {
        return await (ctx.deep ? sqliteDeep(db, ctx) : sqliteBasic(db));
      } catch (err) {
        // SQLITE_CORRUPT / SQLITE_NOTADB surface as an error rather than as check rows.
        if (ctx.signal.aborted || !isCorruption(err)) throw err;
        return {
          status: 'critical',
          detail: `${ctx.deep ? 'integrity_check' : 'the database'} failed: ${(err as Error).message}`,
          hint: CORRUPT_HINT,
          data: { dialect: 'sqlite', target: db.target },
        };
      }
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

    const { unfinishedCopy } = await import('../../copy/index.js');
    const copy = await unfinishedCopy(db);
    if (copy) {
      data.unfinishedCopy = copy;
      return { status: 'critical', detail: `${copy.summary} in ${db.target}`, hint: copy.hint, data };
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
