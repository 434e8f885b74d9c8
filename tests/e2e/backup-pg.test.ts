/**
 * `wks backup ...` on PostgreSQL as a user runs it (spawns the built
 * bin/wks.js): the same commands, catalog, --json shapes and exit codes as
 * SQLite; one-line errors for corruption, busy targets, missing tools and an
 * unreachable server; the password never printed.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { expectOneLineError, runWks } from '../helpers/cli.js';
import { createTestDatabase, queryDb as q, type TestDatabase } from '../helpers/services.js';
import { tmpDir } from '../helpers/tmp.js';

const PASSWORD = 'e2e-pg-password-do-not-print';
const db: TestDatabase | null = await createTestDatabase('backup_pg_e2e');
let env: Record<string, string>;
let dir: string;
const copies: string[] = [];
/** Errors here are not line-counted, and never show the password. */
const pgError = { maxLines: null, secret: PASSWORD };

beforeAll(async () => {
  if (!db) return;
  dir = tmpDir('e2e-bkpg');
  env = { ...db.env, PG_PASSWORD: PASSWORD, BACKUP_STORAGE_PATH: path.join(dir, 'backups') };
  const m = await runWks(['migrate', 'up', '--no-backup'], { env });
  expect(m.code, m.stderr).toBe(0);
  await q(
    db.name,
    "INSERT INTO users (username, email, password_hash) SELECT 'u' || g, 'u' || g || '@x', 'h' FROM generate_series(1, 700) g",
  );
});

afterAll(async () => {
  for (const c of copies) await q('postgres', `DROP DATABASE IF EXISTS "${c}" WITH (FORCE)`).catch(() => {});
  await db?.drop();
});

describe.runIf(!!db)('wks backup on PostgreSQL (e2e)', () => {
  let id: string;

  it('create --json prints the postgres manifest; list and verify --deep use the same catalog', async () => {
    const r = await runWks(['backup', 'create', '--compress', 'gzip', '--label', 'e2e-pg', '--json'], { env });
    expect(r.code, r.stderr).toBe(0);
    const doc = r.json();
    expect(doc.backup).toMatchObject({
      engine: 'postgres',
      type: 'manual',
      label: 'e2e-pg',
      compression: 'gzip',
      row_counts: { users: 700 },
    });
    expect(doc.backup.file).toMatch(/\.dump\.gz$/);
    expect(doc.backup.source).toContain(':****@');
    expect(doc.backup.engine_details.pg_dump_version).toMatch(/^\d+/);
    expect(r.stdout + r.stderr).not.toContain(PASSWORD);
    for (const f of readdirSync(env.BACKUP_STORAGE_PATH!))
      expect(statSync(path.join(env.BACKUP_STORAGE_PATH!, f)).mode & 0o777).toBe(0o600);
    id = doc.backup.id;

    const l = await runWks(['backup', 'list', '--json'], { env });
    expect(l.code).toBe(0);
    expect(l.json().backups[0]).toMatchObject({ id, engine: 'postgres', verification: null });

    const v = await runWks(['backup', 'verify', id.slice(0, 17), '--deep', '--json'], { env, timeoutMs: 60_000 });
    expect(v.code, v.stderr).toBe(0);
    const rec = v.json().verified[0];
    expect(rec).toMatchObject({ id, ok: true, deep: true });
    expect(rec.checks.map((c: { name: string }) => c.name)).toEqual([
      'manifest',
      'checksum',
      'decode',
      'integrity',
      'row_counts',
      'schema_version',
    ]);
  });

  it('restore --to-database creates a copy; the live restore refuses off a TTY without --yes (exit 2), and with a session connected (exit 4, listing it)', async () => {
    const copy = `${db!.name}_e2e_copy`;
    copies.push(copy);
    const r = await runWks(['backup', 'restore', id, '--to-database', copy, '--json'], { env, timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.json()).toMatchObject({
      ok: true,
      live: false,
      backup_id: id,
      target: expect.stringContaining(`/${copy}`),
    });
    expect(Number((await q<{ n: string }>(copy, 'SELECT count(*) AS n FROM users'))[0]!.n)).toBe(700);

    const again = await runWks(['backup', 'restore', id, '--to-database', copy], { env });
    expectOneLineError(again, 4, /already exists/, pgError);

    const noYes = await runWks(['backup', 'restore', id], { env });
    expect(noYes.code, noYes.stderr).toBe(2);
    expect(noYes.stderr).toMatch(/--yes/);

    const other = new pg.Client({ connectionString: db!.url, application_name: 'e2e-holder' });
    await other.connect();
    try {
      const busy = await runWks(['backup', 'restore', id, '--yes'], { env });
      expectOneLineError(busy, 4, /other session\(s\): pid \d+ \(postgres, e2e-holder/, pgError);
      expect(busy.stderr).toMatch(/--force/);
    } finally {
      await other.end();
    }

    const bad = await runWks(['backup', 'restore', id, '--to-database', 'x', '--to', '/tmp/x.db'], { env });
    expect(bad.code).toBe(2);
  });

  it('one flipped byte: verify exits 3 naming the failed check', async () => {
    const c = await runWks(['backup', 'create', '--compress', 'none', '--json'], { env });
    expect(c.code, c.stderr).toBe(0);
    const b = c.json().backup;
    const file = path.join(env.BACKUP_STORAGE_PATH!, b.file);
    const buf = readFileSync(file);
    buf[Math.floor(buf.length / 3)] ^= 0x40;
    writeFileSync(file, buf);
    const v = await runWks(['backup', 'verify', b.id], { env });
    expectOneLineError(v, 3, new RegExp(`backup ${b.id} failed verification: checksum`), pgError);
  });

  it('missing pg_dump, an unreachable server and --to-database on SQLite: one line each, documented codes', async () => {
    const missing = await runWks(['backup', 'create'], { env: { ...env, PG_DUMP_PATH: '/nonexistent/pg_dump' } });
    expectOneLineError(missing, 1, /pg_dump not found at \/nonexistent\/pg_dump/, pgError);
    expect(missing.stderr).toMatch(/Try: install postgresql-client-\d+ .*PG_DUMP_PATH/);

    const down = await runWks(['backup', 'create'], { env: { ...env, PG_PORT: '1' } });
    expectOneLineError(
      down,
      1,
      /cannot connect to PostgreSQL at postgres:\/\/postgres:\*\*\*\*@127\.0\.0\.1:1\//,
      pgError,
    );

    const sqlite = await runWks(['backup', 'restore', '--latest', '--to-database', 'x'], {
      env: { DATABASE_PATH: path.join(dir, 'none.db'), BACKUP_STORAGE_PATH: env.BACKUP_STORAGE_PATH! },
    });
    expectOneLineError(sqlite, 2, /--to-database is for PostgreSQL/, pgError);
  });
});
