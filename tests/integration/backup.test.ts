/**
 * Backups against real SQLite files: the library functions end to end
 * (create / list / verify / restore / rotate), the backup_log mirror, a
 * concurrent writer during the backup, the in-use check and the lock.
 */
import { describe, it, expect, beforeAll } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync, readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { loadConfig, type Config } from '../../src/config/index.js';
import { migrateUp } from '../../src/migrate/index.js';
import { createBackup, listBackups, verifyBackup, restoreBackup, rotateBackups } from '../../src/backup/index.js';
import { acquireBackupMutex } from '../../src/backup/lock.js';
import { tmpDir } from '../helpers/tmp.js';

const KEY = 'an integration test passphrase';

function configFor(dir: string, env: Record<string, string> = {}): Config {
  return loadConfig({
    env: {
      DATABASE_PATH: path.join(dir, 'app.db'),
      BACKUP_STORAGE_PATH: path.join(dir, 'backups'),
      BACKUP_ENCRYPTION_KEY: KEY,
      ...env,
    },
    cwd: dir,
  }).config;
}

function seed(file: string, users = 2000): void {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  const u = db.prepare('INSERT INTO users (username, email, password_hash) VALUES (?, ?, ?)');
  const w = db.prepare("INSERT INTO workflows (name, description, user_id, status) VALUES (?, ?, ?, 'active')");
  db.transaction(() => {
    for (let i = 0; i < users; i++) {
      u.run(`user${i}`, `user${i}@example.com`, 'x'.repeat(60));
      w.run(`wf${i}`, 'd'.repeat(200), i + 1);
    }
  })();
  db.close();
}

async function freshDb(tag: string, env: Record<string, string> = {}) {
  const dir = tmpDir(tag);
  const config = configFor(dir, env);
  await migrateUp(config);
  seed(config.database.path);
  return { dir, config };
}

