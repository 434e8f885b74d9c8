/**
 * kill -9 in the middle of `wks migrate up`: a transactional migration leaves
 * no trace and the next run (which takes over the dead runner's SQLite lock
 * row, or waits for PostgreSQL to drop the dead session's advisory lock)
 * applies it exactly once; a transaction:false migration leaves a dirty
 * state that blocks further runs with the recovery steps.
 */
import { describe, it, expect, afterAll } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../../src/config/loader.js';
import type { Config } from '../../src/config/schema.js';
import { withDb } from '../../src/db/index.js';
import { baseEnv, runWks, WKS_BIN } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/services.js';
import { tmpDir } from '../helpers/tmp.js';

const dbs: TestDatabase[] = [];
afterAll(async () => {
  for (const d of dbs) await d.drop();
});

const SLOW_SQLITE =
  'INSERT INTO slow_t SELECT 0 FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 6000000) SELECT max(x) AS m FROM c) WHERE m < 0;';

async function tableNames(config: Config): Promise<string[]> {
  return withDb(config, async (db) => {
    const rows =
      db.dialect === 'sqlite'
        ? await db.query<{ n: string }>(`SELECT name AS n FROM sqlite_master WHERE type = 'table'`)
        : await db.query<{ n: string }>(
            `SELECT table_name AS n FROM information_schema.tables WHERE table_schema = current_schema()`,
          );
    return rows.map((r) => r.n);
  });
}

/** Start `wks migrate up`, wait until it is inside the slow user migration, then SIGKILL it. */
async function killMidway(env: Record<string, string>, cwd: string, config: Config): Promise<void> {
  const child = spawn(process.execPath, [WKS_BIN, 'migrate', 'up', '--no-backup'], {
    cwd,
    env: baseEnv(env),
    stdio: 'ignore',
  });
  const exited = new Promise((r) => child.on('exit', r));
  const deadline = Date.now() + 20_000;
  // The built-ins are committed before the slow migration starts.
  for (;;) {
    if (Date.now() > deadline) throw new Error('wks never reached the slow migration');
    const done = await withDb(config, async (db) => {
      const t =
        db.dialect === 'sqlite'
          ? await db.query(`SELECT 1 FROM sqlite_master WHERE name = 'schema_migrations'`)
          : await db.query(`SELECT 1 FROM information_schema.tables WHERE table_name = 'schema_migrations'`);
      if (!t.length) return false;
      const r = await db.query(`SELECT 1 FROM schema_migrations WHERE version = '0002'`);
      return r.length > 0;
    }).catch(() => false);
    if (done) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  await new Promise((r) => setTimeout(r, 400));
  child.kill('SIGKILL');
  await exited;
}

function setup(dialect: 'sqlite' | 'postgres', tx: boolean, env0: Record<string, string> = {}) {
  const cwd = tmpDir('wks-fault');
  const dir = path.join(cwd, 'm');
  mkdirSync(dir);
  const slow = dialect === 'sqlite' ? SLOW_SQLITE : 'SELECT pg_sleep(3);';
  writeFileSync(
    path.join(dir, '20260101000000_slow.sql'),
    `-- migrate:up${tx ? '' : ' transaction:false'}\nCREATE TABLE slow_t (x INTEGER);\n${slow}\nINSERT INTO slow_t VALUES (1);\n-- migrate:down\nDROP TABLE slow_t;\n`,
  );
  const env = { ...env0, WKS_MIGRATIONS_DIR: dir };
  return { cwd, env, config: loadConfig({ env, cwd }).config };
}

describe('kill -9 during migrate up', () => {
  it('SQLite, transactional: nothing of the migration remains; the next run takes over the dead lock and applies it once', async () => {
    const { cwd, env, config } = setup('sqlite', true);
    await killMidway(env, cwd, config);
    expect(await tableNames(config)).not.toContain('slow_t');
    const lockRows = await withDb(config, (db) => db.query(`SELECT pid FROM wks_migration_lock`));
    expect(lockRows).toHaveLength(1); // left behind by the dead process
    const t0 = Date.now();
    const r = await runWks(['migrate', 'up', '--no-backup', '--json'], { cwd, env, timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(Date.now() - t0).toBeLessThan(30_000); // did not wait for the 60 s lock timeout
    expect(r.json().applied.map((a: { version: string }) => a.version)).toEqual(['20260101000000']);
    await withDb(config, async (db) => {
      expect(await db.query(`SELECT x FROM slow_t`)).toEqual([{ x: 1 }]);
      expect(await db.query(`SELECT pid FROM wks_migration_lock`)).toEqual([]);
    });
  });

  it('SQLite, transaction:false: a dirty state blocks the next run with recovery steps', async () => {
    const { cwd, env, config } = setup('sqlite', false);
    await killMidway(env, cwd, config);
    expect(await tableNames(config)).toContain('slow_t'); // statement 1 was committed on its own
    const r = await runWks(['migrate', 'up', '--no-backup'], { cwd, env });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/dirty at migration 20260101000000_slow/);
    expect(r.stderr).toMatch(/wks migrate resolve 20260101000000 --rolled-back/);
    // Exact state even after kill -9: statement 1 done, statement 2 (line 3) was running.
    expect(r.stderr).toMatch(/statements 1-1 were applied/);
    expect(r.stderr).toMatch(/interrupted .*statement 2 of 3 at \S+20260101000000_slow\.sql:3 was running/);
    const st = await runWks(['migrate', 'status', '--exit-code'], { cwd, env });
    expect(st.code).toBe(1);
    expect(st.stdout).toMatch(/DIRTY/);
    // Recovery as documented: undo by hand, resolve, re-run.
    await withDb(config, (db) => db.exec('DROP TABLE slow_t'));
    expect((await runWks(['migrate', 'resolve', '20260101000000', '--rolled-back'], { cwd, env })).code).toBe(0);
    const again = await runWks(['migrate', 'up', '--no-backup'], { cwd, env, timeoutMs: 60_000 });
    expect(again.code, again.stderr).toBe(0);
    await withDb(config, async (db) => expect(await db.query(`SELECT x FROM slow_t`)).toEqual([{ x: 1 }]));
  });

  it('PostgreSQL, transactional: rolled back by the server; the next run waits for the dead session, then applies once', async (ctx) => {
    const d = await createTestDatabase('migrate_kill');
    if (!d) return ctx.skip();
    dbs.push(d);
    const { cwd, env, config } = setup('postgres', true, d.env);
    await killMidway(env, cwd, config);
    const r = await runWks(['migrate', 'up', '--no-backup', '--json'], { cwd, env, timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.json().applied.map((a: { version: string }) => a.version)).toEqual(['20260101000000']);
    await withDb(config, async (db) => {
      expect(await db.query(`SELECT x FROM slow_t`)).toEqual([{ x: 1 }]);
      expect(await db.query(`SELECT version FROM schema_migrations WHERE version = '20260101000000'`)).toHaveLength(1);
    });
  });
});
