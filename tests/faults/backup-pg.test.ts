/**
 * kill -9 of `wks backup restore` / `wks backup create` on PostgreSQL, at
 * several points: the target keeps its old contents, whole; the catalog
 * never lists an incomplete backup; the next run removes what the dead one
 * left (temporary files, half-restored databases). Spawns the built
 * bin/wks.js (build first).
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { WKS_BIN, baseEnv, runWks } from '../helpers/cli.js';
import { createTestDatabase, queryDb as q, type TestDatabase } from '../helpers/services.js';
import { tmpDir } from '../helpers/tmp.js';

const db: TestDatabase | null = await createTestDatabase('backup_pg_faults');
let env: Record<string, string>;
let backupDir: string;
let backupId: string;

async function fingerprint(table: string): Promise<{ n: number; md5: string }> {
  const [r] = await q<{ n: string; md5: string }>(
    db!.name,
    `SELECT count(*) AS n, md5(coalesce(string_agg(t::text, '|' ORDER BY t.id), '')) AS md5 FROM ${table} t`,
  );
  return { n: Number(r!.n), md5: r!.md5 };
}

const leftoverDbs = async (): Promise<string[]> =>
  (
    await q<{ datname: string }>('postgres', 'SELECT datname FROM pg_database WHERE datname LIKE $1', [
      `${db!.name}\\_wks\\_%`,
    ])
  ).map((r) => r.datname);

/** Start `wks args...`, SIGKILL it as soon as `when()` is true (polled), and report whether it was still running then. */
async function killWhen(
  args: string[],
  when: () => Promise<boolean>,
  delayMs = 0,
): Promise<{ killed: boolean; stderr: string; pid: number }> {
  const child = spawn(process.execPath, [WKS_BIN, ...args], { env: baseEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  let exited = false;
  const closed = new Promise<void>((r) => child.on('close', () => ((exited = true), r())));
  const deadline = Date.now() + 60_000;
  while (!exited && Date.now() < deadline) {
    if (await when().catch(() => false)) {
      if (delayMs) await new Promise((r) => setTimeout(r, delayMs));
      break;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  const killed = !exited;
  child.kill('SIGKILL');
  await closed;
  return { killed, stderr, pid: child.pid! };
}

beforeAll(async () => {
  if (!db) return;
  const dir = tmpDir('bkpg-faults');
  backupDir = path.join(dir, 'backups');
  env = { ...db.env, BACKUP_STORAGE_PATH: backupDir, BACKUP_COMPRESSION: 'none' };
  const m = await runWks(['migrate', 'up', '--no-backup'], { env });
  expect(m.code, m.stderr).toBe(0);
  // Big enough that pg_restore takes a few seconds on 2 cores.
  await q(
    db.name,
    `CREATE TABLE bulk (id bigint PRIMARY KEY, payload text NOT NULL); CREATE INDEX bulk_payload ON bulk (payload)`,
  );
  await q(db.name, `INSERT INTO bulk SELECT g, md5(g::text) || repeat('p', 150) FROM generate_series(1, 180000) g`);
  await q(
    db.name,
    `INSERT INTO users (username, email, password_hash) SELECT 'u' || g, 'u' || g || '@x', 'h' FROM generate_series(1, 1000) g`,
  );
  const c = await runWks(['backup', 'create', '--compress', 'none', '--json'], { env, timeoutMs: 120_000 });
  expect(c.code, c.stderr).toBe(0);
  backupId = c.json().backup.id;
  // The live database now differs from the backup: these are the "old contents" a failed restore must keep.
  await q(
    db.name,
    `DELETE FROM bulk WHERE id % 3 = 0; UPDATE users SET email = 'changed-' || id || '@x' WHERE id <= 10; INSERT INTO users (username, email, password_hash) VALUES ('after-backup', 'a@x', 'h')`,
  );
}, 180_000);

afterAll(async () => {
  await db?.drop();
});

describe.runIf(!!db)('kill -9 during a PostgreSQL restore or backup', () => {
  it('killed while pg_restore fills the new database, or during the safety backup: the target keeps its old contents', async () => {
    const oldBulk = await fingerprint('bulk');
    const oldUsers = await fingerprint('users');
    // A database of this run (not one a previous killed run left; the next run sweeps those first).
    let before: string[] = [];
    // The new database of this run, once it carries wks's marker (so the next run knows it as a dead
    // run's) and pg_restore (application_name wks-backup) is connected to it: a condition, not a time, so a busy machine cannot
    // move the kill before the marker or after pg_restore.
    const restoringInto = async (): Promise<string | null> => {
      const rows = await q<{ datname: string }>(
        'postgres',
        `SELECT d.datname FROM pg_database d JOIN pg_stat_activity a ON a.datname = d.datname
          WHERE d.datname LIKE $1 AND shobj_description(d.oid, 'pg_database') LIKE 'wks:new:%' AND a.application_name = 'wks-backup'`,
        [`${db!.name}\\_wks\\_new\\_%`],
      );
      return rows.map((r) => r.datname).find((n) => !before.includes(n)) ?? null;
    };
    const restoredRows = async (): Promise<boolean> => {
      const target = await restoringInto();
      if (!target) return false;
      const [r] = await q<{ n: string }>(target, 'SELECT count(*) AS n FROM bulk').catch(() => [{ n: '0' }]);
      return Number(r!.n) > 0;
    };
    const points: Array<{ name: string; when: () => Promise<boolean>; delay: number }> = [
      // the safety backup (pg_dump of the live database) is streaming into a temp file
      {
        name: 'safety backup',
        when: async () => readdirSync(backupDir).some((n) => n.startsWith('.wks-tmp-') && n.includes('.dump')),
        delay: 50,
      },
      // the new database exists and pg_restore is writing into it
      { name: 'pg_restore, early', when: async () => (await restoringInto()) !== null, delay: 0 },
      // pg_restore has committed the big table's rows and is still at work (its index, the rest)
      { name: 'pg_restore, later', when: restoredRows, delay: 0 },
    ];
    const killedPids: number[] = [];
    for (const p of points) {
      before = await leftoverDbs();
      const k = await killWhen(['backup', 'restore', backupId, '--yes', '--force'], p.when, p.delay);
      killedPids.push(k.pid);
      expect(k.killed, `${p.name}: wks finished before it could be killed\n${k.stderr}`).toBe(true);
      expect(await fingerprint('bulk'), p.name).toEqual(oldBulk);
      expect(await fingerprint('users'), p.name).toEqual(oldUsers);
      // the catalog never shows a half-written (safety) backup
      const l = await runWks(['backup', 'list', '--json'], { env });
      expect(l.json().backups.every((b: { data_present: boolean }) => b.data_present)).toBe(true);
    }

    // The next run drops the dead runs' databases and temp files, then restores.
    expect((await leftoverDbs()).some((n) => n.includes('_wks_new_'))).toBe(true);
    const r = await runWks(['backup', 'restore', backupId, '--yes', '--force', '--json'], { env, timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/dropped .*_wks_new_.*interrupted wks run/);
    expect(await leftoverDbs()).toEqual([]);
    expect(readdirSync(backupDir).filter((n) => n.startsWith('.wks-tmp-'))).toEqual([]);
    // the dead runs' passfiles (the password at rest) are gone too
    expect(readdirSync(tmpdir()).filter((n) => killedPids.some((pid) => n.startsWith(`wks-pgpass-${pid}-`)))).toEqual(
      [],
    );
    const bulk = await fingerprint('bulk');
    expect(bulk.n).toBe(180000);
    const [after] = await q<{ n: string }>(db!.name, "SELECT count(*) AS n FROM users WHERE username = 'after-backup'");
    expect(Number(after!.n)).toBe(0);
  }, 240_000);

  it('killed during `backup create`: no incomplete backup is listed and the next run cleans up', async () => {
    const before = (await runWks(['backup', 'list', '--json'], { env })).json().backups.length;
    const k = await killWhen(
      ['backup', 'create', '--compress', 'gzip'],
      async () => readdirSync(backupDir).some((n) => n.startsWith('.wks-tmp-')),
      100,
    );
    expect(k.killed).toBe(true);
    const l = (await runWks(['backup', 'list', '--json'], { env })).json();
    expect(l.backups.length).toBe(before);
    const c = await runWks(['backup', 'create', '--compress', 'none', '--json'], { env, timeoutMs: 120_000 });
    expect(c.code, c.stderr).toBe(0);
    expect(c.json().cleaned.length).toBeGreaterThan(0);
    expect(readdirSync(backupDir).filter((n) => n.startsWith('.wks-tmp-'))).toEqual([]);
    // the dead run's backup_log row is marked failed, not left in_progress
    const rows = await q<{ status: string }>(db!.name, "SELECT status FROM backup_log WHERE status = 'in_progress'");
    expect(rows).toEqual([]);
    // and no pg_dump of the dead run is still connected
    const dumps = await q<{ n: string }>(
      'postgres',
      "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = $1 AND application_name = 'wks-backup'",
      [db!.name],
    );
    expect(Number(dumps[0]!.n)).toBe(0);
  }, 180_000);
});
