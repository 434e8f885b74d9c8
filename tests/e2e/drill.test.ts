/**
 * `wks backup drill` as a user runs it, on SQLite and on PostgreSQL: a
 * passing drill (exit 0), a drill against a 1 ms RTO target (exit 3,
 * rto_missed) and a drill of a corrupted backup (exit 3, failed). Each is
 * recorded in the catalog (`<id>.drill.json`) and in backup_drills, the
 * scratch target (temporary directory / scratch database) is gone
 * afterwards, and `wks health --check drills` reports the last outcome.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { runWks } from '../helpers/cli.js';
import { eventually, startServe } from '../helpers/serve.js';
import { createTestDatabase, TEST_PG_URL, type TestDatabase } from '../helpers/services.js';
import { tmpDir } from '../helpers/tmp.js';
import { startS3, s3Env, listKeys, getObject, putObject } from '../helpers/s3.js';

interface Setup {
  env: Record<string, string>;
  dir: string;
  backups: string;
  scratchRoot: string;
  /** backup_drills rows, oldest first. */
  rows(): Promise<Array<{ backup_id: string; outcome: string; rto_target_ms: number; failed_check: string | null }>>;
  /** Databases wks created as scratch targets that still exist. */
  scratchDatabases(): Promise<string[]>;
}

