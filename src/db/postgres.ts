/**
 * PostgreSQL adapter (pg.Pool). Pool settings come from the platform's schema:
 * DB_POOL_MIN / DB_POOL_MAX / DB_POOL_IDLE_TIMEOUT_MS / DB_CONNECTION_TIMEOUT_MS,
 * the 10 s query timeout (DB_QUERY_TIMEOUT_MS, applied server-side as
 * statement_timeout so the server cancels the work), PG_SSL, and either PG_URL
 * or PG_HOST/PG_PORT/PG_DATABASE/PG_USER/PG_PASSWORD.
 *
 * bigint (int8) columns such as COUNT(*) come back as numbers when they fit in
 * a double exactly, else as strings; jsonb comes back parsed; timestamptz as Date.
 */
import type pg from 'pg';
import { readFileSync } from 'node:fs';
import { ConfigError, DependencyError, isWksError } from '../errors.js';
import { redactUrl, registerSecret } from '../redact.js';
import { DatabaseError, wrapDbError } from './errors.js';
import type { DatabaseAdapter, OpenOptions, PoolStats } from './types.js';

export interface PostgresSettings {
  url: string | null;
  host: string;
  port: number;
  database: string;
  user: string | null;
  password: string | null;
  ssl: boolean;
  /** libpq-style TLS mode (config database.postgresql.ssl_mode, resolved by the loader). */
  sslMode: SslMode;
  /** CA bundle for verify-ca / verify-full (PG_SSL_CA_FILE); null: the system's CAs. */
  sslCaFile: string | null;
  poolMin: number;
  poolMax: number;
  idleTimeoutMs: number;
  connectionTimeoutMs: number;
  /** Server-side statement_timeout in ms; 0 disables it. */
  statementTimeoutMs: number;
}

/** postgres://user:****@host:port/db for display (never contains the password). */
export function describePostgres(s: Pick<PostgresSettings, 'url' | 'host' | 'port' | 'database' | 'user'>): string {
  if (s.url) {
    try {
      const u = new URL(s.url);
      if (u.password) u.password = '****';
      u.search = '';
      return redactUrl(u.toString());
    } catch {
      return 'postgres://(unparseable PG_URL)';
    }
  }
  const user = s.user ? `${encodeURIComponent(s.user)}:****@` : '';
  return `postgres://${user}${s.host}:${s.port}/${s.database}`;
}

export type SslMode = 'disable' | 'require' | 'verify-ca' | 'verify-full';

/**
 * node-postgres `ssl` option for a libpq-style mode: `disable` no TLS;
 * `require` TLS without checking the certificate; `verify-ca` the certificate
 * must chain to `caFile` (or the system's CAs); `verify-full` that, and its
 * name must match the host. Throws ConfigError (78) when the CA file cannot be read.
 */
