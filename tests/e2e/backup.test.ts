/**
 * `wks backup ...` as a user runs it: exit codes, one-line errors, --json
 * shapes, files on disk, ten concurrent creates, and the pre-migration
 * backup taken by `wks migrate up`.
 */
import { describe, it, expect, beforeAll } from 'vitest';
import { writeFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { expectOneLineError, runWks } from '../helpers/cli.js';
import { tmpDir } from '../helpers/tmp.js';

const KEY = '0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0';

function envFor(dir: string, extra: Record<string, string> = {}): Record<string, string> {
  return { DATABASE_PATH: path.join(dir, 'app.db'), BACKUP_STORAGE_PATH: path.join(dir, 'backups'), ...extra };
}

function seedUsers(file: string, n: number): void {
  const db = new Database(file);
  const ins = db.prepare('INSERT INTO users (username, email, password_hash) VALUES (?, ?, ?)');
  db.transaction(() => {
    for (let i = 0; i < n; i++) ins.run(`u${i}`, `u${i}@example.com`, 'h');
  })();
  db.close();
}

describe('wks backup (e2e)', () => {
  let dir: string;
  let env: Record<string, string>;
  beforeAll(async () => {
    dir = tmpDir('e2e-bk');
    env = envFor(dir, { BACKUP_ENCRYPTION_KEY: KEY });
    const m = await runWks(['migrate', 'up', '--no-backup'], { env });
    expect(m.code, m.stderr).toBe(0);
    seedUsers(env.DATABASE_PATH!, 500);
  });

  it('create --json prints the manifest; files are 0600 in a 0700 directory; the key never appears', async () => {
    const r = await runWks(['backup', 'create', '--compress', 'zstd', '--encrypt', '--label', 'e2e', '--json'], {
      env,
    });
    expect(r.code, r.stderr).toBe(0);
    const doc = r.json();
    expect(doc.ok).toBe(true);
    expect(doc.backup).toMatchObject({
      type: 'manual',
      label: 'e2e',
      compression: 'zstd',
      engine: 'sqlite',
      row_counts: { users: 500 },
    });
    expect(doc.backup.encryption).toMatchObject({ algorithm: 'aes-256-gcm', kdf: 'none' });
    expect(r.stdout + r.stderr).not.toContain(KEY);
    expect(statSync(env.BACKUP_STORAGE_PATH!).mode & 0o777).toBe(0o700);
    for (const f of readdirSync(env.BACKUP_STORAGE_PATH!))
      expect(statSync(path.join(env.BACKUP_STORAGE_PATH!, f)).mode & 0o777).toBe(0o600);
  });

  it('list works without the database, and shows verification results', async () => {
    const c = await runWks(['backup', 'create', '--compress', 'gzip', '--json'], { env });
    const id = c.json().backup.id as string;
    const v = await runWks(['backup', 'verify', id, '--json'], { env });
    expect(v.code, v.stderr).toBe(0);
    expect(v.json().verified[0]).toMatchObject({ id, ok: true });
    const l = await runWks(['backup', 'list', '--json'], { env: { ...env, DATABASE_PATH: path.join(dir, 'gone.db') } });
    expect(l.code, l.stderr).toBe(0);
    const list = l.json();
    expect(list.backups.length).toBeGreaterThanOrEqual(2);
    expect(list.backups[0]).toMatchObject({ id, compression: 'gzip', encrypted: false, verification: { ok: true } });
    const human = await runWks(['backup', 'list'], { env });
    expect(human.stdout).toMatch(/^ID\s+SOURCE\s+TYPE\s+AGE\s+SIZE\s+CODEC\s+SCHEMA\s+VERIFIED/m);
    expect(human.stdout).toContain('zstd+aes-256-gcm');
  });

  it('verify --all --deep passes; an unknown id is exit 5 and an ambiguous prefix exit 2, each one line', async () => {
    const all = await runWks(['backup', 'verify', '--all', '--deep'], { env });
    expect(all.code, all.stderr).toBe(0);
    expectOneLineError(await runWks(['backup', 'verify', '19990101'], { env }), 5, /no backup matches "19990101"/);
    expectOneLineError(await runWks(['backup', 'verify', '2'], { env }), 2, /ambiguous: it matches \d+ backups/);
    expectOneLineError(await runWks(['backup', 'restore', '19990101', '--yes'], { env }), 5, /no backup matches/);
  });

  it('restore refuses without --yes off a TTY (exit 2), then restores with --yes and prints next steps', async () => {
    const l = (await runWks(['backup', 'list', '--json'], { env })).json();
    const id = l.backups[0].id as string;
    // (plus the note that the backup verified ok, which is what the question would be about)
    expectOneLineError(
      await runWks(['backup', 'restore', id], { env }),
      2,
      /refusing to replace .* without confirmation/,
      { maxLines: 3 },
    );
    const dry = await runWks(['backup', 'restore', id, '--dry-run', '--json'], { env });
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.json()).toMatchObject({ dry_run: true, cancelled: true, backup_id: id });
    const r = await runWks(['backup', 'restore', id, '--yes'], { env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/safety backup\s+\d{8}T\d{6}Z-[0-9a-f]{4}/);
    expect(r.stdout).toMatch(/Next:[\s\S]*wks migrate status/);
  });

  it('rotate --dry-run --json explains each decision and deletes nothing', async () => {
    const before = readdirSync(env.BACKUP_STORAGE_PATH!).length;
    const r = await runWks(['backup', 'rotate', '--dry-run', '--json'], {
      env: { ...env, BACKUP_RETENTION_DAYS: '30' },
    });
    expect(r.code, r.stderr).toBe(0);
    const doc = r.json();
    expect(doc.dry_run).toBe(true);
    expect(doc.kept.every((k: { reasons: string[] }) => k.reasons.length > 0)).toBe(true);
    expect(readdirSync(env.BACKUP_STORAGE_PATH!).length).toBe(before);
  });

  it('rotate is destructive: without --yes off a TTY it refuses (exit 2) when something would go; with --yes it deletes', async () => {
    const d = tmpDir('e2e-bk-rot');
    const e = envFor(d, { BACKUP_RETENTION_DAYS: '30' });
    expect((await runWks(['migrate', 'up', '--no-backup'], { env: e })).code).toBe(0);
    for (let i = 0; i < 3; i++)
      expect((await runWks(['backup', 'create', '--compress', 'gzip'], { env: e })).code).toBe(0);
    const policy = { ...e, BACKUP_RETENTION_DAYS: '30' };
    // keep_last 1 and no GFS: two of the three would go
    writeFileSync(
      path.join(d, 'phase4-config.yml'),
      'phase4:\n  database:\n    backup:\n      keep_last: 1\n      keep_hourly: 0\n      keep_daily: 0\n      keep_weekly: 0\n      keep_monthly: 0\n      retention_days: 0\n',
    );
    const cfg = ['-c', path.join(d, 'phase4-config.yml')];
    // retention_days 0 keeps everything (no age limit, no GFS): nothing to delete, no question asked
    const idle = await runWks([...cfg, 'backup', 'rotate'], { env: { ...policy, BACKUP_RETENTION_DAYS: '0' } });
    expect(idle.code, idle.stderr).toBe(0);
    expect(idle.stdout).toMatch(/nothing to delete/);
    writeFileSync(
      path.join(d, 'phase4-config.yml'),
      'phase4:\n  database:\n    backup:\n      keep_last: 1\n      keep_hourly: 1\n      keep_daily: 0\n      keep_weekly: 0\n      keep_monthly: 0\n',
    );
    const refused = await runWks([...cfg, 'backup', 'rotate'], { env: policy });
    expectOneLineError(refused, 2, /refusing to delete 2 backup\(s\) without confirmation/);
    expect((await runWks(['backup', 'list', '--json'], { env: e })).json().backups).toHaveLength(3);
    const yes = await runWks([...cfg, '--yes', 'backup', 'rotate', '--json'], { env: policy });
    expect(yes.code, yes.stderr).toBe(0);
    expect(yes.json()).toMatchObject({ dry_run: false, cancelled: false });
    expect(yes.json().deleted).toHaveLength(2);
    expect((await runWks(['backup', 'list', '--json'], { env: e })).json().backups).toHaveLength(1);
  });

  it('errors: missing database (5), unwritable backup directory (1), encryption without a key (78), unknown codec (2)', async () => {
    const d = tmpDir('e2e-bk-err');
    expectOneLineError(await runWks(['backup', 'create'], { env: envFor(d) }), 5, /database .*app\.db does not exist/);
    const file = path.join(d, 'a-file');
    writeFileSync(file, 'x');
    expectOneLineError(
      await runWks(['backup', 'create'], { env: { ...env, BACKUP_STORAGE_PATH: path.join(file, 'backups') } }),
      1,
      /cannot use backup directory .*: not a directory/,
    );
    expectOneLineError(
      await runWks(['backup', 'create', '--encrypt'], { env: { ...env, BACKUP_ENCRYPTION_KEY: '' } }),
      78,
      /needs an encryption key/,
    );
    // Node >= 22.15 has zstd built in: no program needed.
    const [major, minor] = process.versions.node.split('.').map(Number) as [number, number];
    if (major > 22 || (major === 22 && minor >= 15)) {
      const z = await runWks(['backup', 'create', '--compress', 'zstd', '--json'], {
        env: { ...env, PATH: '/nonexistent' },
      });
      expect(z.code, z.stderr).toBe(0);
      expect(
        (await runWks(['backup', 'verify', z.json().backup.id], { env: { ...env, PATH: '/nonexistent' } })).code,
      ).toBe(0);
    }
    // without the zstd program (and Node's own zstd declined by naming a program): one line naming the codecs
    // that are available; verify is not recorded as a failure
    const noZstd = { ...env, PATH: '/nonexistent', WKS_ZSTD_PATH: '/nonexistent/zstd' };
    expectOneLineError(
      await runWks(['backup', 'create', '--compress', 'zstd'], { env: noZstd }),
      1,
      /zstd compression needs the `zstd` program/,
    );
    expect((await runWks(['backup', 'create', '--compress', 'zstd'], { env: noZstd })).stderr).toMatch(
      /available codecs here: none, gzip/,
    );
    const zst = (await runWks(['backup', 'list', '--json'], { env }))
      .json()
      .backups.find((b: { compression: string }) => b.compression === 'zstd');
    expectOneLineError(await runWks(['backup', 'verify', zst.id], { env: noZstd }), 1, /zstd/);
    expect(
      (await runWks(['backup', 'list', '--json'], { env })).json().backups.find((b: { id: string }) => b.id === zst.id)
        .verification?.ok,
    ).not.toBe(false);
    const bad = await runWks(['backup', 'create', '--compress', 'lz4'], { env });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/none, gzip, zstd/);
  });
});

