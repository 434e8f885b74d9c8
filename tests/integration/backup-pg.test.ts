/**
 * PostgreSQL backups against the real local server: create (pg_dump at an
 * exported snapshot) -> verify --deep (scratch database) -> restore into a
 * new database and over the live one; row counts and a table's content
 * checksum must be equal. Also: counts from the same snapshot under a
 * concurrent writer, flipped bytes, sessions on the target, the backup_log
 * mirror, the passfile, and missing/old client tools.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { createHash } from 'node:crypto';
import { loadConfig, type Config } from '../../src/config/index.js';
import { migrateUp } from '../../src/migrate/index.js';
import { createBackup, listBackups, restoreBackup, verifyBackup } from '../../src/backup/index.js';
import { childEnvironment, parseToolVersion, pgConn, resolveTool } from '../../src/backup/engines/pg-tools.js';
import { createTestDatabase, TEST_PG_URL, type TestDatabase } from '../helpers/services.js';
import { tmpDir } from '../helpers/tmp.js';

// A raw 256-bit key (no scrypt): keeps the file fast.
const KEY = '9f8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a0';
const PASSWORD = 'pg-secret-Пароль:with\\odd';

// Created at collection time so that an unreachable server skips the file (loudly) instead of failing it.
const db: TestDatabase | null = await createTestDatabase('backup_pg');
const extraDbs: string[] = [];

function urlFor(name: string): string {
  const u = new URL(TEST_PG_URL);
  u.pathname = `/${name}`;
  return u.toString();
}

async function q<T = Record<string, unknown>>(database: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const c = new pg.Client({ connectionString: urlFor(database) });
  await c.connect();
  try {
    return (await c.query(sql, params)).rows as T[];
  } finally {
    await c.end();
  }
}

/** Row count and md5 of a table's content in primary-key order: equal only if every row is equal. */
async function fingerprint(database: string, table: string): Promise<{ n: number; md5: string }> {
  const [r] = await q<{ n: string; md5: string }>(
    database,
    `SELECT count(*) AS n, md5(coalesce(string_agg(t::text, '|' ORDER BY t.id), '')) AS md5 FROM ${table} t`,
  );
  return { n: Number(r!.n), md5: r!.md5 };
}

async function databases(like: string): Promise<string[]> {
  return (
    await q<{ datname: string }>('postgres', 'SELECT datname FROM pg_database WHERE datname LIKE $1', [like])
  ).map((r) => r.datname);
}

function configFor(dir: string, env: Record<string, string> = {}): Config {
  return loadConfig({
    env: {
      ...db!.env,
      PG_PASSWORD: PASSWORD,
      BACKUP_STORAGE_PATH: path.join(dir, 'backups'),
      BACKUP_ENCRYPTION_KEY: KEY,
      ...env,
    },
    cwd: dir,
  }).config;
}

async function seed(database: string, users = 3000): Promise<void> {
  await q(
    database,
    `INSERT INTO users (username, email, password_hash) SELECT 'user' || g, 'user' || g || '@example.com', repeat('x', 60) FROM generate_series(1, ${users}) g`,
  );
  await q(
    database,
    `INSERT INTO workflows (name, description, user_id, status) SELECT 'wf' || g, repeat('d', 200), g, 'active' FROM generate_series(1, ${users}) g`,
  );
  // a second schema and a table with awkward types: counted and restored like any other
  await q(
    database,
    `CREATE SCHEMA extra; CREATE TABLE extra.events (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now(), payload jsonb, tags text[], raw bytea)`,
  );
  await q(
    database,
    `INSERT INTO extra.events (payload, tags, raw) SELECT jsonb_build_object('n', g, 'q', 'it''s'), ARRAY['a', 'b' || g], decode(md5(g::text), 'hex') FROM generate_series(1, 500) g`,
  );
}

beforeAll(async () => {
  if (!db) return;
  const config = configFor(tmpDir('bkpg-setup'));
  await migrateUp(config);
  await seed(db.name);
});

afterAll(async () => {
  for (const name of extraDbs) await q('postgres', `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`).catch(() => {});
  await db?.drop();
});

