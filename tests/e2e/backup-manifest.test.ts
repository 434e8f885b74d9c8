/**
 * The manifest is checked, not trusted: verify compares every field that
 * describes the data (raw_size, raw_sha256, schema_version, ...) with the
 * image, and a manifest that is invalid JSON, empty or lacks a required
 * field makes its backup a failed one (verify exit 3, list BROKEN, rotate
 * never counts it as kept, health warns), never an absent one (#14 items 2, 3, 17).
 */
import { describe, it, expect, beforeEach } from 'vitest';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { runWks } from '../helpers/cli.js';
import { tmpDir } from '../helpers/tmp.js';

let env: Record<string, string>;
let bk: string;

async function create(compress = 'none'): Promise<{ id: string; file: string; manifest: string }> {
  const c = await runWks(['backup', 'create', '--compress', compress, '--no-encrypt', '--json'], { env });
  expect(c.code, c.stderr).toBe(0);
  const m = c.json().backup;
  return { id: m.id, file: path.join(bk, m.file), manifest: path.join(bk, `${m.id}.json`) };
}

const edit = (file: string, fn: (m: Record<string, unknown>) => void): void => {
  const m = JSON.parse(readFileSync(file, 'utf8'));
  fn(m);
  writeFileSync(file, JSON.stringify(m, null, 2));
};

beforeEach(async () => {
  const dir = tmpDir('bk-manifest');
  bk = path.join(dir, 'backups');
  env = { DATABASE_PATH: path.join(dir, 'app.db'), BACKUP_STORAGE_PATH: bk, TMPDIR: dir };
  const m = await runWks(['migrate', 'up', '--no-backup'], { env });
  expect(m.code, m.stderr).toBe(0);
});

describe('verify checks every manifest field that describes the data (#14.2)', () => {
  const cases: Array<[string, string, (m: Record<string, unknown>) => void, RegExp]> = [
    ['none', 'raw_size edited', (m) => (m.raw_size = (m.raw_size as number) + 1), /raw_size/],
    ['none', 'raw_sha256 edited', (m) => (m.raw_sha256 = 'f'.repeat(64)), /raw_sha256/],
    ['none', 'raw_sha256 deleted', (m) => delete m.raw_sha256, /"raw_sha256" is missing/],
    ['none', 'row_counts deleted', (m) => delete m.row_counts, /"row_counts" is missing/],
    ['none', 'schema_version edited', (m) => (m.schema_version = '9999'), /schema_version: manifest 9999/],
    ['gzip', 'raw_size edited (gzip)', (m) => (m.raw_size = (m.raw_size as number) + 1), /decode/],
    ['gzip', 'compression deleted', (m) => delete m.compression, /"compression" is missing/],
  ];
  for (const [compress, name, fn, msg] of cases) {
    it(`${name}: exit 3`, async () => {
      const b = await create(compress);
      expect((await runWks(['backup', 'verify', b.id], { env })).code).toBe(0);
      edit(b.manifest, fn);
      const v = await runWks(['backup', 'verify', b.id], { env });
      expect(v.code, v.stderr).toBe(3);
      expect(v.stderr).toMatch(msg);
      expect(v.stderr).not.toMatch(/\n\s+at /);
    });
  }
});