const count = (file: string, table: string): number => {
  const db = new Database(file, { readonly: true });
  try {
    return (db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
  } finally {
    db.close();
  }
};

describe('createBackup / listBackups / verifyBackup', () => {
  let env: Awaited<ReturnType<typeof freshDb>>;
  beforeAll(async () => {
    env = await freshDb('bk-int');
  });

  for (const [compression, encrypt] of [
    ['none', false],
    ['gzip', false],
    ['zstd', true],
    ['none', true],
  ] as const) {
    it(`creates a verified ${compression}${encrypt ? '+encrypted' : ''} backup with a complete manifest`, async () => {
      const { config } = env;
      const r = await createBackup(config, { compression, encrypt, label: 'it' });
      const m = r.manifest;
      expect(m.id).toMatch(/^\d{8}T\d{6}Z-[0-9a-f]{4}$/);
      expect(m.file).toBe(`${m.id}.db${{ none: '', gzip: '.gz', zstd: '.zst' }[compression]}${encrypt ? '.enc' : ''}`);
      expect(m.engine).toBe('sqlite');
      expect(m.source).toBe(config.database.path);
      expect(m.schema_version).toMatch(/^\d{4}/);
      expect(m.row_counts.users).toBe(2000);
      expect(m.row_counts.workflows).toBe(2000);
      expect(m.engine_details.journal_mode).toBe('wal');
      expect(m.compression).toBe(compression);
      expect(!!m.encryption).toBe(encrypt);
      expect(JSON.stringify(m)).not.toContain(KEY);
      expect(statSync(r.path).mode & 0o777).toBe(0o600);
      expect(statSync(path.join(config.database.backup.storage_path, `${m.id}.json`)).mode & 0o777).toBe(0o600);
      expect(statSync(config.database.backup.storage_path).mode & 0o777).toBe(0o700);
      expect(statSync(r.path).size).toBe(m.stored_size);
      const rec = await verifyBackup(config, m.id, { deep: true });
      expect(rec.ok).toBe(true);
      expect(rec.checks.map((c) => c.name)).toEqual([
        'manifest',
        'checksum',
        'decode',
        'integrity',
        'row_counts',
        'schema_version',
      ]);
      const listed = (await listBackups(config)).backups.find((b) => b.id === m.id)!;
      expect(listed.verification).toMatchObject({ ok: true, deep: true, failed: null });
      expect(listed.encrypted).toBe(encrypt);
      // backup_log mirror: completed with the checksum
      const db = new Database(config.database.path, { readonly: true });
      const row = db.prepare('SELECT * FROM backup_log WHERE file_path = ?').get(r.path) as Record<string, unknown>;
      db.close();
      expect(row).toMatchObject({
        backup_type: 'manual',
        status: 'completed',
        checksum: m.sha256,
        file_size_bytes: m.stored_size,
      });
    });
  }

  it('lists newest first and leaves no temporary files behind', async () => {
    const l = await listBackups(env.config);
    expect(l.backups.length).toBe(4);
    const times = l.backups.map((b) => b.created_at);
    expect([...times].sort().reverse()).toEqual(times);
    expect(readdirSync(env.config.database.backup.storage_path).filter((n) => n.startsWith('.wks-tmp-'))).toEqual([]);
  });

  it('a plain backup of a WAL database is one self-contained file: rollback-journal header, read without -wal/-shm, hashed as stored', async () => {
    const { config } = env;
    const r = await createBackup(config, { compression: 'none', encrypt: false });
    const bytes = readFileSync(r.path);
    // file format write/read versions: 2 is WAL, 1 the rollback journal
    expect([bytes[18], bytes[19]]).toEqual([1, 1]);
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(r.manifest.sha256);
    expect(r.manifest.raw_sha256).toBe(r.manifest.sha256);
    const db = new Database(r.path, { readonly: true, fileMustExist: true });
    try {
      expect(db.pragma('journal_mode', { simple: true })).toBe('delete');
      expect(db.pragma('quick_check', { simple: true })).toBe('ok');
      expect((db.prepare('SELECT count(*) AS n FROM users').get() as { n: number }).n).toBe(
        r.manifest.row_counts.users,
      );
    } finally {
      db.close();
    }
    expect(existsSync(`${r.path}-wal`)).toBe(false);
    expect(existsSync(`${r.path}-shm`)).toBe(false);
  });

  it('refuses to verify an encrypted backup without the key, and names a wrong key (exit 78)', async () => {
    const enc = (await listBackups(env.config)).backups.find((b) => b.encrypted)!;
    const noKey = configFor(env.dir, { BACKUP_ENCRYPTION_KEY: '' });
    await expect(verifyBackup(noKey, enc.id)).rejects.toMatchObject({
      exitCode: 78,
      message: expect.stringMatching(/no encryption key is configured/),
    });
    const wrong = configFor(env.dir, { BACKUP_ENCRYPTION_KEY: 'not the right passphrase' });
    await expect(verifyBackup(wrong, enc.id)).rejects.toMatchObject({
      exitCode: 78,
      message: expect.stringMatching(/not the one/),
    });
  });

  it('skips the backup_log mirror on an unmigrated database', async () => {
    const dir = tmpDir('bk-raw');
    const config = configFor(dir);
    const db = new Database(config.database.path);
    db.exec('CREATE TABLE t (x); INSERT INTO t VALUES (1), (2)');
    db.close();
    const notes: string[] = [];
    const r = await createBackup(config, { compression: 'gzip', log: (_l, t) => notes.push(t) });
    expect(r.manifest.schema_version).toBeNull();
    expect(r.manifest.row_counts).toEqual({ t: 2, wks_identity: 1 });
    expect(notes.join('\n')).toMatch(/backup_log table not found/);
  });

  it('fails with NotFoundError (5) when the database is missing, leaving nothing behind', async () => {
    const dir = tmpDir('bk-missing');
    const config = configFor(dir);
    await expect(createBackup(config)).rejects.toMatchObject({ exitCode: 5 });
    expect(existsSync(config.database.path)).toBe(false);
    expect((await listBackups(config)).backups).toEqual([]);
  });
});

describe('online backup with a concurrent writer', () => {
  it('copies one consistent snapshot while another process keeps inserting', async () => {
    const { config } = await freshDb('bk-conc', {});
    const writer = spawn(
      process.execPath,
      [
        '-e',
        `
      const D = require(${JSON.stringify(require.resolve('better-sqlite3'))});
      const db = new D(${JSON.stringify(config.database.path)}); db.pragma('busy_timeout = 5000');
      const ins = db.prepare("INSERT INTO metrics (metric_name, metric_value) VALUES ('w', ?)");
      let n = 0, errors = 0; const end = Date.now() + 2500;
      (function tick() { try { ins.run(n++); } catch (e) { errors++; } if (Date.now() < end) setTimeout(tick, 1); else { console.log(JSON.stringify({ n, errors })); db.close(); } })();
    `,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    writer.stdout!.on('data', (d) => (out += d));
    await new Promise((r) => setTimeout(r, 300));
    const backups = [];
    for (let i = 0; i < 3; i++) backups.push(await createBackup(config, { compression: 'none' }));
    await new Promise((r) => writer.on('close', r));
    const w = JSON.parse(out) as { n: number; errors: number };
    expect(w.errors).toBe(0);
    for (const b of backups) {
      // the image holds exactly the rows the manifest counted (same snapshot), and is intact
      expect(count(b.path, 'metrics')).toBe(b.manifest.row_counts.metrics);
      expect((await verifyBackup(config, b.manifest.id)).ok).toBe(true);
    }
    expect(backups[2]!.manifest.row_counts.metrics).toBeGreaterThan(backups[0]!.manifest.row_counts.metrics!);
    expect(count(config.database.path, 'metrics')).toBe(w.n);
  });
});

describe('restoreBackup', () => {
  it('restores the live database after a safety backup, removing stale -wal/-shm', async () => {
    const { config } = await freshDb('bk-restore');
    const b = await createBackup(config, { compression: 'zstd', encrypt: true });
    const db = new Database(config.database.path);
    db.exec("DELETE FROM workflows; INSERT INTO users (username, email, password_hash) VALUES ('late', 'late@x', 'h')");
    db.close();
    const plans: unknown[] = [];
    const r = await restoreBackup(config, {
      select: { id: b.manifest.id.slice(0, 19) },
      confirm: async (p) => (plans.push(p), true),
    });
    expect(plans).toHaveLength(1);
    expect(r).toMatchObject({
      cancelled: false,
      live: true,
      integrity: expect.stringMatching(/^ok/),
      backup_id: b.manifest.id,
    });
    // checked before anything reads it (a read-only reader of a WAL database creates -wal/-shm)
    expect(existsSync(`${config.database.path}-wal`)).toBe(false);
    expect(existsSync(`${config.database.path}-shm`)).toBe(false);
    expect(count(config.database.path, 'workflows')).toBe(2000);
    expect(count(config.database.path, 'users')).toBe(2000);
    // the database is back in WAL mode, as it was when backed up
    const check = new Database(config.database.path, { readonly: true });
    expect(check.pragma('journal_mode', { simple: true })).toBe('wal');
    check.close();
    // the safety backup holds the replaced state, and is recorded as manual / pre-restore
    const safety = (await listBackups(config)).backups.find((x) => x.id === r.safety_backup_id)!;
    expect(safety).toMatchObject({ type: 'manual', label: 'pre-restore' });
    const m = JSON.parse(readFileSync(path.join(config.database.backup.storage_path, `${safety.id}.json`), 'utf8'));
    expect(m.row_counts.workflows).toBe(0);
    expect(m.row_counts.users).toBe(2001);
    expect(r.next_steps.join('\n')).toMatch(/wks migrate status/);
    expect(r.next_steps.join('\n')).toContain(`wks backup restore ${safety.id}`);
  });

  it('--to writes a separate file, --at picks the newest backup at or before a time, and a declined confirm changes nothing', async () => {
    const { config, dir } = await freshDb('bk-to');
    const early = await createBackup(config, { compression: 'gzip', now: new Date('2026-11-01T00:00:00Z') });
    await createBackup(config, { compression: 'gzip', now: new Date('2026-11-20T00:00:00Z') });
    const to = path.join(dir, 'inspect.db');
    const r = await restoreBackup(config, { select: { at: new Date('2026-11-10T00:00:00Z') }, to });
    expect(r).toMatchObject({ backup_id: early.manifest.id, live: false, safety_backup_id: null });
    expect(count(to, 'users')).toBe(2000);
    await expect(restoreBackup(config, { select: { latest: true }, to })).rejects.toMatchObject({ exitCode: 4 });
    await expect(restoreBackup(config, { select: { at: new Date('2026-10-01T00:00:00Z') }, to })).rejects.toMatchObject(
      { exitCode: 5 },
    );
    const before = statSync(config.database.path).mtimeMs;
    const c = await restoreBackup(config, { select: { latest: true }, confirm: async () => false });
    expect(c.cancelled).toBe(true);
    // Asked before the image is written or verified: nothing was read.
    expect(c.verification).toBeNull();
    expect(statSync(config.database.path).mtimeMs).toBe(before);
    expect((await listBackups(config)).backups).toHaveLength(2);
  });

  it('refuses while another process has the database open (exit 4), unless force', async () => {
    const { config } = await freshDb('bk-inuse');
    const b = await createBackup(config, { compression: 'none' });
    const holder: ChildProcess = spawn(
      process.execPath,
      [
        '-e',
        `
      const D = require(${JSON.stringify(require.resolve('better-sqlite3'))});
      const db = new D(${JSON.stringify(config.database.path)}); db.prepare('SELECT 1').get();
      console.log('ready'); setInterval(() => {}, 1000);
    `,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      await new Promise<void>((r) => holder.stdout!.once('data', () => r()));
      await expect(restoreBackup(config, { select: { id: b.manifest.id } })).rejects.toMatchObject({
        exitCode: 4,
        message: expect.stringMatching(/in use by pid/),
      });
      const r = await restoreBackup(config, { select: { id: b.manifest.id }, force: true });
      expect(r.integrity).toMatch(/^ok/);
    } finally {
      holder.kill('SIGKILL');
    }
    await new Promise((r) => holder.on('close', r));
    // a live `wks serve` lease beside the database also blocks it; an expired one does not
    const lease = `${config.database.path}.serve.lock`;
    writeFileSync(
      lease,
      JSON.stringify({ instance: 't', pid: process.pid, host: hostname(), expiresAt: Date.now() + 60_000 }),
    );
    await expect(restoreBackup(config, { select: { id: b.manifest.id } })).rejects.toMatchObject({
      exitCode: 4,
      message: expect.stringMatching(/wks serve. is running/),
    });
    writeFileSync(
      lease,
      JSON.stringify({ instance: 't', pid: process.pid, host: hostname(), expiresAt: Date.now() - 1 }),
    );
    expect((await restoreBackup(config, { select: { id: b.manifest.id }, deep: true })).integrity).toBe(
      'ok (sha256 matches the verified image; integrity_check ok)',
    );
  });
});

describe('emergency restore and stale locks', () => {
  it('restores onto a host where the database (and its directory) is gone, from the catalog alone', async () => {
    const { config, dir } = await freshDb('bk-emerg');
    const notes: string[] = [];
    const b = await createBackup(config, { compression: 'zstd', encrypt: true, log: (_l, t) => notes.push(t) });
    expect(b.manifest.source_identity?.key, notes.join('\n')).toMatch(/^sqlite:/);
    const gone = configFor(dir, { DATABASE_PATH: path.join(dir, 'newhost', 'data', 'app.db') });
    // A new host (no database, no identity) with one source in the repository: --latest adopts it (source rule 4).
    const r = await restoreBackup(gone, { select: { latest: true } });
    expect(r.other_source).toBe(false);
    expect(r).toMatchObject({
      backup_id: b.manifest.id,
      live: true,
      safety_backup_id: null,
      integrity: 'ok (sha256 matches the verified image)',
    });
    expect(count(gone.database.path, 'users')).toBe(2000);
  });

  it("takes over a lock whose owner died, and the next create sweeps that owner's temp files", async () => {
    const { config } = await freshDb('bk-stale');
    const dead = spawn(process.execPath, ['-e', '0']);
    await new Promise((r) => dead.on('close', r));
    const dir = config.database.backup.storage_path;
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileSync(
      path.join(dir, '.wks-backup.lock'),
      JSON.stringify({
        pid: dead.pid,
        host: hostname(),
        started_at: new Date().toISOString(),
        token: 'x',
        command: 'backup create',
      }),
    );
    writeFileSync(path.join(dir, `.wks-tmp-${dead.pid}-0123abcd-20261129T000000Z-dead.db`), 'partial');
    writeFileSync(path.join(dir, '20261129T000000Z-dead.db.gz'), 'orphan data without a manifest');
    const short = {
      ...config,
      database: { ...config.database, backup: { ...config.database.backup, lock_timeout_ms: 2000 } },
    };
    const r = await createBackup(short, { compression: 'gzip' });
    expect(r.cleaned.sort()).toEqual(
      [`.wks-tmp-${dead.pid}-0123abcd-20261129T000000Z-dead.db`, '20261129T000000Z-dead.db.gz'].sort(),
    );
    expect(readdirSync(dir).sort()).toEqual([`${r.manifest.id}.json`, r.manifest.file].sort());
  });
});

describe('rotateBackups', () => {
  it('applies the policy with a fixed now: dry run lists, real run deletes manifest, data and sidecar', async () => {
    const { config } = await freshDb('bk-rot', { BACKUP_RETENTION_DAYS: '10' });
    const now = new Date('2026-11-29T03:00:00Z');
    const ids: string[] = [];
    for (const daysAgo of [0, 2, 5, 12, 20, 40]) {
      const r = await createBackup(config, {
        compression: 'gzip',
        now: new Date(now.getTime() - daysAgo * 86_400_000),
        type: daysAgo === 12 ? 'pre-migration' : 'scheduled',
      });
      ids.push(r.manifest.id);
    }
    // the 40-day-old one is verified: as the newest verified backup it must survive
    await verifyBackup(config, ids[5]!);
    const policy = {
      retentionDays: 10,
      keepLast: 2,
      keepHourly: 0,
      keepDaily: 0,
      keepWeekly: 0,
      keepMonthly: 0,
      preMigrationMinAgeMs: 14 * 86_400_000,
    };
    const dry = await rotateBackups(config, { dryRun: true, now, policy });
    expect(dry.deleted.map((d) => d.id)).toEqual([ids[4]]);
    expect(dry.deleted[0]!.reasons[0]).toMatch(/older than retention_days 10/);
    expect((await listBackups(config)).backups).toHaveLength(6);
    const real = await rotateBackups(config, { now, policy });
    expect(real.deleted.map((d) => d.id)).toEqual([ids[4]]);
    const left = (await listBackups(config)).backups.map((b) => b.id);
    expect(left).toEqual([ids[0], ids[1], ids[2], ids[3], ids[5]]);
    const files = readdirSync(config.database.backup.storage_path);
    expect(files.filter((f) => f.startsWith(ids[4]!))).toEqual([]);
    expect(files.some((f) => f === `${ids[5]}.verify.json`)).toBe(true);
  });

  it('never deletes while another wks holds the backup mutex (waits, then exit 4)', async () => {
    const { config } = await freshDb('bk-rotlock', { BACKUP_RETENTION_DAYS: '1' });
    await createBackup(config, { compression: 'gzip', now: new Date('2026-01-01T00:00:00Z') });
    await createBackup(config, { compression: 'gzip', now: new Date('2026-01-02T00:00:00Z') });
    const release = await acquireBackupMutex(config.database.backup.storage_path, { timeoutMs: 1000, command: 'test' });
    const short = {
      ...config,
      database: { ...config.database, backup: { ...config.database.backup, lock_timeout_ms: 300, keep_last: 0 } },
    };
    try {
      await expect(rotateBackups(short)).rejects.toMatchObject({
        exitCode: 4,
        message: expect.stringMatching(/holds the backup mutex: pid \d+/),
      });
      expect((await listBackups(config)).backups).toHaveLength(2);
    } finally {
      release();
    }
    const r = await rotateBackups(short, { now: new Date('2026-02-01T00:00:00Z') });
    expect(r.deleted).toHaveLength(1); // the newest is always kept
  });
});