describe.runIf(!!db)('PostgreSQL backups', () => {
  it('create -> verify --deep -> restore into a new database: equal row counts and content', async () => {
    const dir = tmpDir('bkpg-cycle');
    const config = configFor(dir);
    const r = await createBackup(config, { compression: 'zstd', encrypt: true, label: 'pg' });
    const m = r.manifest;
    expect(m.engine).toBe('postgres');
    expect(m.file).toBe(`${m.id}.dump.zst.enc`);
    expect(m.source).toBe(`postgres://${db!.user}:****@${db!.host}:${db!.port}/${db!.name}`);
    expect(m.schema_version).toMatch(/^\d{4}/);
    expect(m.row_counts).toMatchObject({ users: 3000, workflows: 3000, 'extra.events': 500 });
    expect(m.engine_version).toMatch(/^PostgreSQL \d+/);
    expect(m.engine_details).toMatchObject({ format: 'custom', database: db!.name });
    expect(String(m.engine_details.pg_dump_version)).toMatch(/^\d+\.\d+/);
    expect(String(m.engine_details.snapshot)).toMatch(/^[0-9A-F]+-[0-9A-F]+-\d+$/);
    expect(JSON.stringify(m)).not.toContain(PASSWORD);
    expect(JSON.stringify(m)).not.toContain(KEY);
    expect(statSync(r.path).mode & 0o777).toBe(0o600);
    expect(statSync(config.database.backup.storage_path).mode & 0o777).toBe(0o700);

    // backup_log mirror, in the PostgreSQL database itself
    const [row] = await q(
      db!.name,
      'SELECT backup_type, status, checksum, file_size_bytes FROM backup_log WHERE file_path = $1',
      [r.path],
    );
    expect(row).toMatchObject({
      backup_type: 'manual',
      status: 'completed',
      checksum: m.sha256,
      file_size_bytes: String(m.stored_size),
    });

    const rec = await verifyBackup(config, m.id, { deep: true });
    expect(rec.ok).toBe(true);
    expect(rec.checks.map((c) => c.name)).toEqual([
      'manifest',
      'checksum',
      'decode',
      'integrity',
      'row_counts',
      'schema_version',
    ]);
    expect(rec.checks.find((c) => c.name === 'integrity')!.detail).toMatch(
      /pg_restore --list: \d+ entries.*scratch database/,
    );
    // the scratch database is gone
    expect(await databases(`${db!.name}\\_wks\\_%`)).toEqual([]);

    const copy = `${db!.name}_copy`;
    extraDbs.push(copy);
    const res = await restoreBackup(config, { select: { id: m.id }, to: copy });
    expect(res).toMatchObject({ cancelled: false, live: false, safety_backup_id: null, backup_id: m.id });
    expect(res.next_steps.join('\n')).toContain(`psql -d ${copy}`);
    for (const t of ['users', 'workflows', 'extra.events']) {
      expect(await fingerprint(copy, t)).toEqual(await fingerprint(db!.name, t));
    }
    const [sv] = await q<{ v: string }>(copy, 'SELECT max(version) AS v FROM schema_migrations');
    expect(sv!.v).toBe(m.schema_version);
    // nothing temporary left behind: no decoded archive, no half-made databases
    expect(readdirSync(config.database.backup.storage_path).filter((n) => n.startsWith('.wks-tmp-'))).toEqual([]);
    expect(await databases(`${db!.name}%\\_wks\\_%`)).toEqual([]);
    // an existing --to-database is not overwritten without force
    await expect(restoreBackup(config, { select: { id: m.id }, to: copy })).rejects.toMatchObject({ exitCode: 4 });
  });

  it('row counts come from the same snapshot as the dump while a writer keeps inserting', async () => {
    const config = configFor(tmpDir('bkpg-conc'));
    const writer = new pg.Client({ connectionString: db!.url });
    await writer.connect();
    let stop = false;
    let inserted = 0;
    const loop = (async () => {
      while (!stop) {
        await writer.query("INSERT INTO metrics (metric_name, metric_value) VALUES ('w', 1)");
        inserted++;
      }
    })();
    try {
      await new Promise((r) => setTimeout(r, 200));
      const backups = [];
      for (let i = 0; i < 3; i++) backups.push(await createBackup(config, { compression: 'gzip' }));
      stop = true;
      await loop;
      for (const b of backups) {
        const rec = await verifyBackup(config, b.manifest.id, { deep: true });
        expect(rec.checks.find((c) => c.name === 'row_counts')).toMatchObject({ ok: true });
      }
      expect(backups[2]!.manifest.row_counts.metrics).toBeGreaterThan(backups[0]!.manifest.row_counts.metrics!);
      expect(inserted).toBeGreaterThan(backups[2]!.manifest.row_counts.metrics!);
    } finally {
      stop = true;
      await loop.catch(() => {});
      await writer.end();
    }
  });

  it('catches one flipped byte in a plain, compressed or encrypted backup (VerificationError, exit 3)', async () => {
    const config = configFor(tmpDir('bkpg-flip'));
    for (const [compression, encrypt] of [
      ['none', false],
      ['gzip', false],
      ['none', true],
    ] as const) {
      const b = await createBackup(config, { compression, encrypt });
      const buf = readFileSync(b.path);
      const at = Math.floor(buf.length / 2);
      buf[at] = buf[at]! ^ 0x01;
      writeFileSync(b.path, buf);
      const err = await verifyBackup(config, b.manifest.id).catch((e) => e);
      expect(err, `${compression}/${encrypt}`).toMatchObject({ exitCode: 3 });
      expect(err.message).toMatch(/failed verification: (checksum|decode)/);
      // and a restore refuses it before touching anything
      await expect(
        restoreBackup(config, { select: { id: b.manifest.id }, to: `${db!.name}_never` }),
      ).rejects.toMatchObject({ exitCode: 3 });
      expect(await databases(`${db!.name}\\_never%`)).toEqual([]);
    }
    expect((await listBackups(config)).backups.every((x) => x.verification?.ok === false)).toBe(true);
  });

  it('verify --deep of an archive pg_restore cannot list or cannot restore: integrity fails, the scratch database is dropped', async () => {
    const config = configFor(tmpDir('bkpg-badarchive'));
    const dir = config.database.backup.storage_path;
    const cases: Array<[string, (a: Buffer) => Buffer, RegExp]> = [
      // the header's magic: `pg_restore --list` fails (while the scratch database is being created)
      ['unlistable', (a) => Buffer.concat([Buffer.from('XXXXX'), a.subarray(5)]), /pg_restore --list failed/],
      // the table of contents intact, the data cut short: the restore into the scratch database fails
      ['truncated', (a) => a.subarray(0, Math.floor(a.length * 0.6)), /restore into a scratch database failed/],
    ];
    for (const [name, mangle, detail] of cases) {
      const b = await createBackup(config, { compression: 'none', encrypt: false });
      const bad = mangle(readFileSync(b.path));
      writeFileSync(b.path, bad);
      // A manifest that matches the bad bytes: only the archive checks can catch it.
      const mf = path.join(dir, `${b.manifest.id}.json`);
      const sha = createHash('sha256').update(bad).digest('hex');
      const m = JSON.parse(readFileSync(mf, 'utf8'));
      writeFileSync(
        mf,
        JSON.stringify({ ...m, sha256: sha, raw_sha256: sha, stored_size: bad.length, raw_size: bad.length }),
      );
      const err = await verifyBackup(config, b.manifest.id, { deep: true }).catch((e) => e);
      expect(err, name).toMatchObject({ exitCode: 3 });
      const integrity = err.details.verification.checks.find((c: { name: string }) => c.name === 'integrity');
      expect(integrity, name).toMatchObject({ ok: false, detail: expect.stringMatching(detail) });
      expect(await databases(`${db!.name}\\_wks\\_%`), name).toEqual([]);
    }
  });

  it('restores over the live database: refuses while sessions are connected (listing them), --force terminates them; a safety backup is taken', async () => {
    const config = configFor(tmpDir('bkpg-live'));
    const b = await createBackup(config, { compression: 'gzip' });
    const before = await fingerprint(db!.name, 'workflows');
    await q(
      db!.name,
      "DELETE FROM workflows WHERE id > 100; INSERT INTO users (username, email, password_hash) VALUES ('late', 'late@x', 'h')",
    );
    // database-level properties (not in a dump without --create) are carried over from the replaced database
    await q(
      db!.name,
      `ALTER DATABASE ${db!.name} SET work_mem = '7MB'; REVOKE TEMPORARY ON DATABASE ${db!.name} FROM PUBLIC`,
    );

    const other = new pg.Client({ connectionString: db!.url, application_name: 'busy-app' });
    other.on('error', () => {});
    await other.connect();
    const pid = (await other.query('SELECT pg_backend_pid() AS p')).rows[0].p as number;
    const err = await restoreBackup(config, { select: { id: b.manifest.id } }).catch((e) => e);
    expect(err).toMatchObject({ exitCode: 4 });
    expect(err.message).toContain(`pid ${pid}`);
    expect(err.message).toContain('busy-app');
    expect((await fingerprint(db!.name, 'workflows')).n).toBe(100);

    const res = await restoreBackup(config, { select: { id: b.manifest.id }, force: true });
    await other.end().catch(() => {});
    expect(res).toMatchObject({ cancelled: false, live: true });
    expect(res.safety_backup_id).toBeTruthy();
    expect(await fingerprint(db!.name, 'workflows')).toEqual(before);
    const [late] = await q<{ n: string }>(db!.name, "SELECT count(*) AS n FROM users WHERE username = 'late'");
    expect(Number(late!.n)).toBe(0);
    // the safety backup holds what was replaced
    const safety = (await listBackups(config)).backups.find((x) => x.id === res.safety_backup_id)!;
    expect(safety).toMatchObject({ type: 'manual', label: 'pre-restore', engine: 'postgres' });
    const sm = JSON.parse(readFileSync(path.join(config.database.backup.storage_path, `${safety.id}.json`), 'utf8'));
    expect(sm.row_counts.workflows).toBe(100);
    expect(sm.row_counts.users).toBe(3001);
    // the database kept its name, its comment is not a wks marker, and the old copy is gone
    const [c] = await q<{ c: string | null }>(
      'postgres',
      "SELECT shobj_description(oid, 'pg_database') AS c FROM pg_database WHERE datname = $1",
      [db!.name],
    );
    expect(c!.c).toBeNull();
    expect(await databases(`${db!.name}%\\_wks\\_%`)).toEqual([]);
    expect(res.next_steps.join('\n')).toMatch(/vacuumdb --analyze-in-stages/);
    const [props] = await q<{ setconfig: string[]; acl: string }>(
      'postgres',
      'SELECT (SELECT setconfig FROM pg_db_role_setting s WHERE s.setdatabase = d.oid AND s.setrole = 0) AS setconfig, datacl::text AS acl FROM pg_database d WHERE datname = $1',
      [db!.name],
    );
    expect(props!.setconfig).toEqual(['work_mem=7MB']);
    expect(props!.acl).toMatch(/(^|[{,])=c\//); // PUBLIC keeps CONNECT but not TEMPORARY
  });

  it('passes the password through a private passfile, never the environment', () => {
    const conn = pgConn(configFor(tmpDir('bkpg-pass')));
    const { env, cleanup } = childEnvironment(conn, [conn.database, 'scratch:db']);
    try {
      expect(env.PGPASSWORD).toBeUndefined();
      expect(env.PG_PASSWORD).toBeUndefined();
      expect(env.BACKUP_ENCRYPTION_KEY).toBeUndefined();
      expect(Object.values(env).join('\n')).not.toContain(PASSWORD);
      const file = env.PGPASSFILE!;
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(statSync(path.dirname(file)).mode & 0o777).toBe(0o700);
      // The exact host, port, database and user: never a wildcard that would hand the password to any server.
      const pw = PASSWORD.replace(/\\/g, '\\\\').replace(/:/g, '\\:');
      const user = conn.user!.replace(/:/g, '\\:');
      expect(readFileSync(file, 'utf8')).toBe(
        `${conn.host}:${conn.port}:${conn.database}:${user}:${pw}\n${conn.host}:${conn.port}:scratch\\:db:${user}:${pw}\n`,
      );
      expect(Object.keys(env).filter((k) => k.startsWith('PG'))).toEqual(['PGPASSFILE']);
    } finally {
      cleanup();
    }
    expect(existsSync(env.PGPASSFILE!)).toBe(false);
    // a passfile left by a process that died (kill -9) is removed by the next one
    const dead = mkdtempSync(path.join(tmpdir(), 'wks-pgpass-999999999-'));
    writeFileSync(path.join(dead, 'pgpass'), '*:*:*:*:x\n', { mode: 0o600 });
    const mine = childEnvironment(conn, [conn.database]);
    mine.cleanup();
    expect(existsSync(dead)).toBe(false);
  });

  it('names a missing or too old pg_dump in one line with the package and PG_DUMP_PATH', async () => {
    const dir = tmpDir('bkpg-tools');
    const missing = configFor(dir, { PG_DUMP_PATH: path.join(dir, 'no-such-pg_dump') });
    const e1 = await createBackup(missing).catch((e) => e);
    expect(e1).toMatchObject({ exitCode: 1 });
    expect(e1.message).toMatch(/^pg_dump not found at .*no-such-pg_dump/);
    expect(e1.hint).toMatch(/postgresql-client-\d+.*PG_DUMP_PATH/);
    expect(e1.message).not.toContain('\n');
    // A pg_dump that reports an older major version than the server (an old client install).
    const old = path.join(dir, 'pg_dump');
    writeFileSync(old, '#!/bin/sh\necho "pg_dump (PostgreSQL) 9.6.24"\n');
    chmodSync(old, 0o755);
    const e2 = await createBackup(configFor(dir, { PG_DUMP_PATH: old })).catch((e) => e);
    expect(e2).toMatchObject({ exitCode: 1 });
    expect(e2.message).toMatch(/^pg_dump 9\.6\.24 is older than the PostgreSQL \d+ server/);
    expect(e2.hint).toMatch(/postgresql-client-\d+/);
    // nothing was written, and the backup_log row says failed
    expect((await listBackups(missing)).backups).toEqual([]);
    const rows = await q<{ status: string; error_message: string }>(
      db!.name,
      'SELECT status, error_message FROM backup_log WHERE file_path LIKE $1',
      [`${dir}%`],
    );
    expect(rows.map((r) => r.status)).toEqual(['failed', 'failed']);
    expect(parseToolVersion('pg_restore (PostgreSQL) 16.4 (Ubuntu 16.4-1)')).toEqual({ version: '16.4', major: 16 });
    expect((await resolveTool(configFor(dir), 'pg_restore')).major).toBeGreaterThanOrEqual(10);
  });

  it('pg_dump dying mid-stream fails the backup in one line: no manifest, no temp files, backup_log failed', async () => {
    const dir = tmpDir('bkpg-crash');
    // The real pg_dump, cut off after 20 kB with a failing exit status (a crash part-way through).
    const wrapper = path.join(dir, 'pg_dump');
    writeFileSync(
      wrapper,
      `#!/bin/sh\nif [ "$1" = "--version" ]; then exec pg_dump --version; fi\npg_dump "$@" | head -c 20000\necho "pg_dump: error: simulated crash" >&2\nexit 1\n`,
    );
    chmodSync(wrapper, 0o755);
    const config = configFor(dir, { PG_DUMP_PATH: wrapper });
    const e = await createBackup(config, { compression: 'gzip' }).catch((x) => x);
    expect(e).toMatchObject({ exitCode: 1 });
    expect(e.message).toMatch(/^pg_dump failed \(exit 1\): pg_dump: error: simulated crash/);
    expect((await listBackups(config)).backups).toEqual([]);
    expect(readdirSync(config.database.backup.storage_path).filter((n) => !n.startsWith('.wks-backup.lock'))).toEqual(
      [],
    );
    const [row] = await q<{ status: string; error_message: string }>(
      db!.name,
      'SELECT status, error_message FROM backup_log WHERE file_path LIKE $1',
      [`${dir}%`],
    );
    expect(row).toMatchObject({ status: 'failed', error_message: expect.stringMatching(/simulated crash/) });
  });

  it('a missing database is NotFoundError (5) with a hint', async () => {
    const config = configFor(tmpDir('bkpg-nodb'), { PG_DATABASE: `${db!.name}_absent` });
    const e = await createBackup(config).catch((x) => x);
    expect(e).toMatchObject({ exitCode: 5 });
    expect(e.message).toMatch(/does not exist/);
    expect((await listBackups(config)).backups).toEqual([]);
  });
});
