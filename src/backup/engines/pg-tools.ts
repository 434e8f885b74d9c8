/**
 * PostgreSQL client tools (pg_dump, pg_restore) for the PostgreSQL backup
 * engine: where they are, which version they are, and how they get the
 * connection.
 *
 * Credentials contract: the password never appears on a command line or in a
 * child's environment. It is written to a temporary passfile (0600, in a 0700
 * directory of its own) that the child reads through PGPASSFILE, and removed
 * in `finally`. Children get a minimal environment (util/process minimalEnv), so
 * nothing else from wks's environment (PG_PASSWORD, BACKUP_ENCRYPTION_KEY, ...)
 * reaches them or their logs. The connection is one conninfo string built by
 * code (conninfo()), never a name pasted into an argument.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Config } from '../../config/index.js';
import { DependencyError } from '../../errors.js';
import { nodePgSsl, type SslMode } from '../../db/index.js';
import { redactText, registerSecret } from '../../redact.js';
import { minimalEnv } from '../../util/process.js';
import { onInterrupt, trackChild } from '../../util/interrupt.js';
import { sweepDeadOwners } from '../../util/scratch.js';

/** Connection parameters, from PG_URL or PG_HOST/PG_PORT/PG_DATABASE/PG_USER/PG_PASSWORD/PG_SSL. */
export interface PgConn {
  host: string;
  port: number;
  database: string;
  user: string | null;
  password: string | null;
  /** libpq sslmode: database.postgresql.ssl_mode (PG_SSL_MODE; PG_SSL alone is verify-full), or the URL's. */
  sslmode: string;
  /** CA bundle for verify-ca / verify-full: PG_SSL_CA_FILE, the URL's sslrootcert, or the system bundle. */
  sslrootcert: string | null;
}

/** The system CA bundle libpq should trust when no CA file is configured (libpq 15 has no `sslrootcert=system`). */
const SYSTEM_CA = ['/etc/ssl/certs/ca-certificates.crt', '/etc/pki/tls/certs/ca-bundle.crt'].find((f) => existsSync(f));

function rootCert(mode: string, configured: string | null): string | null {
  if (!mode.startsWith('verify')) return null;
  return configured ?? SYSTEM_CA ?? null;
}

const sslMode = (config: Config): string =>
  config.database.postgresql.ssl_mode ?? (config.database.postgresql.ssl ? 'verify-full' : 'disable');

