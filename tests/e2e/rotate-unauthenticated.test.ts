/**
 * Rotation of unauthenticated backups: with encryption enabled, backups made
 * before encryption was turned on (plain manifests, no MAC) are listed as
 * broken and never deleted by default. `rotate --include-unauthenticated`
 * applies the age rules to them (dry run first, confirmed), deleting only their
 * own files, while a manifest that fails authentication (re-dated real backup)
 * stays broken and the authenticated backups' decisions do not change.
 */
import { describe, it, expect, beforeEach } from 'vitest';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { runWks } from '../helpers/cli.js';
import { tmpDir } from '../helpers/tmp.js';

let dir: string;
let backups: string;
let env: Record<string, string>;
let plain: string[];
let enc: string[];

const manifestPath = (id: string) => path.join(backups, `${id}.json`);
const manifestOf = (id: string) => JSON.parse(readFileSync(manifestPath(id), 'utf8'));
const redate = (id: string, at: string) =>
  writeFileSync(manifestPath(id), JSON.stringify({ ...manifestOf(id), created_at: at }));
const filesOf = (id: string) => readdirSync(backups).filter((n) => n.startsWith(`${id}.`));
const config = (name: string, encrypted: boolean) => {
  const file = path.join(dir, name);
  const lines = ['phase4:', '  database:', '    backup:', '      retention_days: 7', '      keep_last: 1'];
  writeFileSync(file, [...lines, '      encryption:', `        enabled: ${encrypted}`, ''].join('\n'));
  return ['-c', file];
};
const create = async (cfg: string[]): Promise<string> => {
  const r = await runWks([...cfg, 'backup', 'create', '--json'], { env });
  expect(r.code, r.stderr).toBe(0);
  return r.json().backup.id;
};
const ids = (l: Array<{ id: string }>) => l.map((x) => x.id).sort();

beforeEach(async () => {
  dir = tmpDir('e2e-rotate-unauth');
  backups = path.join(dir, 'backups');
  env = { DATABASE_PATH: path.join(dir, 'w.db'), BACKUP_STORAGE_PATH: backups };
  plain = config('plain.yml', false);
  enc = config('enc.yml', true);
  const m = await runWks([...plain, 'migrate', 'up', '--no-backup'], { env });
  expect(m.code, m.stderr).toBe(0);
});

describe('rotate --include-unauthenticated', () => {
  it('deletes the legacy plain backups the policy would delete (old, or thinned), never a re-dated authenticated one', async () => {
    const [oldA, oldB, recent] = [await create(plain), await create(plain), await create(plain)];
    redate(oldA, '2020-01-01T00:00:00.000Z');
    redate(oldB, '2020-02-01T00:00:00.000Z');
    env.BACKUP_ENCRYPTION_KEY = randomBytes(32).toString('hex');
    const [tampered, newest] = [await create(enc), await create(enc)];
    redate(tampered, '2020-01-01T00:00:00.000Z');
    const before = readdirSync(backups).sort();

    // Default: every unauthenticated or tampered backup is broken, nothing of them deleted.
    const d0 = await runWks([...enc, 'backup', 'rotate', '--yes', '--json'], { env });
    expect(d0.code, d0.stderr).toBe(0);
    expect(d0.json().deleted).toEqual([]);
    expect(ids(d0.json().broken)).toEqual([oldA, oldB, recent, tampered].sort());

    // Dry run: lists the two old plain backups and the recent one (same day as `newest`: thinned), deletes nothing.
    const dry = await runWks([...enc, 'backup', 'rotate', '--include-unauthenticated', '--dry-run', '--json'], { env });
    expect(dry.code, dry.stderr).toBe(0);
    expect(ids(dry.json().deleted)).toEqual([oldA, oldB, recent].sort());
    expect(readdirSync(backups).sort()).toEqual(before);

    // Off a TTY without --yes: refused, nothing deleted.
    const refused = await runWks([...enc, 'backup', 'rotate', '--include-unauthenticated'], { env });
    expect(refused.code).not.toBe(0);
    expect(readdirSync(backups).sort()).toEqual(before);

    const r = await runWks([...enc, 'backup', 'rotate', '--include-unauthenticated', '--yes', '--json'], { env });
    expect(r.code, r.stderr).toBe(0);
    const d = r.json();
    expect(ids(d.deleted)).toEqual([oldA, oldB, recent].sort());
    for (const x of d.deleted) expect(x.reasons[0]).toBe('unauthenticated');
    // The authenticated backups are decided as without the flag; the unauthenticated never count as kept.
    expect(ids(d.kept)).toEqual(ids(d0.json().kept));
    expect(ids(d.kept)).toEqual([newest]);
    expect(ids(d.broken)).toEqual([tampered]);
    for (const id of [oldA, oldB, recent]) expect(filesOf(id)).toEqual([]);
    for (const id of [tampered, newest]) {
      expect(existsSync(manifestPath(id))).toBe(true);
      expect(existsSync(path.join(backups, manifestOf(id).file))).toBe(true);
    }
  });

  it('a plain backup newer than every authenticated one does not take their keep_last place', async () => {
    env.BACKUP_ENCRYPTION_KEY = randomBytes(32).toString('hex');
    const [a, b] = [await create(enc), await create(enc)];
    redate(a, '2020-01-01T00:00:00.000Z'); // tampered now: stays broken
    const fresh = await create(plain);
    const r = await runWks([...enc, 'backup', 'rotate', '--include-unauthenticated', '--yes', '--json'], { env });
    expect(r.code, r.stderr).toBe(0);
    const d = r.json();
    expect(d.deleted).toEqual([]);
    expect(d.kept).toEqual([expect.objectContaining({ id: b, reasons: expect.arrayContaining(['newest backup']) })]);
    expect(ids(d.broken)).toEqual([a, fresh].sort());
  });
});