/** Every file (not directory) under `dir`: the private scratch area may stay, its content may not. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => !e.isDirectory())
    .map((e) => path.join(e.parentPath, e.name));
}

function flipByte(file: string): void {
  const buf = readFileSync(file);
  const at = Math.floor(buf.length / 2);
  buf[at] = buf[at]! ^ 0xff;
  writeFileSync(file, buf);
}

async function drillScenario(s: Setup): Promise<void> {
  const { env, dir, backups } = s;
  expect((await runWks(['migrate', 'up', '--no-backup'], { env, cwd: dir })).code).toBe(0);
  const created = await runWks(['backup', 'create', '--json'], { env, cwd: dir });
  expect(created.code, created.stderr).toBe(0);
  const id: string = created.json().backup.id;
  expect(id).toMatch(/^\d{8}T\d{6}Z-[0-9a-f]{4}$/);

  // 1. Passing drill.
  const ok = await runWks(['backup', 'drill', '--json'], { env, cwd: dir });
  expect(ok.code, ok.stderr).toBe(0);
  const rec = ok.json();
  expect(rec).toMatchObject({ id, outcome: 'passed', ok: true, rto_target_ms: 900_000, scratch_removed: true });
  expect(Object.keys(rec.phases_ms)).toEqual(['fetch', 'decode', 'load', 'check']);
  expect(rec.duration_ms).toBe(rec.phases_ms.fetch + rec.phases_ms.decode + rec.phases_ms.load + rec.phases_ms.check);
  expect(rec.checks.map((c: any) => c.name)).toEqual([
    'manifest',
    'checksum',
    'decode',
    'integrity',
    'row_counts',
    'schema_version',
  ]);
  expect(rec.checks.every((c: any) => c.ok)).toBe(true);
  const sidecar = JSON.parse(readFileSync(path.join(backups, `${id}.drill.json`), 'utf8'));
  expect(sidecar).toMatchObject({ id, outcome: 'passed' });
  expect(filesUnder(s.scratchRoot)).toEqual([]);
  expect(await s.scratchDatabases()).toEqual([]);
  let health = await runWks(['health', '--check', 'drills', '--json'], { env, cwd: dir });
  expect(health.code, health.stdout).toBe(0);
  expect(health.json().checks[0].detail).toMatch(/^last restore drill passed/);

  // 2. The same backup against a 1 ms RTO target: the checks pass, the RTO is missed, exit 3.
  const slow = await runWks(['backup', 'drill', id.slice(0, 12), '--rto-target', '1ms', '--json'], { env, cwd: dir });
  expect(slow.code, slow.stderr).toBe(3);
  const slowDoc = slow.json();
  expect(slowDoc.error.message).toMatch(/over the RTO target of 1ms/);
  expect(slow.stderr).not.toMatch(/\n\s+at /);
  expect(JSON.parse(readFileSync(path.join(backups, `${id}.drill.json`), 'utf8'))).toMatchObject({
    outcome: 'rto_missed',
    ok: false,
    rto_target_ms: 1,
  });
  expect(filesUnder(s.scratchRoot)).toEqual([]);
  expect(await s.scratchDatabases()).toEqual([]);
  health = await runWks(['health', '--check', 'drills', '--json'], { env, cwd: dir });
  expect(health.code).toBe(1);
  expect(health.json().checks[0].detail).toMatch(/over the RTO target/);

  // 3. A corrupted backup: exit 3, failed at the checksum, recorded, scratch gone.
  const manifest = JSON.parse(readFileSync(path.join(backups, `${id}.json`), 'utf8'));
  flipByte(path.join(backups, manifest.file));
  const bad = await runWks(['backup', 'drill', '--latest'], { env, cwd: dir });
  expect(bad.code, bad.stderr).toBe(3);
  const errLines = bad.stderr.split('\n').filter((l) => l.startsWith('Error:'));
  expect(errLines).toHaveLength(1);
  expect(errLines[0]).toMatch(/restore drill of .* failed: checksum/);
  expect(JSON.parse(readFileSync(path.join(backups, `${id}.drill.json`), 'utf8'))).toMatchObject({
    outcome: 'failed',
    failed: 'checksum',
  });
  expect(filesUnder(s.scratchRoot)).toEqual([]);
  expect(await s.scratchDatabases()).toEqual([]);
  health = await runWks(['health', '--check', 'drills', '--json'], { env, cwd: dir });
  expect(health.code).toBe(2);
  expect(health.json().checks[0]).toMatchObject({ status: 'critical' });

  // The database keeps the history of all three.
  const rows = await s.rows();
  expect(rows.map((r) => [r.backup_id, r.outcome])).toEqual([
    [id, 'passed'],
    [id, 'rto_missed'],
    [id, 'failed'],
  ]);
  expect(rows.map((r) => Number(r.rto_target_ms))).toEqual([900_000, 1, 900_000]);
  expect(rows[2]!.failed_check).toBe('checksum');

  // Metrics: one scrape shows the drill gauges.
  const m = await runWks(['metrics'], { env, cwd: dir });
  expect(m.stdout).toMatch(/^wks_backup_drill_rto_target_seconds 900$/m);
  expect(m.stdout).toMatch(/^wks_backup_drill_last_failed 1$/m);
}

function setupDir(tag: string): { dir: string; backups: string; scratchRoot: string } {
  const dir = tmpDir(tag);
  const scratchRoot = path.join(dir, 'tmp');
  mkdirSync(scratchRoot);
  return { dir, backups: path.join(dir, 'backups'), scratchRoot };
}

describe('wks backup drill (SQLite)', () => {
  it('passes, misses a 1 ms RTO, fails on a corrupted backup; recorded; scratch file gone', async () => {
    const { dir, backups, scratchRoot } = setupDir('wks-drill-sqlite');
    const dbPath = path.join(dir, 'w.db');
    const env = { DATABASE_PATH: dbPath, BACKUP_STORAGE_PATH: backups, TMPDIR: scratchRoot };
    await drillScenario({
      env,
      dir,
      backups,
      scratchRoot,
      rows: async () => {
        const db = new Database(dbPath, { readonly: true });
        try {
          return db.prepare('SELECT * FROM backup_drills ORDER BY id').all() as any;
        } finally {
          db.close();
        }
      },
      scratchDatabases: async () => [],
    });
  }, 120_000);
});

describe('wks backup drill (PostgreSQL)', () => {
  let pgdb: TestDatabase | null = null;
  beforeAll(async () => {
    pgdb = await createTestDatabase('drill_e2e');
  });
  afterAll(async () => {
    await pgdb?.drop();
  });
  const q = async (database: string, sql: string): Promise<any[]> => {
    const u = new URL(TEST_PG_URL);
    u.pathname = `/${database}`;
    const c = new pg.Client({ connectionString: u.toString() });
    await c.connect();
    try {
      return (await c.query(sql)).rows;
    } finally {
      await c.end();
    }
  };

  it('passes, misses a 1 ms RTO, fails on a corrupted backup; recorded; scratch database dropped', async (ctx) => {
    if (!pgdb) return ctx.skip();
    const { dir, backups, scratchRoot } = setupDir('wks-drill-pg');
    const env = { ...pgdb.env, BACKUP_STORAGE_PATH: backups, TMPDIR: scratchRoot };
    await drillScenario({
      env,
      dir,
      backups,
      scratchRoot,
      rows: () => q(pgdb!.name, 'SELECT * FROM backup_drills ORDER BY id'),
      scratchDatabases: async () =>
        (
          await q(
            'postgres',
            `SELECT datname FROM pg_database WHERE datname LIKE '${pgdb!.name}%' AND datname <> '${pgdb!.name}'`,
          )
        ).map((r) => r.datname),
    });
  }, 180_000);
});

describe('wks serve runs the drill job', () => {
  /** The value of a sample in the exposition, or null. */
  const sample = (text: string, re: RegExp): number | null => {
    const m = text.match(re);
    return m ? Number(m[1]) : null;
  };

  it('on its schedule: recorded, counted, and the drill gauges set; a missed RTO is a failed run', async () => {
    const { dir, backups, scratchRoot } = setupDir('wks-drill-serve');
    const dbPath = path.join(dir, 'w.db');
    const cfg = path.join(dir, 'phase4-config.yml');
    writeFileSync(
      cfg,
      'phase4:\n  version: "4.0.0"\n  serve:\n    jobs:\n      drill:\n        schedule: "*/2 * * * * *"\n',
    );
    const env = {
      DATABASE_PATH: dbPath,
      BACKUP_STORAGE_PATH: backups,
      TMPDIR: scratchRoot,
      METRICS_SCRAPE_CACHE_MS: '0',
      WKS_CONFIG: cfg,
    };
    expect((await runWks(['migrate', 'up', '--no-backup'], { env, cwd: dir })).code).toBe(0);
    expect((await runWks(['backup', 'create'], { env, cwd: dir })).code).toBe(0);
    const metrics = async (url: string): Promise<string> => (await fetch(`${url}/metrics`)).text();

    const s = await startServe([], env, dir);
    try {
      const text = await eventually(
        () => metrics(s.url),
        (t) => (sample(t, /^wks_job_runs_total\{job_name="drill",result="success"\} (\S+)$/m) ?? 0) >= 1,
        30_000,
      );
      expect(sample(text, /^wks_backup_drill_last_success_timestamp_seconds (\S+)$/m)).toBeGreaterThan(
        Date.now() / 1000 - 60,
      );
      expect(sample(text, /^wks_backup_drill_rto_target_seconds (\S+)$/m)).toBe(900);
      expect(sample(text, /^wks_backup_drill_last_failed (\S+)$/m)).toBe(0);
    } finally {
      await s.stop();
    }
    const db = new Database(dbPath, { readonly: true });
    const rows = db.prepare('SELECT outcome FROM backup_drills').all() as Array<{ outcome: string }>;
    db.close();
    expect(rows.length).toBeGreaterThanOrEqual(1);
    expect(rows.every((r) => r.outcome === 'passed')).toBe(true);

    // The same daemon with a 1 ms RTO target: the drill job fails (counted and logged), the drill is recorded.
    const slow = await startServe([], { ...env, BACKUP_DRILL_RTO_TARGET: '1ms' }, dir);
    try {
      const text = await eventually(
        () => metrics(slow.url),
        (t) => (sample(t, /^wks_job_runs_total\{job_name="drill",result="failure"\} (\S+)$/m) ?? 0) >= 1,
        30_000,
      );
      expect(sample(text, /^wks_backup_drill_rto_target_seconds (\S+)$/m)).toBe(0.001);
      await slow.waitFor(/over the RTO target of 1ms/);
    } finally {
      await slow.stop();
    }
    expect(filesUnder(scratchRoot)).toEqual([]);
  }, 120_000);
});

