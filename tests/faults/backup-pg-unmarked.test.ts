/**
 * kill -9 of `wks backup restore` on PostgreSQL between `CREATE DATABASE` and
 * the marker comment: a real race, no fault hook. The test holds an EXCLUSIVE
 * lock on pg_shdescription (where comments live), so wks's COMMENT ON DATABASE
 * blocks right after the new database was created; wks is killed there and the
 * blocked statement is terminated, so the database stays unmarked. The next
 * run must drop it (from the record written before CREATE DATABASE) and must
 * not drop a look-alike database wks did not create. Spawns the built
 * bin/wks.js (build first).
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { WKS_BIN, baseEnv, runWks } from '../helpers/cli.js';
import { createTestDatabase, TEST_PG_URL, type TestDatabase } from '../helpers/services.js';
import { tmpDir } from '../helpers/tmp.js';

const db: TestDatabase | null = await createTestDatabase('backup_pg_unmarked');
let env: Record<string, string>;
let backupId: string;

const client = async (database = 'postgres'): Promise<pg.Client> => {
  const u = new URL(TEST_PG_URL);
  u.pathname = `/${database}`;
  const c = new pg.Client({ connectionString: u.toString() });
  await c.connect();
  return c;
};

beforeAll(async () => {
  if (!db) return;
  const dir = tmpDir('bkpg-unmarked');
  env = { ...db.env, BACKUP_STORAGE_PATH: path.join(dir, 'backups'), BACKUP_COMPRESSION: 'none' };
  const m = await runWks(['migrate', 'up', '--no-backup'], { env });
  expect(m.code, m.stderr).toBe(0);
  const c = await runWks(['backup', 'create', '--json'], { env, timeoutMs: 120_000 });
  expect(c.code, c.stderr).toBe(0);
  backupId = c.json().backup.id;
}, 120_000);

afterAll(async () => {
  await db?.drop();
});

describe.runIf(!!db)('kill -9 between CREATE DATABASE and the marker comment', () => {
  it('the next run drops the unmarked new database, and not a look-alike wks did not create', async () => {
    const admin = await client();
    const decoy = `${db!.name.slice(0, 40)}_wks_new_0d0d0d`;
    await admin.query(`CREATE DATABASE "${decoy}"`);
    // A run that completes first drops what earlier killed runs on this host left: their DROP DATABASE
    // would otherwise wait for the lock below, before wks gets to its own COMMENT.
    const pre = await runWks(['backup', 'restore', backupId, '--yes', '--force'], { env, timeoutMs: 120_000 });
    expect(pre.code, pre.stderr).toBe(0);
    const locker = await client();
    let child: ReturnType<typeof spawn> | null = null;
    try {
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE pg_shdescription IN EXCLUSIVE MODE');
      child = spawn(process.execPath, [WKS_BIN, 'backup', 'restore', backupId, '--yes', '--force'], {
        env: baseEnv(env),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      const closed = new Promise<void>((r) => child!.on('close', () => r()));
      // wks's COMMENT ON DATABASE, waiting for the lock: the new database exists, unmarked.
      let blocked: { pid: number; query: string } | undefined;
      const deadline = Date.now() + 60_000;
      while (!blocked && Date.now() < deadline && child.exitCode === null) {
        const r = await admin.query<{ pid: number; query: string }>(
          `SELECT pid, query FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE $1`,
          [`COMMENT ON DATABASE "${db!.name.slice(0, 20)}%\\_wks\\_new\\_%`],
        );
        blocked = r.rows[0];
        if (!blocked) await new Promise((res) => setTimeout(res, 20));
      }
      expect(blocked, `wks never blocked on its marker comment\n${stderr}`).toBeDefined();
      child.kill('SIGKILL');
      await closed;
      // The statement dies with its client: terminate it before the lock goes, so it never runs.
      await admin.query('SELECT pg_terminate_backend($1)', [blocked!.pid]);
      while ((await admin.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [blocked!.pid])).rowCount) {
        await new Promise((res) => setTimeout(res, 20));
      }
      await locker.query('ROLLBACK');
      const newDb = /COMMENT ON DATABASE "([^"]+)"/.exec(blocked!.query)![1]!;
      const left = await admin.query<{ c: string | null }>(
        "SELECT shobj_description(oid, 'pg_database') AS c FROM pg_database WHERE datname = $1",
        [newDb],
      );
      expect(left.rows).toEqual([{ c: null }]); // created, never marked

      const r = await runWks(['backup', 'restore', backupId, '--yes', '--force', '--json'], {
        env,
        timeoutMs: 120_000,
      });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toContain(`dropped ${newDb}, left unmarked by an interrupted wks run`);
      const after = await admin.query<{ datname: string }>('SELECT datname FROM pg_database WHERE datname = ANY($1)', [
        [newDb, decoy],
      ]);
      expect(after.rows.map((x) => x.datname)).toEqual([decoy]);
      // The dead run's record is gone too.
      expect(readdirSync(tmpdir()).filter((n) => n.startsWith(`wks-pgdb-${child!.pid}-`))).toEqual([]);
    } finally {
      child?.kill('SIGKILL');
      await locker.end().catch(() => undefined);
      await admin.query(`DROP DATABASE IF EXISTS "${decoy}"`);
      await admin.end();
    }
  }, 180_000);
});
