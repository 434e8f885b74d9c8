/**
 * PostgreSQL backups in an S3-compatible repository: create (pg_dump streamed
 * through the codecs straight into a multipart upload, nothing staged),
 * list, verify --deep, restore --to-database, with equal data.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { runWks } from '../helpers/cli.js';
import { createTestDatabase, queryDb as q, type TestDatabase } from '../helpers/services.js';
import { tmpDir } from '../helpers/tmp.js';
import { startS3, startFaultProxy, s3Env, listKeys, type S3Target, type FaultProxy } from '../helpers/s3.js';

const KEY = '0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0';
const db: TestDatabase | null = await createTestDatabase('backup_s3_pg');
let s3: S3Target | null = null;
let proxy: FaultProxy;
const copies: string[] = [];

beforeAll(async () => {
  if (!db) return;
  s3 = await startS3('pg');
  if (s3) proxy = await startFaultProxy(s3.endpoint);
});
afterAll(async () => {
  for (const c of copies) await q('postgres', `DROP DATABASE IF EXISTS "${c}" WITH (FORCE)`).catch(() => {});
  await proxy?.close();
  await s3?.stop();
  await db?.drop();
});

describe.runIf(!!db)('PostgreSQL through S3 (e2e)', () => {
  it('create -> list -> verify --deep -> restore --to-database: equal data', async () => {
    if (!s3) return console.warn('S3 server unavailable: test skipped');
    const dir = tmpDir('s3-pg');
    const env = {
      ...db!.env,
      BACKUP_STORAGE_PATH: path.join(dir, 'staging'),
      BACKUP_ENCRYPTION_KEY: KEY,
      ...s3Env(s3, proxy.endpoint, 'pg'),
    };
    expect((await runWks(['migrate', 'up', '--no-backup'], { env })).code).toBe(0);
    await q(
      db!.name,
      "INSERT INTO users (username, email, password_hash) SELECT 'u' || g, 'u' || g || '@x', md5(g::text) FROM generate_series(1, 3000) g",
    );
    const c = await runWks(['backup', 'create', '--compress', 'gzip', '--encrypt', '--json'], {
      env,
      timeoutMs: 60_000,
    });
    expect(c.code, c.stderr).toBe(0);
    const m = c.json().backup;
    expect(m.engine).toBe('postgres');
    expect(await listKeys(s3, 'pg/')).toEqual([`pg/${m.id}.json`, `pg/${m.file}`].sort());
    const l = await runWks(['backup', 'list', '--json'], { env });
    expect(l.json().backups.map((b: { id: string }) => b.id)).toEqual([m.id]);
    const v = await runWks(['backup', 'verify', m.id, '--deep', '--json'], { env, timeoutMs: 120_000 });
    expect(v.code, v.stderr).toBe(0);
    const copy = `${db!.name}_s3copy`;
    copies.push(copy);
    const r = await runWks(['backup', 'restore', m.id, '--to-database', copy, '--yes', '--json'], {
      env,
      timeoutMs: 120_000,
    });
    expect(r.code, r.stderr).toBe(0);
    const sql = 'SELECT id, username, email, password_hash FROM users ORDER BY id';
    expect(await q(copy, sql)).toEqual(await q(db!.name, sql));
    expect(readdirSync(env.BACKUP_STORAGE_PATH).filter((n) => !n.startsWith('.wks-backup.lock'))).toEqual([]);
  });
});
