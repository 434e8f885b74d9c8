/**
 * Security: a database name is always a literal name (libpq reads a value
 * with `=`, or starting with `postgres://`, as a whole connection string), and
 * nothing read from a manifest chooses where wks connects or writes.
 * Real PostgreSQL, real pg_dump/pg_restore, a fake server on another loopback
 * port that records whatever reaches it.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import pg from 'pg';
import { runWks } from '../helpers/cli.js';
import { createTestDatabase, TEST_PG_URL, type TestDatabase } from '../helpers/services.js';
import { tmpDir } from '../helpers/tmp.js';

const PASSWORD = 'sec-pg-password-must-stay-home';
const db: TestDatabase | null = await createTestDatabase('sec_pg');
const victim = `wks_t_sec_victim_${process.pid}`;
const literalNames: string[] = [];
let env: Record<string, string>;
let fake: net.Server;
let fakePort: number;
let received = Buffer.alloc(0);

async function q<T = Record<string, unknown>>(database: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const u = new URL(TEST_PG_URL);
  const c = new pg.Client({
    host: u.hostname,
    port: Number(u.port || 5432),
    user: decodeURIComponent(u.username || 'postgres'),
    password: decodeURIComponent(u.password) || undefined,
    database,
  });
  await c.connect();
  try {
    return (await c.query(sql, params)).rows as T[];
  } finally {
    await c.end();
  }
}

beforeAll(async () => {
  if (!db) return;
  fake = net.createServer((s) => {
    s.on('data', (d) => (received = Buffer.concat([received, d])));
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => fake.listen(0, '127.0.0.1', r));
  fakePort = (fake.address() as net.AddressInfo).port;
  const dir = tmpDir('e2e-sec-pg');
  env = { ...db.env, PG_PASSWORD: PASSWORD, BACKUP_STORAGE_PATH: path.join(dir, 'backups') };
  const m = await runWks(['migrate', 'up', '--no-backup'], { env });
  expect(m.code, m.stderr).toBe(0);
  const c = await runWks(['backup', 'create'], { env });
  expect(c.code, c.stderr).toBe(0);
  await q('postgres', `CREATE DATABASE ${victim}`);
});

afterAll(async () => {
  fake?.close();
  for (const n of [victim, ...literalNames])
    await q('postgres', `DROP DATABASE IF EXISTS "${n.replace(/"/g, '""')}" WITH (FORCE)`).catch(() => {});
  if (db) {
    const left = await q<{ datname: string }>(
      'postgres',
      "SELECT datname FROM pg_database WHERE datname LIKE 'host=%'",
    );
    for (const r of left) await q('postgres', `DROP DATABASE IF EXISTS "${r.datname}" WITH (FORCE)`).catch(() => {});
  }
  await db?.drop();
});

describe.runIf(!!db)('database names are literal names', () => {
  it('--to-database with a connection string reaches only the configured server', async () => {
    const name = `host=127.0.0.1 port=${fakePort} dbname=x`;
    literalNames.push(name);
    const r = await runWks(['-y', 'backup', 'restore', '--latest', '--to-database', name], { env, timeoutMs: 90_000 });
    // Nothing, not even a startup packet with the user name, reached the other port.
    expect(received.length, received.toString('latin1')).toBe(0);
    expect(r.stdout + r.stderr).not.toContain(PASSWORD);
    expect(r.code, r.stderr).toBe(0);
    // The restore went to a database with exactly that (odd) name on the configured server.
    const rows = await q<{ n: string }>(name, 'SELECT count(*)::text AS n FROM users');
    expect(rows[0]!.n).toBe('0');
  });

  it('an edited engine_details.database in a manifest does not redirect verify --deep', async () => {
    const dir = env.BACKUP_STORAGE_PATH!;
    const file = readdirSync(dir).find((f) => /^\d{8}T\d{6}Z-[0-9a-f]{4}\.json$/.test(f))!;
    const manifest = JSON.parse(readFileSync(path.join(dir, file), 'utf8'));
    // Before the fix the scratch database was named after this field, and its name reached pg_restore
    // as `--dbname=dbname=<victim> application_name=_wks_scratch_...`: libpq then loaded the backup into the victim.
    manifest.engine_details.database = `dbname=${victim} application_name=`;
    writeFileSync(path.join(dir, file), JSON.stringify(manifest, null, 2));
    const v = await runWks(['backup', 'verify', manifest.id, '--deep'], { env, timeoutMs: 90_000 });
    expect(v.code, v.stderr).toBe(0);
    const tables = await q<{ n: string }>(
      victim,
      "SELECT count(*)::text AS n FROM information_schema.tables WHERE table_schema = 'public'",
    );
    expect(tables[0]!.n).toBe('0');
    expect(received.length).toBe(0);
  });
});
