/**
 * Runbook scenario (docs/migrations.md, "A failed CREATE INDEX CONCURRENTLY"):
 * a transaction:false migration's unique index fails on duplicate data and
 * PostgreSQL keeps the INVALID index. wks names it in the recovery steps, and
 * the documented undo (drop it, fix the data, resolve --rolled-back, up) works
 * as written.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { runWks } from '../helpers/cli.js';
import { tmpDir } from '../helpers/tmp.js';
import { createTestDatabase, type TestDatabase } from '../helpers/services.js';

const db: TestDatabase | null = await createTestDatabase('runbook_cic');
let env: Record<string, string>;
let cwd: string;
const VERSION = '20260501100000';

const psql = (sql: string): string =>
  execFileSync('psql', [db!.url, '-X', '-q', '-t', '-A', '-v', 'ON_ERROR_STOP=1', '-c', sql], { encoding: 'utf8' });

beforeAll(async () => {
  if (!db) return;
  cwd = tmpDir('e2e-cic');
  mkdirSync(path.join(cwd, 'm'));
  env = { ...db.env, WKS_MIGRATIONS_DIR: 'm', BACKUP_STORAGE_PATH: path.join(cwd, 'backups') };
  expect((await runWks(['migrate', 'up', '--no-backup'], { cwd, env })).code).toBe(0);
  psql(
    "INSERT INTO users (username, email, password_hash) VALUES ('a', 'a@x', 'dup'), ('b', 'b@x', 'dup'), ('c', 'c@x', 'c')",
  );
  writeFileSync(
    path.join(cwd, 'm', `${VERSION}_users_pw_uq.sql`),
    '-- migrate:up transaction:false\nCREATE UNIQUE INDEX CONCURRENTLY users_pw_uq ON users (password_hash);\n\n-- migrate:down transaction:false\nDROP INDEX CONCURRENTLY IF EXISTS users_pw_uq;\n',
  );
});

afterAll(async () => {
  await db?.drop();
});

describe.runIf(!!db)('a failed CREATE INDEX CONCURRENTLY', () => {
  it('migrate up fails and names the INVALID index it left, with the statement to drop it', async () => {
    const r = await runWks(['migrate', 'up', '--json'], { cwd, env });
    expect(r.code).toBe(1);
    const e = r.json().error;
    expect(e.invalidIndexes).toEqual(['users_pw_uq']);
    expect(e.hint).toMatch(
      /PostgreSQL kept the INVALID index users_pw_uq .*DROP INDEX CONCURRENTLY IF EXISTS "users_pw_uq";/,
    );
    expect(psql("SELECT indisvalid FROM pg_index WHERE indexrelid = 'users_pw_uq'::regclass").trim()).toBe('f');
    // the dirty state's recovery (status) names it too
    const s = await runWks(['migrate', 'status'], { cwd, env });
    expect(s.stdout + s.stderr).toContain('INVALID index users_pw_uq');
    // the dirty migration is not counted as applied
    expect(s.stdout).toMatch(/^applied\s+\d+ \(\+1 DIRTY: failed part-way\)$/m);
  });

  it("the runbook's undo works as written: drop, fix, resolve --rolled-back, up", async () => {
    psql('DROP INDEX CONCURRENTLY IF EXISTS "users_pw_uq"');
    psql("UPDATE users SET password_hash = username WHERE password_hash = 'dup'"); // fix the cause: the duplicates
    const res = await runWks(['migrate', 'resolve', VERSION, '--rolled-back'], { cwd, env });
    expect(res.code, res.stderr).toBe(0);
    const up = await runWks(['migrate', 'up'], { cwd, env });
    expect(up.code, up.stderr).toBe(0);
    expect(psql("SELECT indisvalid FROM pg_index WHERE indexrelid = 'users_pw_uq'::regclass").trim()).toBe('t');
  });

  it('PG_PASSWORD is not required when the server needs none (trust auth here)', async () => {
    const { PG_PASSWORD: _unused, ...noPassword } = env;
    const r = await runWks(['migrate', 'status'], { cwd, env: noPassword });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/PG_PASSWORD/);
  });
});