/** Connection parameters of the configured database. Throws DependencyError for an unparseable PG_URL. */
export function pgConn(config: Config): PgConn {
  const p = config.database.postgresql;
  if (p.url) {
    let u: URL;
    try {
      u = new URL(p.url);
    } catch {
      throw new DependencyError('PG_URL (database.postgresql.url) is not a valid URL', {
        hint: 'use postgres://user:password@host:5432/database',
      });
    }
    const password = u.password ? decodeURIComponent(u.password) : null;
    if (password) registerSecret(password);
    return {
      host: u.searchParams.get('host') ?? (decodeURIComponent(u.hostname) || 'localhost'),
      port: Number(u.port || 5432),
      database: decodeURIComponent(u.pathname.replace(/^\//, '')) || p.database,
      user: u.username ? decodeURIComponent(u.username) : p.user,
      password: password ?? p.password,
      sslmode: u.searchParams.get('sslmode') ?? sslMode(config),
      sslrootcert: rootCert(
        u.searchParams.get('sslmode') ?? sslMode(config),
        u.searchParams.get('sslrootcert') ?? p.ssl_ca_file,
      ),
    };
  }
  if (p.password) registerSecret(p.password);
  return {
    host: p.host,
    port: p.port,
    database: p.database,
    user: p.user,
    password: p.password,
    sslmode: sslMode(config),
    sslrootcert: rootCert(sslMode(config), p.ssl_ca_file),
  };
}

/** node-postgres client options for `conn`, connected to `database` (default conn.database). */
export function clientOptions(
  conn: PgConn,
  database = conn.database,
  connectTimeoutMs = 5000,
): Record<string, unknown> {
  return {
    host: conn.host,
    port: conn.port,
    database,
    user: conn.user ?? undefined,
    password: conn.password ?? undefined,
    // node-postgres cannot fall back like libpq's prefer/allow: those connect without TLS here.
    ssl: nodePgSsl(
      (['allow', 'prefer'].includes(conn.sslmode) ? 'disable' : conn.sslmode) as SslMode,
      conn.sslmode.startsWith('verify') ? conn.sslrootcert : null,
    ),
    connectionTimeoutMillis: connectTimeoutMs,
    application_name: 'wks-backup',
  };
}

const PASS_PREFIX = 'wks-pgpass-';

/** Remove passfile directories of wks processes that died before cleaning up (kill -9): a password must not stay on disk. */
export function sweepPassfiles(dir = tmpdir()): string[] {
  return sweepDeadOwners(dir, PASS_PREFIX);
}

/** One field of a passfile line: `\` and `:` escaped as libpq expects. */
const passEscape = (s: string): string => s.replace(/\\/g, '\\\\').replace(/:/g, '\\:');

/** A conninfo value: single-quoted, `\` and `'` backslash-escaped (libpq's rules), so any text is one literal value. */
export const conninfoValue = (s: string): string => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

/**
 * The libpq connection string for `database` on `conn`'s server, built by
 * code: every value quoted and escaped, so a database name such as
 * `host=evil dbname=x` or `postgres://evil/x` stays a literal name and can
 * never choose the host, port or user. Carries no password (see childEnvironment).
 */
export function conninfo(conn: PgConn, database: string): string {
  const parts: [string, string][] = [
    ['host', conn.host],
    ['port', String(conn.port)],
    ['dbname', database],
  ];
  if (conn.user) parts.push(['user', conn.user]);
  parts.push(['sslmode', conn.sslmode]);
  if (conn.sslrootcert) parts.push(['sslrootcert', conn.sslrootcert]);
  parts.push(['application_name', 'wks-backup'], ['connect_timeout', '10']);
  return parts.map(([k, v]) => `${k}=${conninfoValue(v)}`).join(' ');
}

/**
 * The minimal environment for a PostgreSQL client tool, plus a private
 * passfile valid until `cleanup()`. The tool gets its connection only from
 * `--dbname=<conninfo(conn, db)>`; no PG* connection variable is set. The
 * passfile names the exact host, port, user and each of `databases` (the ones
 * this child connects to), so it can never hand the password to another
 * server. Without a password no passfile is written (the operator's own
 * ~/.pgpass, if any, applies as usual).
 */
export function childEnvironment(conn: PgConn, databases: string[]): { env: NodeJS.ProcessEnv; cleanup: () => void } {
  const env = minimalEnv();
  let dir: string | null = null;
  let unregister = (): void => undefined;
  if (conn.password) {
    sweepPassfiles();
    dir = mkdtempSync(path.join(tmpdir(), `${PASS_PREFIX}${process.pid}-`)); // 0700
    const file = path.join(dir, 'pgpass');
    // libpq matches a Unix-socket connection against `localhost`.
    const host = conn.host.startsWith('/') ? 'localhost' : conn.host;
    const lines = databases.map((db) =>
      [host, String(conn.port), db, conn.user ?? '*', conn.password!].map(passEscape).join(':'),
    );
    writeFileSync(file, `${lines.join('\n')}\n`, { mode: 0o600, flag: 'wx' });
    env.PGPASSFILE = file;
  }
  const cleanup = (): void => {
    unregister();
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = null;
  };
  // Interrupted (SIGINT/SIGTERM): the password must not stay on disk.
  if (dir) unregister = onInterrupt(cleanup);
  return { env, cleanup };
}

export interface PgTool {
  /** `pg_dump` or `pg_restore`. */
  name: 'pg_dump' | 'pg_restore';
  /** What is executed (configured path or the bare name, found on PATH). */
  bin: string;
  /** e.g. `15.20`. */
  version: string;
  major: number;
}

/** The binary to run for `name`: PG_DUMP_PATH / PG_RESTORE_PATH, pg_restore beside a configured pg_dump, else the name on PATH. */
export function toolPath(config: Config, name: 'pg_dump' | 'pg_restore'): string {
  const p = config.database.postgresql;
  if (name === 'pg_dump') return p.pg_dump_path ?? 'pg_dump';
  if (p.pg_restore_path) return p.pg_restore_path;
  if (p.pg_dump_path && path.isAbsolute(p.pg_dump_path)) return path.join(path.dirname(p.pg_dump_path), 'pg_restore');
  return 'pg_restore';
}

const envVarOf = (name: 'pg_dump' | 'pg_restore') =>
  name === 'pg_dump'
    ? 'PG_DUMP_PATH (database.postgresql.pg_dump_path)'
    : 'PG_RESTORE_PATH (database.postgresql.pg_restore_path)';

/** The Debian/Ubuntu package that has the client tools of PostgreSQL `major`. */
export const clientPackage = (major: number | null): string =>
  major ? `postgresql-client-${major}` : 'postgresql-client';

/** Parse `pg_dump (PostgreSQL) 15.20 (Debian ...)` -> { version: '15.20', major: 15 }; 9.6.x -> major 9. */
export function parseToolVersion(text: string): { version: string; major: number } | null {
  const m = /\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?(?:\.(\d+))?/.exec(text);
  if (!m) return null;
  const major = Number(m[1]);
  const version = [m[1], m[2], m[3]].filter((x) => x !== undefined).join('.');
  return { version, major };
}

/** Server major version from server_version_num (150020 -> 15; 90624 -> 9). */
export const serverMajor = (versionNum: number): number => Math.floor(versionNum / 10000);

const toolHint = (name: 'pg_dump' | 'pg_restore', want: number | null): string =>
  `install ${clientPackage(want)} (apt-get install ${clientPackage(want)}), or point ${envVarOf(name)} at a ${name} of major version ${want ?? 'matching the server'} or newer`;

/**
 * Find `name` and read its version. When `serverMajorVersion` is given, the
 * tool must not be older than the server (pg_dump refuses newer servers;
 * pg_restore of an older major may not read the archive). Throws
 * DependencyError (exit 1) in one line, with a hint naming the package and
 * PG_DUMP_PATH / PG_RESTORE_PATH, when it is missing, unrunnable or too old.
 * Without `serverMajorVersion` it can run while the connection is still being
 * made; `requireMajor` then checks the version.
 */
export async function resolveTool(
  config: Config,
  name: 'pg_dump' | 'pg_restore',
  serverMajorVersion?: number,
): Promise<PgTool> {
  const bin = toolPath(config, name);
  const want = serverMajorVersion ?? null;
  const hint = toolHint(name, want);
  const out = await new Promise<{ code: number | null; text: string; err?: NodeJS.ErrnoException }>((resolve) => {
    let text = '';
    let child: ChildProcess;
    try {
      child = spawn(bin, ['--version'], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: minimalEnv(),
      });
    } catch (err) {
      resolve({ code: null, text, err: err as NodeJS.ErrnoException });
      return;
    }
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (text += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (text += d));
    child.on('error', (err) => resolve({ code: null, text, err }));
    child.on('close', (code) => resolve({ code, text }));
  });
  if (out.err) {
    const why =
      out.err.code === 'ENOENT' ? 'not found' : out.err.code === 'EACCES' ? 'not executable' : out.err.message;
    throw new DependencyError(
      `${name} ${why}${bin !== name ? ` at ${bin}` : ' on PATH'}; it is needed for PostgreSQL backups`,
      { hint, details: { tool: name, path: bin } },
    );
  }
  const v = parseToolVersion(out.text);
  if (out.code !== 0 || !v) {
    throw new DependencyError(
      `${bin} --version did not report a PostgreSQL version (exit ${out.code}): ${redactText(out.text.trim().split('\n')[0] ?? '')}`,
      { hint, details: { tool: name, path: bin } },
    );
  }
  const tool: PgTool = { name, bin, version: v.version, major: v.major };
  if (want !== null) requireMajor(tool, want);
  return tool;
}

/** Throws the one-line DependencyError of resolveTool when `tool` is older than PostgreSQL `major`. */
export function requireMajor(tool: PgTool, major: number): void {
  if (tool.major >= major) return;
  throw new DependencyError(
    `${tool.name} ${tool.version} is older than the PostgreSQL ${major} server; it cannot ${tool.name === 'pg_dump' ? 'dump' : 'restore'} it`,
    {
      hint: toolHint(tool.name, major),
      details: { tool: tool.name, path: tool.bin, tool_version: tool.version, server_major: major },
    },
  );
}

/** The tail of a child's stderr, one line for an error message, secrets redacted. */
export function stderrSummary(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const errs = lines.filter((l) => /error|fatal|could not|failed/i.test(l));
  const pick = (errs.length ? errs : lines).slice(0, 2).join(' / ');
  return redactText(pick.length > 400 ? `${pick.slice(0, 400)}...` : pick) || '(no message)';
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Run a tool to completion, collecting (bounded) output. Never throws for a non-zero exit; rejects only when it cannot start. */
export function runTool(
  bin: string,
  args: string[],
  opts: SpawnOptions & { env: NodeJS.ProcessEnv; maxOutput?: number },
): Promise<RunResult> {
  const max = opts.maxOutput ?? 4 * 1024 * 1024;
  return new Promise((resolve, reject) => {
    const child = trackChild(spawn(bin, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe'] }));
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      if (stdout.length < max) stdout += d;
    });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      if (stderr.length < 64 * 1024) stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}
