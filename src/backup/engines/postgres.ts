/**
 * The PostgreSQL engine: `pg_dump -Fc` streamed into the shared pipeline
 * (hash, compress, encrypt, atomic rename), verified with `pg_restore --list`
 * (and, deep, a full restore into a scratch database), restored into a new
 * database that is swapped in by rename.
 *
 * Consistency: one REPEATABLE READ transaction exports its snapshot; pg_dump
 * runs with `--snapshot=<id>` while that transaction stays open, and the
 * per-table row counts and the schema version are read inside the same
 * transaction. The manifest's counts therefore describe exactly what was
 * dumped, whatever writers do meanwhile.
 *
 * Restore safety: pg_restore writes into a NEW database (`<target>_wks_new_*`);
 * only after it finished and its row counts match the manifest are the old
 * and new databases swapped, by two `ALTER DATABASE ... RENAME` in one
 * transaction. Killed at any point before that commit, the target still has
 * its old contents (the half-restored database is dropped by the next run);
 * after it, the target is the restored database. This is stronger than
 * `pg_restore --single-transaction --clean`, which leaves behind tables the
 * backup does not know and cannot run in parallel.
 *
 * Databases wks creates carry a comment `wks:<role>:<host>:<pid>`; a later
 * run drops those whose process is gone (same host only). The name is
 * recorded on this host before CREATE DATABASE (pg-intent.ts), so one killed
 * before its comment was set is dropped too.
 *
 * pg_dump runs with `-Z 0`: the archive is uncompressed and the configured
 * codec (gzip/zstd/none) compresses it, so nothing is compressed twice and
 * `--compress none` really means none.
 */
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { ChildProcessByStdio } from 'node:child_process';
import { deadIntents, forgetIntent, recordIntent } from './pg-intent.js';
import { pipeline as streamPipeline, Transform, type Readable } from 'node:stream';
import type pg from 'pg';
import type { Config } from '../../config/index.js';
import {
  ConflictError,
  DependencyError,
  NotFoundError,
  OperationError,
  UsageError,
  VerificationError,
  WksError,
} from '../../errors.js';
import { removeQuietly } from '../files.js';
import { scratchPath } from '../../util/scratch.js';
import { trackChild } from '../../util/interrupt.js';
import { minimalEnv, pidAlive, sleep } from '../../util/process.js';
import { schemaCheck, type BackupEngine, type RestoreTarget, type SnapshotResult } from '../engine.js';
import type { LogFn, Manifest, VerifyCheck } from '../types.js';
import {
  childEnvironment,
  clientOptions,
  conninfo,
  conninfoValue,
  pgConn,
  requireMajor,
  resolveTool,
  runTool,
  serverMajor,
  stderrSummary,
  type PgConn,
  type PgTool,
} from './pg-tools.js';
import { describePostgres, PG_IDENTITY_SQL, quoteIdent } from '../../db/index.js';
import type { ConfiguredSource } from '../source.js';

type Client = pg.Client;

/** A PostgreSQL restore target: the database name plus what install needs. */
export interface PgRestoreTarget extends RestoreTarget {
  conn: PgConn;
  /** The backup directory. */
  storageDir: string;
  config: Config;
}

/** Parallel pg_restore jobs (restore into a new database and deep verify). */
const RESTORE_JOBS = 2;

/** Maintenance databases to connect to for CREATE/DROP/RENAME DATABASE, in order. */
const MAINTENANCE_DBS = ['postgres', 'template1'];

const ql = (s: string): string => `'${s.replace(/'/g, "''")}'`;

/** `host:port/database`: the location part of a PostgreSQL source identity. */
export function pgLocation(conn: PgConn, database = conn.database): string {
  return `${conn.host}:${conn.port}/${database}`;
}

