/**
 * `wks db copy` as a user runs it: spawned bin/wks.js (build first), real
 * SQLite files and the real local PostgreSQL. Exit codes, --json shapes,
 * refusals, the differences table on exit 3, and no secret in any output.
 */
import { describe, it, expect, afterAll } from 'vitest';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { runWks } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/services.js';
import { tmpDir } from '../helpers/tmp.js';

const probe = await createTestDatabase('copy_e2e_probe');
await probe?.drop();
const dbs: TestDatabase[] = [];
afterAll(async () => {
  for (const d of dbs) await d.drop();
});
async function fresh(): Promise<TestDatabase> {
  const d = (await createTestDatabase('copy_e2e'))!;
  dbs.push(d);
  return d;
}

const SECRET = 'e2e-Secret-pa55';

async function source(dir: string): Promise<string> {
  const file = path.join(dir, 'app.db');
  const m = await runWks(['migrate', 'up'], { env: { DATABASE_PATH: file }, cwd: dir });
  expect(m.code, m.stderr).toBe(0);
  const db = new Database(file);
  db.exec(`
    INSERT INTO users (username, email, password_hash) VALUES ('ann', 'ann@x', 'h'), ('bob', 'bob@x', 'h');
    INSERT INTO metrics (metric_name, metric_value, labels_json, timestamp) VALUES ('m', 24.716952124633846, '{"a":1}', '2026-01-01 00:00:00'), ('m', 0.1, NULL, NULL);
  `);
  db.close();
  return file;
}

function urlWithPassword(d: TestDatabase): string {
  const u = new URL(d.url);
  u.password = SECRET; // trust auth ignores it; it must never be printed
  return u.toString();
}

