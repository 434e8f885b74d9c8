/**
 * Five `wks migrate up` processes started at once on the same fresh database,
 * on each dialect: all exit 0 and each migration is applied exactly once
 * (docs/migrations.md: idempotent and locked against concurrent runs; the
 * migration mutex is what makes it so).
 * Spawns the built bin/wks.js (run `npm run build` first).
 */
import { describe, it, expect, afterAll } from 'vitest';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../../src/config/loader.js';
import { withDb } from '../../src/db/index.js';
import { runWks } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/services.js';
import { tmpDir } from '../helpers/tmp.js';

const dbs: TestDatabase[] = [];
afterAll(async () => {
  for (const d of dbs) await d.drop();
});

/**
 * User migrations that count their own runs (applying one twice would add a
 * row or fail). The first is slow (~0.5 s) so that the five runners really
 * overlap: without the lock this test fails (checked by disabling it).
 */
function userMigrations(dir: string, dialect: 'sqlite' | 'postgres'): void {
  mkdirSync(dir, { recursive: true });
  const slow =
    dialect === 'postgres'
      ? 'SELECT pg_sleep(0.5);'
      : 'INSERT INTO runs SELECT 0 FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1500000) SELECT max(x) AS m FROM c) WHERE m < 0;';
  writeFileSync(
    path.join(dir, '20260101000000_runs.sql'),
    `-- migrate:up\nCREATE TABLE runs (n INTEGER);\n${slow}\nINSERT INTO runs VALUES (1);\n-- migrate:down\nDROP TABLE runs;\n`,
  );
  writeFileSync(
    path.join(dir, '20260101000001_runs_again.sql'),
    '-- migrate:up\nINSERT INTO runs VALUES (2);\n-- migrate:down\nDELETE FROM runs WHERE n = 2;\n',
  );
}

async function race(env: Record<string, string>, cwd: string): Promise<void> {
  const runs = await Promise.all(
    Array.from({ length: 5 }, () =>
      runWks(['migrate', 'up', '--no-backup', '--json'], { env, cwd, timeoutMs: 60_000 }),
    ),
  );
  for (const r of runs) expect(r.code, r.stderr).toBe(0);
  const applied = runs.flatMap((r) => r.json().applied.map((a: { version: string }) => a.version));
  // Each version applied by exactly one of the five.
  expect(new Set(applied).size).toBe(applied.length);
  const config = loadConfig({ env, cwd }).config;
  await withDb(config, async (db) => {
    const rows = await db.query<{ version: string }>(`SELECT version FROM schema_migrations ORDER BY version`);
    expect(rows.map((r) => r.version).sort()).toEqual([...applied].sort());
    expect(rows.length).toBeGreaterThanOrEqual(4);
    expect(await db.query(`SELECT n FROM runs ORDER BY n`)).toEqual([{ n: 1 }, { n: 2 }]);
  });
}

describe('five concurrent `wks migrate up` processes', () => {
  it('SQLite: all exit 0, each migration applied once', async () => {
    const cwd = tmpDir('wks-race');
    userMigrations(path.join(cwd, 'm'), 'sqlite');
    await race({ WKS_MIGRATIONS_DIR: path.join(cwd, 'm') }, cwd);
  });

  it('SQLite: waiters keep waiting when the holder keeps the write lock longer than busy_timeout', async () => {
    const cwd = tmpDir('wks-race');
    userMigrations(path.join(cwd, 'm'), 'sqlite');
    // The slow migration (~0.5 s) holds SQLite's write lock far longer than this busy timeout.
    writeFileSync(path.join(cwd, 'phase4-config.yml'), 'phase4:\n  database:\n    busy_timeout_ms: 20\n');
    await race({ WKS_MIGRATIONS_DIR: path.join(cwd, 'm') }, cwd);
  });

  it('PostgreSQL: all exit 0, each migration applied once', async (ctx) => {
    const d = await createTestDatabase('migrate_race');
    if (!d) return ctx.skip();
    dbs.push(d);
    const cwd = tmpDir('wks-race');
    userMigrations(path.join(cwd, 'm'), 'postgres');
    await race({ ...d.env, WKS_MIGRATIONS_DIR: path.join(cwd, 'm') }, cwd);
  });
});
