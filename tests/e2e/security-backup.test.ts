/**
 * Security: the backup repository is not trusted. With encryption enabled, a
 * planted unencrypted backup, a relabelled or re-dated old backup, a data file
 * moved under another manifest and a tampered encrypted header all fail
 * verification with exit 3, and the failure is recorded.
 */
import { describe, it, expect, beforeAll } from 'vitest';
import { copyFileSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import Database from 'better-sqlite3';
import { runWks } from '../helpers/cli.js';
import { tmpDir } from '../helpers/tmp.js';

let dir: string;
let backups: string;
let env: Record<string, string>;
let cfg: string[];
const KEY = randomBytes(32).toString('hex');

const manifestOf = (id: string) => JSON.parse(readFileSync(path.join(backups, `${id}.json`), 'utf8'));
const writeManifest = (m: { id: string }) => writeFileSync(path.join(backups, `${m.id}.json`), JSON.stringify(m));
const create = async (extra: string[] = [], e = env, config = cfg): Promise<string> => {
  const r = await runWks([...config, 'backup', 'create', '--json', ...extra], { env: e });
  expect(r.code, r.stderr).toBe(0);
  return r.json().backup.id;
};

beforeAll(async () => {
  dir = tmpDir('e2e-sec-backup');
  backups = path.join(dir, 'backups');
  env = { DATABASE_PATH: path.join(dir, 'w.db'), BACKUP_STORAGE_PATH: backups, BACKUP_ENCRYPTION_KEY: KEY };
  writeFileSync(
    path.join(dir, 'phase4-config.yml'),
    'phase4:\n  database:\n    backup:\n      encryption:\n        enabled: true\n',
  );
  cfg = ['-c', path.join(dir, 'phase4-config.yml')];
  const m = await runWks([...cfg, 'migrate', 'up', '--no-backup'], { env });
  expect(m.code, m.stderr).toBe(0);
});

describe('with encryption enabled, the repository is not trusted', () => {
  it('an authentic encrypted backup verifies, and says its manifest is authenticated', async () => {
    const id = await create();
    expect(manifestOf(id).manifest_mac).toMatch(/^[0-9a-f]{64}$/);
    expect(manifestOf(id).encryption).toMatchObject({ header: 2 });
    const v = await runWks([...cfg, 'backup', 'verify', id, '--json'], { env });
    expect(v.code, v.stderr).toBe(0);
    expect(v.json().verified[0].checks[0]).toMatchObject({ name: 'manifest', ok: true });
    expect(v.json().verified[0].checks[0].detail).toMatch(/authenticated/);
  });

  it('a planted unencrypted backup (of another database) fails verify and restore with exit 3', async () => {
    const other = tmpDir('e2e-sec-other');
    const otherDb = path.join(other, 'evil.db');
    const db = new Database(otherDb);
    db.exec("CREATE TABLE evil (x); INSERT INTO evil VALUES ('planted')");
    db.close();
    // The attacker writes into the repository with their own wks, configuration and no key.
    const planted = await create(['--label', 'planted'], { DATABASE_PATH: otherDb, BACKUP_STORAGE_PATH: backups }, []);
    const v = await runWks([...cfg, 'backup', 'verify', planted], { env });
    expect(v.code, v.stderr).toBe(3);
    expect(v.stderr).toMatch(/not encrypted, but encryption is enabled/);
    expect(v.stderr).toMatch(/--allow-unauthenticated/);
    const r = await runWks([...cfg, '-y', 'backup', 'restore', planted, '--to', path.join(dir, 'drill.db')], { env });
    expect(r.code, r.stderr).toBe(3);
    // Recorded: list shows it failed.
    const l = await runWks([...cfg, 'backup', 'list', '--json'], { env });
    expect(l.json().backups.find((b: { id: string }) => b.id === planted).verification).toMatchObject({ ok: false });
    // The operator's explicit override for a backup they made themselves.
    const ok = await runWks([...cfg, 'backup', 'verify', planted, '--allow-unauthenticated'], { env });
    expect(ok.code, ok.stderr).toBe(0);
  });

  it('a relabelled or re-dated old backup fails verify --latest with exit 3', async () => {
    const old = await create(['--label', 'old']);
    await create(['--label', 'new']);
    // Re-date the old backup's manifest so it becomes the newest: its data hashes still match.
    const m = manifestOf(old);
    m.created_at = '2099-01-01T00:00:00.000Z';
    m.label = 'new';
    writeManifest(m);
    const v = await runWks([...cfg, 'backup', 'verify', '--latest'], { env });
    expect(v.code, v.stderr).toBe(3);
    expect(v.stderr).toMatch(new RegExp(`${old}.*fails authentication`));

    // Copy it whole under a newer id (manifest and file renamed, fields edited to match).
    const id = '20990101T000000Z-beef';
    const src = manifestOf(old);
    const file = src.file.replace(old, id);
    copyFileSync(path.join(backups, src.file), path.join(backups, file));
    writeManifest({ ...src, id, file, created_at: '2099-01-01T00:00:01.000Z' });
    const v2 = await runWks([...cfg, 'backup', 'verify', id], { env });
    expect(v2.code, v2.stderr).toBe(3);
  });

  it("another backup's data file under an authentic manifest fails (the header binds id and time)", async () => {
    const a = await create(['--label', 'a']);
    const b = await create(['--label', 'b']);
    const ma = manifestOf(a);
    const mb = manifestOf(b);
    copyFileSync(path.join(backups, ma.file), path.join(backups, mb.file));
    const v = await runWks([...cfg, 'backup', 'verify', b], { env });
    expect(v.code, v.stderr).toBe(3);
  });

  it('a tampered encrypted header (kdf byte, salt byte) is a verification failure (3), recorded, not "wrong key"', async () => {
    for (const pos of [8, 20]) {
      const id = await create(['--label', `hdr${pos}`]);
      const f = path.join(backups, manifestOf(id).file);
      const buf = readFileSync(f);
      buf[pos]! ^= 0x01;
      writeFileSync(f, buf);
      const v = await runWks([...cfg, 'backup', 'verify', id], { env });
      expect(v.code, v.stderr).toBe(3);
      expect(v.stderr).not.toMatch(/key is not the one/);
      const l = await runWks([...cfg, 'backup', 'list', '--json'], { env });
      expect(l.json().backups.find((x: { id: string }) => x.id === id).verification).toMatchObject({ ok: false });
      // The attacker also fixes the manifest's checksum: the manifest then fails authentication.
      const { createHash } = await import('node:crypto');
      const m = manifestOf(id);
      m.sha256 = createHash('sha256').update(buf).digest('hex');
      writeManifest(m);
      const v2 = await runWks([...cfg, 'backup', 'verify', id], { env });
      expect(v2.code, v2.stderr).toBe(3);
      expect(v2.stderr).toMatch(/fails authentication/);
    }
  });

  it('a wrong key is still a configuration problem (78), not a failed backup', async () => {
    const id = readdirSync(backups)
      .find((f) => f.endsWith('.json') && !f.includes('verify'))!
      .replace('.json', '');
    const m = manifestOf(id);
    if (!m.encryption) return;
    const v = await runWks([...cfg, 'backup', 'verify', id], {
      env: { ...env, BACKUP_ENCRYPTION_KEY: randomBytes(32).toString('hex') },
    });
    expect(v.code, v.stderr).toBe(78);
  });
});