describe.skipIf(!probe)('wks db copy (e2e)', () => {
  it('copies with --to, prints one JSON document, takes a 0600 pre-migration backup, never prints the password', async () => {
    const dir = tmpDir('e2e-copy');
    const file = await source(dir);
    const d = await fresh();
    const r = await runWks(['db', 'copy', '--to', urlWithPassword(d), '--json'], {
      env: { DATABASE_PATH: file, BACKUP_STORAGE_PATH: path.join(dir, 'backups') },
      cwd: dir,
    });
    expect(r.code, r.stderr).toBe(0);
    const j = r.json();
    expect(j).toMatchObject({
      ok: true,
      verified: true,
      dryRun: false,
      assumedZone: 'UTC',
      onTypeError: 'fail',
      problems: { count: 0 },
    });
    expect(j.target).toContain('****');
    expect(j.tables.find((t: { table: string }) => t.table === 'metrics')).toMatchObject({
      rows: 2,
      targetRows: 2,
      match: true,
      status: 'copied',
    });
    expect(j.backup.id).toBeTruthy();
    const data = readdirSync(path.join(dir, 'backups')).filter((f) => !f.endsWith('.json'));
    expect(data.length).toBeGreaterThan(0);
    for (const f of data) expect(statSync(path.join(dir, 'backups', f)).mode & 0o777).toBe(0o600);
    expect(r.stdout + r.stderr).not.toContain(SECRET);

    // again: refused (target not empty), exit 1 with the way out
    const again = await runWks(['db', 'copy', '--to', urlWithPassword(d), '--no-backup'], {
      env: { DATABASE_PATH: file },
      cwd: dir,
    });
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/Error: target table\(s\) not empty/);
    expect(again.stderr).toMatch(/Try: .*--truncate/);
    expect(again.stdout + again.stderr).not.toContain(SECRET);
    // --truncate is destructive: refused off a terminal without --yes (exit 2), accepted with it
    const noYes = await runWks(['db', 'copy', '--to', d.url, '--no-backup', '--truncate'], {
      env: { DATABASE_PATH: file },
      cwd: dir,
    });
    expect(noYes.code).toBe(2);
    expect(noYes.stderr).toMatch(/--yes/);
    const yes = await runWks(['db', 'copy', '--to', d.url, '--no-backup', '--truncate', '--yes'], {
      env: { DATABASE_PATH: file },
      cwd: dir,
    });
    expect(yes.code, yes.stderr).toBe(0);
    expect(yes.stdout).toMatch(/metrics\s+copied\s+2\s+0\s+2\s+[0-9a-f]{16}\s+yes/);
    expect(yes.stdout).toMatch(/verified/);
  });

  it("dry run: each table's progress line counts the rows its plan header counts (#18.15)", async () => {
    const dir = tmpDir('e2e-copy');
    const file = await source(dir);
    const bad = new Database(file);
    bad.exec(`INSERT INTO metrics (id, metric_name, metric_value) VALUES (77, 'x', 'abc')`);
    bad.close();
    const d = await fresh();
    const dry = await runWks(['db', 'copy', '--to', d.url, '--dry-run', '--on-type-error=skip-row'], {
      env: { DATABASE_PATH: file },
      cwd: dir,
    });
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/^metrics {2}\(3 rows\)$/m);
    expect(dry.stderr).toMatch(/checked metrics: 3 rows, 1 type problem\(s\)/);
    expect(dry.stdout).toMatch(/^users {2}\(2 rows\)$/m);
    expect(dry.stderr).toMatch(/checked users: 2 rows in/);
    // the real run with skip-row says how many rows it left out of how many
    const real = await runWks(['db', 'copy', '--to', d.url, '--no-backup', '--on-type-error=skip-row'], {
      env: { DATABASE_PATH: file },
      cwd: dir,
    });
    expect(real.code, real.stderr).toBe(0);
    expect(real.stderr).toMatch(/copied metrics: 2 rows \(1 of 3 skipped\), 1 type problem\(s\)/);
  });

  it('exit codes: no target 2, missing SQLite file 5, type mismatch 1, changed source on resume 3 with a differences table', async () => {
    const dir = tmpDir('e2e-copy');
    const file = await source(dir);
    const noTarget = await runWks(['db', 'copy'], { env: { DATABASE_PATH: file }, cwd: dir });
    expect(noTarget.code).toBe(2);
    expect(noTarget.stderr).toMatch(/no PostgreSQL target/);
    const d = await fresh();
    const missing = await runWks(['db', 'copy', '--to', d.url, '--from', path.join(dir, 'nope.db')], { cwd: dir });
    expect(missing.code).toBe(5);

    const bad = new Database(file);
    bad.exec(`INSERT INTO metrics (id, metric_name, metric_value) VALUES (77, 'x', 'abc')`);
    bad.close();
    const mismatch = await runWks(['db', 'copy', '--to', d.url, '--no-backup', '--json'], {
      env: { DATABASE_PATH: file },
      cwd: dir,
    });
    expect(mismatch.code).toBe(1);
    expect(mismatch.json().error).toMatchObject({ problem: { table: 'metrics', rowid: '77', column: 'metric_value' } });
    // The dry run is a CI gate: it lists the problem and exits 3 (#14.10); with a lenient mode it passes.
    const dry = await runWks(['db', 'copy', '--to', d.url, '--dry-run'], { env: { DATABASE_PATH: file }, cwd: dir });
    expect(dry.code, dry.stderr).toBe(3);
    expect(dry.stdout).toMatch(/metric_value\s+REAL\s+double precision/);
    expect(dry.stdout).toMatch(/1 type problem/);
    expect(dry.stderr).toMatch(/^Error: dry run: 1 value\(s\) cannot be copied as they are/m);
    const dryJson = await runWks(['db', 'copy', '--to', d.url, '--dry-run', '--json'], {
      env: { DATABASE_PATH: file },
      cwd: dir,
    });
    expect(dryJson.code).toBe(3);
    expect(dryJson.json()).toMatchObject({ ok: false, problems: { count: 1 } });
    const lenient = await runWks(['db', 'copy', '--to', d.url, '--dry-run', '--on-type-error=null'], {
      env: { DATABASE_PATH: file },
      cwd: dir,
    });
    expect(lenient.code, lenient.stderr).toBe(0);

    const skip = await runWks(
      [
        'db',
        'copy',
        '--to',
        d.url,
        '--no-backup',
        '--resume',
        '--on-type-error=skip-row',
        '--report',
        path.join(dir, 'r.jsonl'),
        '--json',
      ],
      {
        env: { DATABASE_PATH: file },
        cwd: dir,
      },
    );
    expect(skip.code, skip.stderr).toBe(0);
    expect(skip.json().problems).toMatchObject({ count: 1, reportFile: path.join(dir, 'r.jsonl') });

    // the source changes after the copy; a resumed run re-checks it: exit 3
    const { default: pg } = await import('pg');
    const c = new pg.Client({ connectionString: d.url });
    await c.connect();
    await c.query(`UPDATE wks_copy_progress SET status = 'in_progress' WHERE table_name = '(run)'`);
    await c.end();
    const w = new Database(file);
    w.exec(
      `DELETE FROM metrics WHERE id = 77; INSERT INTO users (username, email, password_hash) VALUES ('cy', 'cy@x', 'h')`,
    );
    w.close();
    const changed = await runWks(['db', 'copy', '--to', d.url, '--no-backup', '--resume'], {
      env: { DATABASE_PATH: file },
      cwd: dir,
    });
    expect(changed.code).toBe(3);
    expect(changed.stdout).toMatch(/differences between SQLite and PostgreSQL/);
    expect(changed.stdout).toMatch(/users\s+3\s+2/);
    expect(changed.stderr).toMatch(/Error: verification failed: 1 table\(s\) differ/);
  });
});
