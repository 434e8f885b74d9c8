/**
 * Runbook scenario (docs/backup-and-recovery.md, "Emergency restore"): the
 * disk holding the database is lost; the backups are on another volume. The
 * runbook's commands in order: the hints lead to the restore (never to
 * `migrate up`, which would create an empty database), and an unmounted
 * backup volume is named as such (exit 5), not reported as "no backups".
 */
import { describe, it, expect, beforeAll } from 'vitest';
import { rmSync, existsSync, statSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { runWks } from '../helpers/cli.js';
import { tmpDir } from '../helpers/tmp.js';

let root: string;
let env: Record<string, string>;
let backupId: string;

beforeAll(async () => {
  root = tmpDir('e2e-lostdisk');
  env = {
    DATABASE_PATH: path.join(root, 'data', 'workstation.db'),
    BACKUP_STORAGE_PATH: path.join(root, 'backupvol', 'backups'),
  };
  expect((await runWks(['migrate', 'up', '--no-backup'], { env })).code).toBe(0);
  const db = new Database(env.DATABASE_PATH!);
  const ins = db.prepare('INSERT INTO users (username, email, password_hash) VALUES (?, ?, ?)');
  for (let i = 0; i < 40; i++) ins.run(`u${i}`, `u${i}@x`, 'h');
  db.close();
  const b = await runWks(['backup', 'create', '--json'], { env });
  expect(b.code, b.stderr).toBe(0);
  backupId = b.json().backup.id;
  // the disk is lost: the database and its directory are gone
  rmSync(path.join(root, 'data'), { recursive: true, force: true });
});

describe('a lost disk: the hints lead to the restore', () => {
  it('with the backup volume not mounted, list and restore say the directory is missing (exit 5)', async () => {
    const unmounted = { ...env, BACKUP_STORAGE_PATH: path.join(root, 'not-mounted', 'backups') };
    for (const args of [
      ['backup', 'list'],
      ['backup', 'restore', '--latest', '--yes'],
    ]) {
      const r = await runWks(args, { env: unmounted });
      expect(r.code, args.join(' ')).toBe(5);
      expect(r.stderr).toMatch(/^Error: the backup directory .*not-mounted\/backups does not exist/m);
      expect(r.stderr).toMatch(/^Try: check BACKUP_STORAGE_PATH/m);
    }
  });

  it('wks health: critical, and the first hint is the restore, not migrate up', async () => {
    const r = await runWks(['health', '--json'], { env });
    expect(r.code).toBe(2);
    const db = r.json().checks.find((c: { name: string }) => c.name === 'database');
    expect(db.status).toBe('critical');
    expect(db.hint).toMatch(/^restore it from the newest backup \(.+\): `wks backup restore --latest`/);
    expect(db.hint).toContain(backupId);
    const human = await runWks(['health'], { env });
    expect(human.stdout + human.stderr).toContain('wks backup restore --latest');
    expect(existsSync(env.DATABASE_PATH!)).toBe(false); // health never creates the database
  });

  it('list, verify --latest --deep, restore --latest --yes, then health is ok', async () => {
    const l = await runWks(['backup', 'list'], { env });
    expect(l.code, l.stderr).toBe(0);
    expect(l.stdout).toContain(backupId);
    const v = await runWks(['backup', 'verify', '--latest', '--deep'], { env });
    expect(v.code, v.stderr).toBe(0);
    const r = await runWks(['backup', 'restore', '--latest', '--yes', '--json'], { env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.json()).toMatchObject({ backup_id: backupId, other_source: false, safety_backup_id: null });
    expect(statSync(env.DATABASE_PATH!).mode & 0o777).toBe(0o600); // restored into an empty path: 0600
    const h = await runWks(['health', '--check', 'database,backups', '--json'], { env });
    expect(h.code, h.stdout).toBe(0);
  });
});