export function nodePgSsl(mode: SslMode, caFile: string | null): false | import('node:tls').ConnectionOptions {
  if (mode === 'disable') return false;
  if (mode === 'require') return { rejectUnauthorized: false };
  let ca: Buffer | undefined;
  if (caFile) {
    try {
      ca = readFileSync(caFile);
    } catch (err) {
      throw new ConfigError(
        `cannot read the PostgreSQL CA file ${caFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
        [],
        { hint: 'check PG_SSL_CA_FILE (database.postgresql.ssl_ca_file)' },
      );
    }
  }
  return {
    rejectUnauthorized: true,
    ...(ca ? { ca } : {}),
    ...(mode === 'verify-ca' ? { checkServerIdentity: () => undefined } : {}),
  };
}

/**
 * node-postgres connection options for `s`: PG_URL or host/port/database/user/
 * password, TLS per ssl_mode (nodePgSsl), the connect timeout and application_name. No
 * pool or session settings (openPostgres adds those; worker threads that open
 * their own client use this as is).
 */
export function pgClientConfig(s: PostgresSettings, applicationName = 'wks'): pg.ClientConfig {
  return {
    ...(s.url
      ? { connectionString: s.url }
      : {
          host: s.host,
          port: s.port,
          database: s.database,
          user: s.user ?? undefined,
          password: s.password ?? undefined,
        }),
    // A PG_URL's own sslmode parameter is honoured by node-postgres; otherwise the configured mode.
    ...(s.url && /[?&]sslmode=/.test(s.url) ? {} : { ssl: nodePgSsl(s.sslMode, s.sslCaFile) }),
    connectionTimeoutMillis: s.connectionTimeoutMs,
    application_name: applicationName,
  };
}

const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'ECONNRESET',
  'EHOSTUNREACH',
  '3D000',
  '28P01',
  '28000',
  '57P03',
]);

/** True for errors that mean "could not reach / log in to the server", as opposed to a failed statement. */
export function isConnectionError(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  if (e?.code && (CONNECTION_CODES.has(e.code) || e.code.startsWith('08'))) return true;
  return /timeout exceeded when trying to connect|Connection terminated|connect ECONNREFUSED/i.test(e?.message ?? '');
}

/**
 * True when an error means the session's connection is gone (server shut down or restarted, socket reset,
 * connection terminated), so the client must be discarded rather than reused. wks's own typed errors never
 * count. The one classification for the daemon's database handle and `db copy`'s sessions.
 */
export function isConnectionLoss(err: unknown): boolean {
  if (!(err instanceof Error) || isWksError(err)) return false;
  const code = (err as { code?: string }).code;
  if (code && (/^(08|57P)/.test(code) || CONNECTION_CODES.has(code))) return true;
  return /terminat|ECONN|connection/i.test(err.message);
}

/** True when the server asked for a password and none was configured (node-postgres's SASL/MD5 wording). */
export function isPasswordMissing(err: unknown): boolean {
  return /client password must be a string|no password supplied|password authentication failed.*no password/i.test(
    (err as Error)?.message ?? '',
  );
}

function connectionError(err: unknown, target: string): DependencyError {
  const e = err as { code?: string; message?: string };
  const msg = isPasswordMissing(err)
    ? 'the server asks for a password and none is configured'
    : e?.message || (e as AggregateError)?.errors?.map((x: Error) => x.message).join('; ') || String(err);
  return new DependencyError(`cannot connect to PostgreSQL at ${target}: ${msg}`, {
    cause: err,
    hint: isPasswordMissing(err)
      ? 'set PG_PASSWORD (phase4.database.postgresql.password) or put the password in PG_URL'
      : e?.code === '3D000'
        ? 'create the database first (createdb), or fix PG_DATABASE'
        : e?.code?.startsWith('28')
          ? 'check PG_USER / PG_PASSWORD (or PG_URL)'
          : 'is PostgreSQL running and reachable? check PG_HOST / PG_PORT (or PG_URL), PG_SSL and DB_CONNECTION_TIMEOUT_MS',
    details: { database: target, dbCode: e?.code ?? null },
  });
}

/**
 * One connected node-postgres Client (not a pool) for `s`, for a session that must stay on one
 * connection (the leader lease's advisory lock lives and dies with it). The caller ends it.
 * @throws DependencyError naming the redacted target when the server cannot be reached
 */
export async function connectPgClient(s: PostgresSettings, applicationName: string): Promise<pg.Client> {
  const { default: pgmod } = await import('pg');
  const client = new pgmod.Client(pgClientConfig(s, applicationName));
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => undefined);
    throw connectionError(err, describePostgres(s));
  }
  return client;
}

function toError(err: unknown, target: string): Error {
  return isConnectionError(err) ? connectionError(err, target) : wrapDbError(err, target);
}

function params(values: unknown[] | undefined): unknown[] | undefined {
  if (!values) return undefined;
  return values.map((v) => (v === undefined ? null : v));
}

type Queryable = Pick<pg.Pool, 'query'> | pg.PoolClient;

abstract class PgBase implements DatabaseAdapter {
  readonly dialect = 'postgres' as const;
  constructor(readonly target: string) {}
  protected abstract q(): Queryable;

  async query<T = Record<string, unknown>>(sql: string, values?: unknown[]): Promise<T[]> {
    try {
      const r = await this.q().query(sql, params(values));
      // A multi-statement text returns an array of results; the last one is the answer.
      const last = Array.isArray(r) ? r[r.length - 1] : r;
      return (last?.rows ?? []) as T[];
    } catch (err) {
      throw toError(err, this.target);
    }
  }

  async queryRows(sql: string, values?: unknown[]): Promise<unknown[][]> {
    try {
      const r = await this.q().query({ text: sql, values: params(values), rowMode: 'array' });
      return r.rows as unknown[][];
    } catch (err) {
      throw toError(err, this.target);
    }
  }

  async run(sql: string, values?: unknown[]): Promise<{ changes: number }> {
    try {
      const r = await this.q().query(sql, params(values));
      const last = Array.isArray(r) ? r[r.length - 1] : r;
      return { changes: last?.rowCount ?? 0 };
    } catch (err) {
      throw toError(err, this.target);
    }
  }

  async exec(sql: string): Promise<void> {
    try {
      // Without parameters pg uses the simple query protocol, which accepts several statements.
      await this.q().query(sql);
    } catch (err) {
      throw toError(err, this.target);
    }
  }

  abstract transaction<T>(fn: (tx: DatabaseAdapter) => Promise<T>): Promise<T>;
  abstract close(): Promise<void>;
  abstract poolStats(): PoolStats | null;
}

/** An adapter bound to one checked-out connection (inside a transaction or `pinned`). */
export class PgConnectionAdapter extends PgBase {
  private depth = 0;
  constructor(
    private readonly client: pg.PoolClient,
    target: string,
    private readonly stats: () => PoolStats | null,
  ) {
    super(target);
  }
  protected q(): Queryable {
    return this.client;
  }
  async transaction<T>(fn: (tx: DatabaseAdapter) => Promise<T>): Promise<T> {
    const nested = this.depth > 0;
    const sp = `wks_sp_${this.depth}`;
    await this.exec(nested ? `SAVEPOINT ${sp}` : 'BEGIN');
    this.depth++;
    try {
      const result = await fn(this);
      this.depth--;
      await this.exec(nested ? `RELEASE SAVEPOINT ${sp}` : 'COMMIT');
      return result;
    } catch (err) {
      this.depth--;
      try {
        await this.client.query(nested ? `ROLLBACK TO SAVEPOINT ${sp}` : 'ROLLBACK');
      } catch {
        // keep the original error; a broken connection is discarded on release
      }
      throw err;
    }
  }
  /** No-op: the owner (pool adapter) releases the connection. */
  async close(): Promise<void> {}
  poolStats(): PoolStats | null {
    return this.stats();
  }
}

export class PostgresAdapter extends PgBase {
  readonly pool: pg.Pool;
  private closed = false;
  constructor(pool: pg.Pool, target: string) {
    super(target);
    this.pool = pool;
  }
  protected q(): Queryable {
    return this.pool;
  }

  async transaction<T>(fn: (tx: DatabaseAdapter) => Promise<T>): Promise<T> {
    return this.pinned((conn) => conn.transaction(fn));
  }

  /**
   * Run `fn` with an adapter bound to one pooled connection, without opening
   * a transaction (session state such as advisory locks and SET persists
   * across its statements). The connection is returned to the pool afterwards,
   * or destroyed if `fn` failed with a connection-level error.
   */
  async pinned<T>(fn: (conn: PgConnectionAdapter) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw toError(err, this.target);
    }
    let broken: Error | undefined;
    try {
      return await fn(new PgConnectionAdapter(client, this.target, () => this.poolStats()));
    } catch (err) {
      if (err instanceof DependencyError) broken = err;
      throw err;
    } finally {
      client.release(broken);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }

  poolStats(): PoolStats {
    return { total: this.pool.totalCount, idle: this.pool.idleCount, waiting: this.pool.waitingCount };
  }
}

/**
 * Create the pool and check that the server answers (one `SELECT 1`), so a
 * wrong host or password fails here with a DependencyError naming the
 * redacted target and a hint, not later inside some command.
 */
export async function openPostgres(s: PostgresSettings, opts: OpenOptions = {}): Promise<PostgresAdapter> {
  const { default: pgmod } = await import('pg');
  const target = describePostgres(s);
  if (s.password) registerSecret(s.password);
  if (s.url) {
    try {
      const pw = new URL(s.url).password;
      if (pw) registerSecret(decodeURIComponent(pw));
    } catch {
      /* describePostgres already reported it as unparseable */
    }
  }
  const int8 = pgmod.types.getTypeParser(20, 'text');
  const types = {
    getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
      if (oid === 20 && format !== 'binary') {
        return (v: string) => {
          const n = Number(v);
          return Number.isSafeInteger(n) ? n : int8(v);
        };
      }
      return pgmod.types.getTypeParser(oid, format as 'text');
    }) as typeof pgmod.types.getTypeParser,
  };
  const statementTimeout = opts.statementTimeoutMs ?? s.statementTimeoutMs;
  const poolConfig: pg.PoolConfig = {
    ...pgClientConfig(s, opts.applicationName ?? 'wks'),
    max: Math.max(1, s.poolMax),
    min: Math.max(0, Math.min(s.poolMin, s.poolMax)),
    idleTimeoutMillis: s.idleTimeoutMs,
    ...(statementTimeout > 0 ? { statement_timeout: statementTimeout } : {}),
    types,
    // Idle pooled connections must not keep the process alive.
    allowExitOnIdle: true,
  } as pg.PoolConfig;
  const pool = new pgmod.Pool(poolConfig);
  // An idle client losing its connection must not crash the process; the next query reports it.
  pool.on('error', () => undefined);
  const adapter = new PostgresAdapter(pool, target);
  try {
    await pool.query('SELECT 1');
  } catch (err) {
    await pool.end().catch(() => undefined);
    if (err instanceof DatabaseError) throw err;
    throw connectionError(err, target);
  }
  return adapter;
}