describe('wks backup drill (S3 repository)', () => {
  it('fetches from the bucket: passes, records the drill beside the manifest in the bucket, fails on a flipped byte', async (ctx) => {
    const s3 = await startS3('drill');
    if (!s3) return ctx.skip();
    try {
      const { dir, scratchRoot } = setupDir('wks-drill-s3');
      const env = {
        DATABASE_PATH: path.join(dir, 'w.db'),
        BACKUP_STORAGE_PATH: path.join(dir, 'staging'),
        TMPDIR: scratchRoot,
        ...s3Env(s3, s3.endpoint, 'drill'),
      };
      expect((await runWks(['migrate', 'up', '--no-backup'], { env, cwd: dir })).code).toBe(0);
      const created = await runWks(['backup', 'create', '--json'], { env, cwd: dir });
      expect(created.code, created.stderr).toBe(0);
      const m = created.json().backup;

      const ok = await runWks(['backup', 'drill', '--json'], { env, cwd: dir });
      expect(ok.code, ok.stderr).toBe(0);
      expect(ok.json()).toMatchObject({ id: m.id, outcome: 'passed', scratch_removed: true });
      expect(await listKeys(s3, 'drill/')).toContain(`drill/${m.id}.drill.json`);
      expect(JSON.parse((await getObject(s3, `drill/${m.id}.drill.json`)).toString())).toMatchObject({
        outcome: 'passed',
      });
      expect(filesUnder(scratchRoot)).toEqual([]);
      const health = await runWks(['health', '--check', 'drills', '--json'], { env, cwd: dir });
      expect(health.json().checks[0].detail).toMatch(/^last restore drill passed/);

      const key = `drill/${m.file}`;
      const buf = await getObject(s3, key);
      buf[Math.floor(buf.length / 2)]! ^= 0x01;
      await putObject(s3, key, buf);
      const bad = await runWks(['backup', 'drill', m.id], { env, cwd: dir });
      expect(bad.code, bad.stderr).toBe(3);
      expect(bad.stderr).toMatch(/restore drill of .* failed: checksum/);
      expect(JSON.parse((await getObject(s3, `drill/${m.id}.drill.json`)).toString())).toMatchObject({
        outcome: 'failed',
      });
      expect(filesUnder(scratchRoot)).toEqual([]);
    } finally {
      await s3.stop();
    }
  }, 120_000);
});