/** A database name as a shell-ready `psql -d` argument that libpq reads as a literal name. */
function psqlDbArg(name: string): string {
  if (/^[A-Za-z0-9_.-]+$/.test(name)) return name;
  return `'${`dbname=${conninfoValue(name)}`.replace(/'/g, `'\\''`)}'`;
}

/** postgres://user:****@host:port/database, for messages. */
function describe(conn: PgConn, database: string): string {
  return describePostgres({ url: null, host: conn.host, port: conn.port, database, user: conn.user });
}

async function pgModule(): Promise<typeof pg> {
  return (await import('pg')).default;
}

function connectError(err: unknown, conn: PgConn, database: string): WksError {
  const e = err as { code?: string; message?: string };
  const where = describe(conn, database);
  if (e?.code === '3D000') {
    return new NotFoundError(`the PostgreSQL database ${where} does not exist`, {
      cause: err,
      hint: 'check PG_DATABASE (database.postgresql.database); `createdb` and `wks migrate up` create a new one, `wks backup restore --latest` brings one back',
    });
  }
  return new DependencyError(`cannot connect to PostgreSQL at ${where}: ${e?.message ?? String(err)}`, {
    cause: err,
    hint: e?.code?.startsWith('28')
      ? 'check PG_USER / PG_PASSWORD (or PG_URL)'
      : 'is PostgreSQL running and reachable? check PG_HOST / PG_PORT (or PG_URL) and PG_SSL',
  });
}

/** Connect one client to `database` (statement_timeout off: dumps and counts of big tables take long). Throws NotFoundError / DependencyError. */
async function connect(conn: PgConn, database = conn.database): Promise<Client> {
  const { Client } = await pgModule();
  const c = new Client(clientOptions(conn, database) as pg.ClientConfig);
  c.on('error', () => {
    /* a dropped connection surfaces as a failed query */
  });
  try {
    await c.connect();
    await c.query('SET statement_timeout = 0; SET idle_in_transaction_session_timeout = 0; SET lock_timeout = 0');
  } catch (err) {
    await c.end().catch(() => {});
    throw connectError(err, conn, database);
  }
  return c;
}

/** A connection to a maintenance database other than `avoid` (we must not sit in a database we rename or drop). */
async function connectMaintenance(conn: PgConn, avoid: string[] = []): Promise<Client> {
  let last: unknown;
  for (const db of [...MAINTENANCE_DBS, conn.database]) {
    if (avoid.includes(db)) continue;
    try {
      return await connect(conn, db);
    } catch (err) {
      last = err;
      if (err instanceof NotFoundError) continue;
      throw err;
    }
  }
  throw last instanceof WksError
    ? last
    : new DependencyError('no maintenance database (postgres, template1) to connect to', {
        hint: 'create the `postgres` database',
      });
}

async function serverVersion(c: Client): Promise<{ num: number; text: string }> {
  const r = await c.query<{ num: string; v: string }>(
    "SELECT current_setting('server_version_num') AS num, current_setting('server_version') AS v",
  );
  return { num: Number(r.rows[0]!.num), text: String(r.rows[0]!.v).split(' ')[0]! };
}

/**
 * The tables whose data pg_dump dumps (ordinary tables, partitions included,
 * outside the system schemas and not owned by an extension), keyed as in the
 * manifest: `name` in public, `schema.name` elsewhere.
 */
export async function listTables(c: Client): Promise<Array<{ key: string; schema: string; name: string }>> {
  const r = await c.query<{ schema: string; name: string }>(`
    SELECT n.nspname AS schema, c.relname AS name
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind = 'r' AND c.relpersistence <> 't'
       AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'
       AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
     ORDER BY 1, 2`);
  return r.rows.map((t) => ({
    key: t.schema === 'public' ? t.name : `${t.schema}.${t.name}`,
    schema: t.schema,
    name: t.name,
  }));
}

/** Exact per-table row counts (count(*) each), in the client's current transaction/snapshot. */
export async function countRows(
  c: Client,
  tables?: Array<{ key: string; schema: string; name: string }>,
): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const t of tables ?? (await listTables(c))) {
    const r = await c.query<{ n: string }>(`SELECT count(*) AS n FROM ${quoteIdent(t.schema)}.${quoteIdent(t.name)}`);
    out[t.key] = Number(r.rows[0]!.n);
  }
  return out;
}

/** The last cleanly applied migration in wks's schema_migrations (current schema), or null. */
async function schemaVersionIn(c: Client): Promise<string | null> {
  const t = await c.query("SELECT to_regclass('schema_migrations') IS NOT NULL AS x");
  if (!t.rows[0]?.x) return null;
  const cols = await c.query<{ name: string }>(
    "SELECT attname AS name FROM pg_attribute WHERE attrelid = 'schema_migrations'::regclass AND attnum > 0 AND NOT attisdropped",
  );
  const dirty = cols.rows.some((r) => r.name === 'dirty') ? ' WHERE NOT dirty' : '';
  const r = await c.query<{ version: string }>(`SELECT version::text AS version FROM schema_migrations${dirty}`);
  const versions = r.rows.map((x) => x.version).sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  return versions.length ? versions[versions.length - 1]! : null;
}

/** Compare counts with the manifest: a list of differences, empty when equal. */
export function diffCounts(want: Record<string, number>, got: Record<string, number>): string[] {
  const diffs: string[] = [];
  for (const t of new Set([...Object.keys(want), ...Object.keys(got)])) {
    if (want[t] !== got[t]) diffs.push(`${t}: manifest ${want[t] ?? 'absent'}, restored ${got[t] ?? 'absent'}`);
  }
  return diffs;
}

// ---------------------------------------------------------------------------
// databases wks creates (scratch, new, old): marked, swept, always dropped

type Role = 'scratch' | 'new' | 'old';
const marker = (role: Role): string => `wks:${role}:${hostname()}:${process.pid}`;

/** A fresh database name `<base>_wks_<role>_<hex>` of at most 63 bytes. */
function tempDbName(base: string, role: Role): string {
  const suffix = `_wks_${role}_${randomBytes(3).toString('hex')}`;
  return `${base.slice(0, 63 - suffix.length)}${suffix}`;
}

async function dropDatabase(c: Client, name: string, log?: LogFn): Promise<void> {
  try {
    await c.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
  } catch (err) {
    if ((err as { code?: string }).code === '42601') {
      // PostgreSQL < 13 has no WITH (FORCE).
      await c.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`,
        [name],
      );
      await c.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)}`);
    } else {
      log?.('warn', `could not drop the temporary database ${name}: ${(err as Error).message}; drop it by hand`);
    }
  }
}

/** Drop databases left by wks runs on this host whose process died (crashed verify/restore). Returns their names. */
export async function sweepTempDatabases(c: Client, log?: LogFn): Promise<string[]> {
  const r = await c.query<{ datname: string; c: string }>(
    "SELECT datname, shobj_description(oid, 'pg_database') AS c FROM pg_database WHERE shobj_description(oid, 'pg_database') LIKE 'wks:%'",
  );
  const dropped: string[] = [];
  for (const row of r.rows) {
    const m = /^wks:(scratch|new|old):(.*):(\d+)$/.exec(row.c);
    if (!m || m[2] !== hostname() || pidAlive(Number(m[3]))) continue;
    await dropDatabase(c, row.datname, log);
    dropped.push(row.datname);
    log?.('info', `dropped ${row.datname}, left by an interrupted wks run (${m[1]})`);
  }
  return [...dropped, ...(await sweepUnmarked(c, log))];
}

/** `host:port` of `c`'s server: what an intent record (pg-intent.ts) is matched on. */
const serverOf = (c: Client): string => `${c.host}:${c.port}`;

/**
 * Drop the databases dead runs recorded before CREATE DATABASE (pg-intent.ts) that exist under exactly
 * that name with no comment: killed before the marker was set. Removes those records.
 */
async function sweepUnmarked(c: Client, log?: LogFn): Promise<string[]> {
  const dropped: string[] = [];
  for (const i of deadIntents(serverOf(c))) {
    const r = await c.query<{ c: string | null }>(
      "SELECT shobj_description(oid, 'pg_database') AS c FROM pg_database WHERE datname = $1",
      [i.name],
    );
    if (r.rows[0] && r.rows[0].c === null) {
      await dropDatabase(c, i.name, log);
      dropped.push(i.name);
      log?.('info', `dropped ${i.name}, left unmarked by an interrupted wks run (killed before its marker was set)`);
    }
    forgetIntent(i.file);
  }
  return dropped;
}

/** CREATE DATABASE `name` from template0, with the encoding/locale/owner given (falls back to the server defaults if the locale is unknown here). */
async function createDatabase(
  c: Client,
  name: string,
  like: { encoding?: string; collate?: string; ctype?: string; owner?: string },
  role: Role,
): Promise<void> {
  // Recorded first: a kill between CREATE DATABASE and the marker comment leaves a database only this record names.
  const intent = recordIntent(serverOf(c), name);
  const owner = like.owner ? ` OWNER ${quoteIdent(like.owner)}` : '';
  const full =
    like.encoding && like.collate && like.ctype
      ? ` ENCODING ${ql(like.encoding)} LC_COLLATE ${ql(like.collate)} LC_CTYPE ${ql(like.ctype)}`
      : '';
  let created = false;
  try {
    try {
      await c.query(`CREATE DATABASE ${quoteIdent(name)} TEMPLATE template0${full}${owner}`);
    } catch (err) {
      if (!full) throw err;
      await c.query(`CREATE DATABASE ${quoteIdent(name)} TEMPLATE template0${owner}`);
    }
    created = true;
    await c.query(`COMMENT ON DATABASE ${quoteIdent(name)} IS ${ql(marker(role))}`);
  } catch (err) {
    // Not created: the name may be someone else's, so the record goes. Created but not marked: it stays,
    // and a later run drops the database once this process is gone.
    if (!created) forgetIntent(intent);
    throw err;
  }
  forgetIntent(intent); // marked: the marker sweep covers it from now on
}

/** Other sessions connected to `database`, described for an operator. */
async function sessionsOn(c: Client, database: string): Promise<Array<{ pid: number; text: string }>> {
  const r = await c.query<{
    pid: number;
    usename: string | null;
    application_name: string | null;
    client_addr: string | null;
    state: string | null;
    backend_start: Date | null;
  }>(
    'SELECT pid, usename, application_name, host(client_addr) AS client_addr, state, backend_start FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() ORDER BY backend_start',
    [database],
  );
  return r.rows.map((s) => ({
    pid: s.pid,
    text: `pid ${s.pid} (${s.usename ?? '?'}${s.application_name ? `, ${s.application_name}` : ''}, ${s.client_addr ?? 'local socket'}, ${s.state ?? 'unknown state'})`,
  }));
}

function inUseError(database: string, sessions: Array<{ pid: number; text: string }>): ConflictError {
  const shown = sessions
    .slice(0, 5)
    .map((s) => s.text)
    .join('; ');
  return new ConflictError(
    `the database ${database} has ${sessions.length} other session(s): ${shown}${sessions.length > 5 ? '; ...' : ''}`,
    {
      hint: 'stop the application and `wks serve` first, or pass --force to terminate these sessions and restore anyway',
      details: { sessions: sessions.map((s) => s.pid) },
    },
  );
}

// ---------------------------------------------------------------------------
// pg_restore helpers

/**
 * The tool `pending` found (a resolveTool started before the server's version
 * was known), required to be of at least `major`. When it failed, it is looked
 * up again knowing the server's major, so the error names the right package.
 */
async function toolFor(
  pending: Promise<PgTool>,
  config: Config,
  name: 'pg_dump' | 'pg_restore',
  major: number,
): Promise<PgTool> {
  const tool = await pending.catch(() => resolveTool(config, name, major));
  requireMajor(tool, major);
  return tool;
}

/** pg_restore must read the archive: it must not be older than the pg_dump that wrote it. */
async function restoreTool(config: Config, manifest: Manifest, serverMajorVersion?: number) {
  const dumpMajor = Number(String(manifest.engine_details?.pg_dump_version ?? '').split('.')[0]) || 0;
  return resolveTool(config, 'pg_restore', Math.max(dumpMajor, serverMajorVersion ?? 0) || undefined);
}

/** `pg_restore --list`: the archive's table of contents. Returns the failed/ok check. */
async function listArchive(bin: string, image: string, manifest: Manifest): Promise<VerifyCheck> {
  const r = await runTool(bin, ['--list', image], { env: minimalEnv({ LANG: 'C' }) });
  if (r.code !== 0)
    return { name: 'integrity', ok: false, detail: `pg_restore --list failed: ${stderrSummary(r.stderr)}` };
  const entries = r.stdout.split('\n').filter((l) => /^\d+;/.test(l));
  const data = new Set<string>();
  for (const l of entries) {
    const m = /^\d+; \d+ \d+ TABLE DATA (\S+) (\S+) /.exec(l);
    if (m) data.add(m[1] === 'public' ? m[2]! : `${m[1]}.${m[2]}`);
  }
  // Every table the manifest counted has a data entry (names with spaces are not parsed reliably: skipped).
  const missing = Object.keys(manifest.row_counts ?? {}).filter((t) => /^[A-Za-z0-9_.$]+$/.test(t) && !data.has(t));
  if (missing.length)
    return {
      name: 'integrity',
      ok: false,
      detail: `pg_restore --list: no data entry for ${missing.slice(0, 5).join(', ')}`,
    };
  if (!/Format: CUSTOM/.test(r.stdout))
    return { name: 'integrity', ok: false, detail: 'pg_restore --list: not a custom-format archive' };
  return {
    name: 'integrity',
    ok: true,
    detail: `pg_restore --list: ${entries.length} entries, ${data.size} table data`,
  };
}

/** pg_restore `image` into `database` (exit on the first error). Throws OperationError naming pg_restore's message. */
async function pgRestoreInto(
  bin: string,
  conn: PgConn,
  database: string,
  image: string,
  opts: { noOwner: boolean; jobs: number },
): Promise<void> {
  const ce = childEnvironment(conn, [database]);
  try {
    const args = ['--exit-on-error', '--no-password', `--jobs=${opts.jobs}`, `--dbname=${conninfo(conn, database)}`];
    if (opts.noOwner) args.push('--no-owner', '--no-privileges');
    args.push(image);
    const r = await runTool(bin, args, { env: ce.env, maxOutput: 64 * 1024 });
    if (r.code !== 0) {
      throw new OperationError(
        `pg_restore into ${database} failed${r.signal ? ` (${r.signal})` : ` (exit ${r.code})`}: ${stderrSummary(r.stderr)}`,
        {
          hint: 'see the message above; missing roles can be created first, or the archive checked with `wks backup verify --deep`',
        },
      );
    }
  } finally {
    ce.cleanup();
  }
}

/**
 * `verify --deep`: restore the archive into a scratch database (always
 * dropped), count every table, compare with the manifest. The scratch
 * database is created while `pg_restore --list` reads the archive.
 */
async function deepCheck(
  config: Config,
  imagePath: string,
  manifest: Manifest,
  listing: Promise<{ tool: PgTool; listed: VerifyCheck }>,
  opts: { log?: LogFn; onPhase?: (phase: 'load' | 'check') => void },
): Promise<VerifyCheck[]> {
  const { log, onPhase } = opts;
  listing.catch(() => undefined); // awaited below
  const conn = pgConn(config);
  let admin: Client;
  try {
    admin = await connectMaintenance(conn);
  } catch (err) {
    // A missing pg_restore, or an archive that fails its listing, is reported before an unreachable server.
    const { listed } = await listing;
    if (!listed.ok) return [listed];
    throw err;
  }
  // Named after the configured database, never after the manifest: a manifest never chooses where wks writes.
  const scratch = tempDbName(conn.database, 'scratch');
  try {
    const ver = await serverVersion(admin);
    await sweepTempDatabases(admin, log);
    onPhase?.('load');
    const d = manifest.engine_details ?? {};
    const like = { encoding: d.encoding as string, collate: d.lc_collate as string, ctype: d.lc_ctype as string };
    const [l, c] = await Promise.allSettled([listing, createDatabase(admin, scratch, like, 'scratch')]);
    if (l.status === 'rejected') throw l.reason;
    if (c.status === 'rejected') throw c.reason;
    const { tool, listed } = l.value;
    if (!listed.ok) return [listed];
    if (tool.major < serverMajor(ver.num)) await restoreTool(config, manifest, serverMajor(ver.num)); // throws the one-line error
    log?.('debug', `pg_restore ${tool.version} into the scratch database ${scratch} (${RESTORE_JOBS} jobs)`);
    try {
      await pgRestoreInto(tool.bin, conn, scratch, imagePath, { noOwner: true, jobs: RESTORE_JOBS });
    } catch (err) {
      const detail = `restore into a scratch database failed: ${(err as Error).message.replace(/^pg_restore into \S+ failed/, 'pg_restore')}`;
      return [{ name: 'integrity', ok: false, detail }];
    }
    const checks: VerifyCheck[] = [
      { name: 'integrity', ok: true, detail: `${listed.detail}; restored into a scratch database` },
    ];
    onPhase?.('check');
    log?.('debug', 'restored; counting rows');
    const sc = await connect(conn, scratch);
    let counts: Record<string, number>;
    let schema: string | null;
    try {
      counts = await countRows(sc);
      schema = await schemaVersionIn(sc);
    } finally {
      await sc.end().catch(() => {});
    }
    const diffs = diffCounts(manifest.row_counts ?? {}, counts);
    checks.push({
      name: 'row_counts',
      ok: diffs.length === 0,
      detail: diffs.length ? diffs.slice(0, 5).join('; ') : `${Object.keys(counts).length} tables match`,
    });
    checks.push(schemaCheck(manifest.schema_version, schema));
    log?.('debug', `rows counted; dropping ${scratch}`);
    return checks;
  } finally {
    await dropDatabase(admin, scratch, log);
    await admin.end().catch(() => {});
  }
}

// ---------------------------------------------------------------------------
// the engine

export const postgresEngine: BackupEngine = {
  name: 'postgres',
  extension: '.dump',

  source(config: Config): string {
    const conn = pgConn(config);
    return describe(conn, conn.database);
  },

  location(config: Config): string {
    return pgLocation(pgConn(config));
  },

  async identify(config): Promise<ConfiguredSource> {
    const conn = pgConn(config);
    const base = { engine: 'postgres' as const, location: pgLocation(conn), hostname: hostname() };
    let c: Client | undefined;
    try {
      c = await connect(conn);
      const key = (await c.query<{ key: string }>(PG_IDENTITY_SQL)).rows[0]?.key ?? null;
      return { ...base, key, note: key ? null : 'pg_control_system() returned nothing' };
    } catch (err) {
      return { ...base, key: null, missing: err instanceof NotFoundError, note: (err as Error).message };
    } finally {
      await c?.end().catch(() => {});
    }
  },

  async snapshot(config, { log }): Promise<SnapshotResult> {
    const conn = pgConn(config);
    // `pg_dump --version` (often a wrapper script) runs while the connection is made.
    const early = resolveTool(config, 'pg_dump');
    early.catch(() => undefined); // awaited below, after the connection (its error comes first)
    const client = await connect(conn);
    let ce: ReturnType<typeof childEnvironment> | null = null;
    let handedOver = false;
    try {
      const ver = await serverVersion(client);
      const dump = await toolFor(early, config, 'pg_dump', serverMajor(ver.num));
      const db = await client.query<{ enc: string; collate: string; ctype: string }>(
        'SELECT pg_encoding_to_char(encoding) AS enc, datcollate AS collate, datctype AS ctype FROM pg_database WHERE datname = current_database()',
      );
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const snapshotId = String((await client.query<{ s: string }>('SELECT pg_export_snapshot() AS s')).rows[0]!.s);
      const schemaVersion = await schemaVersionIn(client);
      const identityKey = (await client.query<{ key: string }>(PG_IDENTITY_SQL)).rows[0]?.key ?? null;
      const tables = await listTables(client);
      log?.(
        'debug',
        `pg_dump ${dump.version} of ${describe(conn, conn.database)} at snapshot ${snapshotId} (server ${ver.text}, ${tables.length} tables)`,
      );
      const env = childEnvironment(conn, [conn.database]);
      ce = env;
      const child = trackChild(
        (await import('node:child_process')).spawn(
          dump.bin,
          [
            '--format=custom',
            '--compress=0',
            '--no-password',
            `--snapshot=${snapshotId}`,
            `--dbname=${conninfo(conn, conn.database)}`,
          ],
          {
            env: env.env,
            stdio: ['ignore', 'pipe', 'pipe'],
          },
        ),
      );
      const { exited, stderr } = watchDump(child);

      // Counted in the exporting transaction while pg_dump streams: the same snapshot, and overlapped with the dump.
      const rowCounts: Record<string, number> = {};
      const counting = countRows(client, tables).then((c) => {
        Object.assign(rowCounts, c);
        log?.('debug', `rows counted in the snapshot (${tables.length} tables)`);
      });
      void exited.then(() => log?.('debug', 'pg_dump exited'));

      const finished = dumpFinished(client, child, exited, counting, dump.bin, stderr, env);
      finished.catch(() => {}); // handled by whoever awaits it; never an unhandled rejection
      handedOver = true;
      return {
        identityKey,
        schemaVersion,
        rowCounts,
        engineVersion: `PostgreSQL ${ver.text}`,
        details: {
          server_version: ver.text,
          server_version_num: ver.num,
          pg_dump_version: dump.version,
          format: 'custom',
          database: conn.database,
          encoding: db.rows[0]?.enc ?? null,
          lc_collate: db.rows[0]?.collate ?? null,
          lc_ctype: db.rows[0]?.ctype ?? null,
          snapshot: snapshotId,
          tables: tables.length,
        },
        output: { stream: coalesced(child.stdout), finished },
      };
    } finally {
      if (!handedOver) {
        await client.end().catch(() => {});
        ce?.cleanup();
      }
    }
  },

  async checkImage(imagePath, manifest, opts): Promise<VerifyCheck[]> {
    const { deep, config } = opts;
    if (!config) throw new OperationError('internal: the PostgreSQL engine needs the configuration to check an image');
    const listing = restoreTool(config, manifest).then(async (tool) => ({
      tool,
      listed: await listArchive(tool.bin, imagePath, manifest),
    }));
    if (!deep) return [(await listing).listed];
    return deepCheck(config, imagePath, manifest, listing, opts);
  },

  async restoreTarget(config, to): Promise<PgRestoreTarget> {
    const conn = pgConn(config);
    const name = to ?? conn.database;
    if (!name || Buffer.byteLength(name) > 63 || /[/\\\0]/.test(name)) {
      throw new UsageError(`"${name}" is not a PostgreSQL database name`, {
        hint: 'give --to-database a name of at most 63 bytes, without slashes',
      });
    }
    const admin = await connectMaintenance(conn, [name]);
    try {
      const r = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
      return {
        description: describe(conn, name),
        location: name,
        live: name === conn.database,
        exists: r.rows.length > 0,
        conn,
        storageDir: config.database.backup.storage_path,
        config,
      };
    } finally {
      await admin.end().catch(() => {});
    }
  },

  async assertNotInUse(target): Promise<void> {
    const t = target as PgRestoreTarget;
    const admin = await connectMaintenance(t.conn, [t.location]);
    try {
      const sessions = await sessionsOn(admin, t.location);
      if (sessions.length) throw inUseError(t.location, sessions);
    } finally {
      await admin.end().catch(() => {});
    }
  },

  stageImage(_target, manifest): string {
    // The decoded archive is plaintext: private scratch directory, never the repository.
    return scratchPath(`${manifest.id}.restore.dump`);
  },

  stageWriteError(err): unknown {
    return err;
  },

  async install(target, manifest, image, opts): Promise<{ integrity: string }> {
    const { log } = opts;
    const t = target as PgRestoreTarget;
    const { conn, config } = t;
    if (!existsSync(t.storageDir)) throw new NotFoundError(`backup directory ${t.storageDir} does not exist`);
    const admin = await connectMaintenance(conn, [t.location]);
    let fresh: string | null = null;
    try {
      const ver = await serverVersion(admin);
      const tool = await restoreTool(config, manifest, serverMajor(ver.num));
      await sweepTempDatabases(admin, log);

      // Same encoding/locale/owner as the database being replaced (or as recorded at backup time).
      const old = t.exists
        ? (
            await admin.query<{
              encoding: string;
              collate: string;
              ctype: string;
              owner: string;
              comment: string | null;
            }>(
              `SELECT pg_encoding_to_char(d.encoding) AS encoding, d.datcollate AS collate, d.datctype AS ctype, r.rolname AS owner, shobj_description(d.oid, 'pg_database') AS comment
               FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba WHERE d.datname = $1`,
              [t.location],
            )
          ).rows[0]
        : undefined;
      const d = manifest.engine_details ?? {};
      fresh = tempDbName(t.location, 'new');
      await createDatabase(
        admin,
        fresh,
        old ?? { encoding: d.encoding as string, collate: d.lc_collate as string, ctype: d.lc_ctype as string },
        'new',
      );
      if (old) await copyDatabaseSettings(admin, t.location, fresh, log);
      log?.('debug', `pg_restore ${tool.version} into ${fresh} (${RESTORE_JOBS} jobs)`);
      await pgRestoreInto(tool.bin, conn, fresh, image, { noOwner: false, jobs: RESTORE_JOBS });
      removeQuietly(image);

      // The new database must hold exactly what the manifest says before it replaces anything.
      const nc = await connect(conn, fresh);
      let counts: Record<string, number>;
      try {
        await nc.query('ANALYZE');
        counts = await countRows(nc);
      } finally {
        await nc.end().catch(() => {});
      }
      const diffs = diffCounts(manifest.row_counts ?? {}, counts);
      if (diffs.length) {
        throw new VerificationError(
          `the restored copy of ${manifest.id} does not match its manifest: ${diffs.slice(0, 3).join('; ')}; ${t.description} was not replaced`,
          {
            hint: 'verify the backup with `wks backup verify --deep`, or restore another one',
          },
        );
      }
      await swapIn(admin, t, fresh, old?.comment ?? null, !!opts.force, log);
      fresh = null;
      return {
        integrity: `ok (pg_restore into a new database; ${Object.keys(counts).length} tables, row counts match the manifest)`,
      };
    } finally {
      removeQuietly(image);
      if (fresh) await dropDatabase(admin, fresh, log);
      await admin.end().catch(() => {});
    }
  },

  nextSteps(target): string[] {
    const t = target as PgRestoreTarget;
    return t.live
      ? ['refresh planner statistics: `vacuumdb --analyze-in-stages` (pg_restore does not copy them)']
      : [`inspect it: psql -d ${psqlDbArg(t.location)}`];
  },

  async logStart(config, row, log): Promise<number | null> {
    let c: Client | undefined;
    try {
      c = await connect(pgConn(config));
      if (!(await c.query("SELECT to_regclass('backup_log') IS NOT NULL AS x")).rows[0]?.x) {
        log?.('debug', 'backup_log table not found (database not migrated): skipping the backup_log mirror');
        return null;
      }
      // We hold the backup mutex, so no other create is running: an in_progress row is a run that died.
      const stale = await c.query(
        "UPDATE backup_log SET status = 'failed', completed_at = $1, error_message = 'interrupted: the backup process died before finishing' WHERE status = 'in_progress'",
        [row.startedAt],
      );
      if (stale.rowCount) log?.('info', `marked ${stale.rowCount} interrupted backup_log row(s) as failed`);
      const r = await c.query<{ id: string }>(
        "INSERT INTO backup_log (backup_type, file_path, started_at, status) VALUES ($1, $2, $3, 'in_progress') RETURNING id",
        [row.type, row.filePath, row.startedAt],
      );
      return Number(r.rows[0]!.id);
    } catch (err) {
      log?.(
        err instanceof NotFoundError ? 'debug' : 'warn',
        `could not write the backup_log row: ${(err as Error).message}`,
      );
      return null;
    } finally {
      await c?.end().catch(() => {});
    }
  },

  async logFinish(config, rowId, row, log): Promise<void> {
    let c: Client | undefined;
    try {
      c = await connect(pgConn(config));
      await c.query(
        'UPDATE backup_log SET status = $1, completed_at = $2, file_size_bytes = $3, checksum = $4, error_message = $5 WHERE id = $6',
        [row.status, row.completedAt, row.sizeBytes ?? null, row.checksum ?? null, row.error ?? null, rowId],
      );
    } catch (err) {
      log?.('warn', `could not update the backup_log row: ${(err as Error).message}`);
    } finally {
      await c?.end().catch(() => {});
    }
  },
};

/**
 * Carry the database-level properties that a dump without --create lacks from
 * the database being replaced to its successor: `ALTER DATABASE ... SET`
 * values (also per role) and `GRANT ... ON DATABASE`. Failures are logged, not
 * fatal (the data is what matters; the operator can re-apply them).
 */
async function copyDatabaseSettings(c: Client, from: string, to: string, log?: LogFn): Promise<void> {
  try {
    const settings = await c.query<{ role: string | null; setconfig: string[] }>(
      `SELECT r.rolname AS role, s.setconfig FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase
         LEFT JOIN pg_roles r ON r.oid = s.setrole WHERE d.datname = $1`,
      [from],
    );
    for (const row of settings.rows) {
      for (const kv of row.setconfig ?? []) {
        const i = kv.indexOf('=');
        const prefix = row.role
          ? `ALTER ROLE ${quoteIdent(row.role)} IN DATABASE ${quoteIdent(to)}`
          : `ALTER DATABASE ${quoteIdent(to)}`;
        await c.query(`${prefix} SET ${quoteIdent(kv.slice(0, i))} = ${ql(kv.slice(i + 1))}`);
      }
    }
    const acl = await c.query<{ grantee: string | null; privilege_type: string; is_grantable: boolean }>(
      `SELECT CASE WHEN a.grantee = 0 THEN NULL ELSE pg_get_userbyid(a.grantee) END AS grantee, a.privilege_type, a.is_grantable
         FROM pg_database d, aclexplode(d.datacl) a WHERE d.datname = $1 AND d.datacl IS NOT NULL`,
      [from],
    );
    if (acl.rows.length) {
      await c.query(`REVOKE ALL ON DATABASE ${quoteIdent(to)} FROM PUBLIC`);
      for (const a of acl.rows) {
        await c.query(
          `GRANT ${a.privilege_type} ON DATABASE ${quoteIdent(to)} TO ${a.grantee === null ? 'PUBLIC' : quoteIdent(a.grantee)}${a.is_grantable ? ' WITH GRANT OPTION' : ''}`,
        );
      }
    }
  } catch (err) {
    log?.(
      'warn',
      `could not copy the database-level settings/grants of ${from}: ${(err as Error).message}; re-apply them by hand`,
    );
  }
}

/**
 * Put `fresh` in place of the target in one transaction: rename the old
 * database aside, rename the new one to the target's name, move the comments,
 * commit; then drop the old one. With force, sessions on the target are
 * terminated first (retried: a client may reconnect in between); without it a
 * session that appeared since the check is a ConflictError and nothing changes.
 */
async function swapIn(
  admin: Client,
  t: PgRestoreTarget,
  fresh: string,
  oldComment: string | null,
  force: boolean,
  log?: LogFn,
): Promise<void> {
  if (!t.exists) {
    await admin.query('BEGIN');
    try {
      await admin.query(`ALTER DATABASE ${quoteIdent(fresh)} RENAME TO ${quoteIdent(t.location)}`);
      await admin.query(`COMMENT ON DATABASE ${quoteIdent(t.location)} IS NULL`);
      await admin.query('COMMIT');
    } catch (err) {
      await admin.query('ROLLBACK').catch(() => {});
      throw err;
    }
    return;
  }
  const aside = tempDbName(t.location, 'old');
  for (let attempt = 1; ; attempt++) {
    const sessions = await sessionsOn(admin, t.location);
    if (sessions.length) {
      if (!force) throw inUseError(t.location, sessions);
      log?.(
        'warn',
        `terminating ${sessions.length} session(s) on ${t.location} (--force): ${sessions.map((s) => s.text).join('; ')}`,
      );
      await admin.query(
        'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
        [t.location],
      );
      await sleep(100);
    }
    try {
      await admin.query('BEGIN');
      await admin.query(`ALTER DATABASE ${quoteIdent(t.location)} RENAME TO ${quoteIdent(aside)}`);
      await admin.query(`ALTER DATABASE ${quoteIdent(fresh)} RENAME TO ${quoteIdent(t.location)}`);
      await admin.query(
        `COMMENT ON DATABASE ${quoteIdent(t.location)} IS ${oldComment === null ? 'NULL' : ql(oldComment)}`,
      );
      await admin.query(`COMMENT ON DATABASE ${quoteIdent(aside)} IS ${ql(marker('old'))}`);
      await admin.query('COMMIT');
      break;
    } catch (err) {
      await admin.query('ROLLBACK').catch(() => {});
      if ((err as { code?: string }).code === '55006' && attempt < 10) continue; // object_in_use: a session (re)connected
      if ((err as { code?: string }).code === '55006')
        throw inUseError(t.location, await sessionsOn(admin, t.location));
      throw err;
    }
  }
  await dropDatabase(admin, aside, log);
}

/** Bytes per chunk handed to the encode pipeline (pg_dump writes 8 KiB at a time). */
const CHUNK_BYTES = 1024 * 1024;

/**
 * `input` regrouped into chunks of about CHUNK_BYTES: pg_dump writes its
 * archive in 8 KiB pieces, and each piece would otherwise cost a trip through
 * every stage (hashes, the compressor's thread pool). Destroying the result
 * destroys `input` (and so stops pg_dump, see watchDump).
 */
function coalesced(input: Readable): Readable {
  let parts: Buffer[] = [];
  let size = 0;
  const take = (): Buffer => {
    const b = parts.length === 1 ? parts[0]! : Buffer.concat(parts, size);
    parts = [];
    size = 0;
    return b;
  };
  const out = new Transform({
    highWaterMark: CHUNK_BYTES,
    transform(chunk: Buffer, _enc, cb) {
      parts.push(chunk);
      size += chunk.length;
      cb(null, size >= CHUNK_BYTES ? take() : undefined);
    },
    flush(cb) {
      cb(null, size ? take() : undefined);
    },
  });
  streamPipeline(input, out, () => undefined); // errors surface on `out` (and pg_dump's exit status)
  return out;
}

type DumpChild = ChildProcessByStdio<null, Readable, Readable>;
type DumpExit = { code: number | null; signal: NodeJS.Signals | null; err?: Error };

/**
 * Watch a running pg_dump: its exit, the start of its stderr (for the error
 * message); if the consumer stops reading (disk full, encryption error), it
 * is not left blocked on a full pipe.
 */
function watchDump(child: DumpChild): { exited: Promise<DumpExit>; stderr: () => string } {
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    if (stderr.length < 64 * 1024) stderr += d;
  });
  const exited = new Promise<DumpExit>((resolve) => {
    child.on('error', (err) => resolve({ code: null, signal: null, err }));
    child.on('close', (code, signal) => resolve({ code, signal }));
  });
  // If the consumer stops reading (disk full, encryption error), do not leave pg_dump blocked on a full pipe.
  child.stdout.on('close', () => {
    if (child.exitCode === null && child.signalCode === null && !child.stdout.readableEnded) child.kill('SIGTERM');
  });
  return { exited, stderr: () => stderr };
}

/**
 * The end of a dump: pg_dump exited 0 and the rows were counted (a failed
 * count stops pg_dump), then the exporting transaction is committed; the
 * connection and the child's environment are released either way.
 */
async function dumpFinished(
  client: Awaited<ReturnType<typeof connect>>,
  child: DumpChild,
  exited: Promise<DumpExit>,
  counting: Promise<void>,
  bin: string,
  stderr: () => string,
  env: ReturnType<typeof childEnvironment>,
): Promise<void> {
  try {
    const [ex] = await Promise.all([
      exited,
      counting.catch((err) => {
        child.kill('SIGTERM');
        throw new OperationError(`counting rows in the backup snapshot failed: ${(err as Error).message}`, {
          cause: err,
        });
      }),
    ]);
    if (ex.err)
      throw new OperationError(`cannot run ${bin}: ${ex.err.message}`, {
        cause: ex.err,
        hint: 'set PG_DUMP_PATH to a working pg_dump',
      });
    if (ex.code !== 0) {
      throw new OperationError(
        `pg_dump failed${ex.signal ? ` (${ex.signal})` : ` (exit ${ex.code})`}: ${stderrSummary(stderr())}`,
        {
          hint: "see pg_dump's message; a permission error needs a role that can read every table (e.g. the owner, or pg_read_all_data)",
        },
      );
    }
    await client.query('COMMIT');
  } finally {
    await client.end().catch(() => {});
    env.cleanup();
  }
}