describe('concurrency and migrate integration (e2e)', () => {
  it('ten concurrent creates all succeed with unique ids', async () => {
    const dir = tmpDir('e2e-bk10');
    const env = envFor(dir);
    expect((await runWks(['migrate', 'up', '--no-backup'], { env })).code).toBe(0);
    seedUsers(env.DATABASE_PATH!, 2000);
    const runs = await Promise.all(
      Array.from({ length: 10 }, () =>
        runWks(['backup', 'create', '--compress', 'gzip', '--json'], { env, timeoutMs: 60_000 }),
      ),
    );
    for (const r of runs) expect(r.code, r.stderr).toBe(0);
    const ids = runs.map((r) => r.json().backup.id as string);
    expect(new Set(ids).size).toBe(10);
    const l = (await runWks(['backup', 'list', '--json'], { env })).json();
    expect(l.backups).toHaveLength(10);
    expect(readdirSync(env.BACKUP_STORAGE_PATH!).filter((n) => n.startsWith('.'))).toEqual([]);
    const db = new Database(env.DATABASE_PATH!, { readonly: true });
    const rows = db.prepare('SELECT status, count(*) AS n FROM backup_log GROUP BY status').all();
    db.close();
    expect(rows).toEqual([{ status: 'completed', n: 10 }]);
  });

  it('migrate up with pending migrations takes a pre-migration backup, unless --no-backup', async () => {
    const dir = tmpDir('e2e-bkmig');
    const env = envFor(dir);
    const first = await runWks(['migrate', 'up', '--to', '0001', '--no-backup'], { env });
    expect(first.code, first.stderr).toBe(0);
    seedUsers(env.DATABASE_PATH!, 10);
    const up = await runWks(['migrate', 'up', '--json'], { env });
    expect(up.code, up.stderr).toBe(0);
    const l = (await runWks(['backup', 'list', '--json'], { env })).json();
    expect(l.backups).toHaveLength(1);
    expect(l.backups[0]).toMatchObject({ type: 'pre-migration', schema_version: '0001' });
    expect(up.json().backup.id).toBe(l.backups[0].id);
    // nothing pending now: no new backup
    expect((await runWks(['migrate', 'up'], { env })).code).toBe(0);
    expect((await runWks(['backup', 'list', '--json'], { env })).json().backups).toHaveLength(1);
  });
});