describe('a broken manifest is a failed backup, not an absent one (#14.3)', () => {
  const breakers: Array<[string, (file: string) => void]> = [
    ['invalid JSON', (f) => writeFileSync(f, '{"format": "wks-backup/1", "id": ')],
    ['empty', (f) => writeFileSync(f, '')],
    ['missing sha256', (f) => edit(f, (m) => delete m.sha256)],
    ['missing file', (f) => edit(f, (m) => delete m.file)],
    ['missing id', (f) => edit(f, (m) => delete m.id)],
  ];
  for (const [name, breakIt] of breakers) {
    it(`${name}: verify --all and verify <id> exit 3, list shows it BROKEN, rotate keeps it out of "kept", health warns`, async () => {
      const good = await create();
      const bad = await create();
      breakIt(bad.manifest);

      const all = await runWks(['backup', 'verify', '--all', '--json'], { env });
      expect(all.code, all.stderr).toBe(3);
      expect(all.stdout).toContain(bad.id);
      const one = await runWks(['backup', 'verify', bad.id], { env });
      expect(one.code, one.stderr).toBe(3);
      expect(one.stderr).toMatch(new RegExp(`^Error: backup ${bad.id} is broken: its manifest .* cannot be used`, 'm'));
      const prefix = await runWks(['backup', 'verify', bad.id.slice(0, 19)], { env });
      expect([3, 2]).toContain(prefix.code); // a unique prefix names it; an ambiguous one is a usage error

      const list = await runWks(['backup', 'list'], { env });
      expect(list.code).toBe(0);
      expect(list.stdout).toMatch(new RegExp(`${bad.id}.*BROKEN`));
      const lj = (await runWks(['backup', 'list', '--json'], { env })).json();
      expect(lj.problems.map((p: { id: string }) => p.id)).toEqual([bad.id]);
      expect(lj.problems[0].data_files).toEqual([path.basename(bad.file)]);

      const rot = await runWks(['backup', 'rotate', '--yes', '--json'], { env });
      expect(rot.code, rot.stderr).toBe(0);
      const r = rot.json();
      expect(r.kept.map((k: { id: string }) => k.id)).toEqual([good.id]);
      expect(r.broken.map((k: { id: string }) => k.id)).toEqual([bad.id]);
      expect(existsSync(bad.file), 'rotate must not delete a broken backup').toBe(true);

      const h = await runWks(['health', '--check', 'backups'], { env });
      expect(h.code, h.stdout + h.stderr).toBe(1);
      expect(h.stdout + h.stderr).toMatch(/broken backup/);
    });
  }

  it('a manifest whose file escapes the repository says so (#14.17)', async () => {
    const b = await create();
    edit(b.manifest, (m) => (m.file = '../../etc/passwd'));
    const v = await runWks(['backup', 'verify', b.id], { env });
    expect(v.code, v.stderr).toBe(3);
    expect(v.stderr).toMatch(/escapes the backup directory/);
    const r = await runWks(['backup', 'restore', b.id, '--to', path.join(bk, '..', 'x.db'), '--yes'], { env });
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toMatch(/escapes the backup directory/);
  });
});

describe('--latest never passes over a broken newest backup', () => {
  it('verify --latest and restore --latest exit 3 naming the broken newest backup and the newest usable one', async () => {
    const good = await create();
    const bad = await create();
    writeFileSync(bad.manifest, '{"format": "wks-backup/1", "id": ');
    const v = await runWks(['backup', 'verify', '--latest', '--json'], { env });
    expect(v.code, v.stderr).toBe(3);
    expect(v.stderr).toMatch(new RegExp(`^Error: backup ${bad.id} is broken`, 'm'));
    expect(v.stderr).toMatch(new RegExp(`Try: .*newest usable backup before it is ${good.id}`));
    const r = await runWks(['backup', 'restore', '--latest', '--to', path.join(bk, '..', 'r.db'), '--yes'], { env });
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toContain(bad.id);
    expect(existsSync(path.join(bk, '..', 'r.db'))).toBe(false);
    // Named by id, the older backup is still usable; and once a newer good backup exists, --latest picks it.
    expect((await runWks(['backup', 'verify', good.id], { env })).code).toBe(0);
    // Ids carry the time to the second, and a broken backup in the same second as a good one counts
    // as newer (its own time cannot be read): let the clock pass the broken backup's second first.
    const brokenSecond = Date.UTC(
      +bad.id.slice(0, 4),
      +bad.id.slice(4, 6) - 1,
      +bad.id.slice(6, 8),
      +bad.id.slice(9, 11),
      +bad.id.slice(11, 13),
      +bad.id.slice(13, 15),
    );
    while (Date.now() < brokenSecond + 1000) await new Promise((r) => setTimeout(r, 50));
    const newer = await create();
    const again = await runWks(['backup', 'verify', '--latest', '--json'], { env });
    expect(again.code, again.stderr).toBe(0);
    expect(again.json().verified.map((x: { id: string }) => x.id)).toEqual([newer.id]);
  });

  it('with only broken backups, verify --latest exits 3 (a failed backup, not "no backups")', async () => {
    const b = await create();
    writeFileSync(b.manifest, '');
    const v = await runWks(['backup', 'verify', '--latest'], { env });
    expect(v.code, v.stderr).toBe(3);
    expect(v.stderr).toMatch(new RegExp(`^Error: backup ${b.id} is broken`, 'm'));
  });

  it('restore --at a time after a broken backup exits 3; --at a time before it picks the older backup', async () => {
    const good = await create();
    await new Promise((r) => setTimeout(r, 1100)); // ids are to the second: the broken one is a second later
    const bad = await create();
    const createdAt = (file: string): string => JSON.parse(readFileSync(file, 'utf8')).created_at;
    const badAt = createdAt(bad.manifest);
    const goodAt = createdAt(good.manifest);
    edit(bad.manifest, (m) => delete m.sha256);
    const after = await runWks(['backup', 'restore', '--at', badAt, '--dry-run'], { env });
    expect(after.code, after.stderr).toBe(3);
    expect(after.stderr).toContain(bad.id);
    const before = await runWks(['backup', 'restore', '--at', goodAt, '--dry-run', '--json'], { env });
    expect(before.code, before.stderr).toBe(0);
    expect(before.stdout).toContain(good.id);
  });
});
