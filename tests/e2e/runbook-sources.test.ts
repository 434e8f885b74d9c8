/**
 * Runbook scenario (docs/backup-and-recovery.md, "Whose backup is it"): two
 * SQLite databases and a PostgreSQL database share one backup directory. Each
 * sees only its own backups in `health`, `--latest` and `rotate`; `list`
 * shows and filters the source; restoring another database's backup over the
 * live one needs --allow-other-source, and the database keeps its identity.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { chmodSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { runWks } from '../helpers/cli.js';
import { tmpDir } from '../helpers/tmp.js';
import { createTestDatabase, type TestDatabase } from '../helpers/services.js';

let root: string;
let backups: string;
let config: string;
const envA = () => ({ DATABASE_PATH: path.join(root, 'a', 'app.db'), BACKUP_STORAGE_PATH: backups });
const envB = () => ({ DATABASE_PATH: path.join(root, 'b', 'app.db'), BACKUP_STORAGE_PATH: backups });
const pgDb: TestDatabase | null = await createTestDatabase('runbook_sources');

async function ok(args: string[], env: Record<string, string>) {
  const r = await runWks(['-c', config, ...args], { env });
  expect(r.code, `${args.join(' ')}\n${r.stderr}`).toBe(0);
  return r;
}

function rows(file: string): number {
  const db = new Database(file, { readonly: true });
  try {
    return (db.prepare('SELECT count(*) AS n FROM users').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

function addUsers(file: string, n: number, prefix: string): void {
  const db = new Database(file);
  const ins = db.prepare('INSERT INTO users (username, email, password_hash) VALUES (?, ?, ?)');
  for (let i = 0; i < n; i++) ins.run(`${prefix}${i}`, `${prefix}${i}@x`, 'h');
  db.close();
}

beforeAll(async () => {
  root = tmpDir('e2e-sources');
  backups = path.join(root, 'backups');
  config = path.join(root, 'wks.yml');
  // keep only the newest backup per source (and the newest verified one): rotation has something to do
  writeFileSync(
    config,
    'phase4:\n  database:\n    backup:\n      retention_days: 30\n      keep_last: 1\n      keep_hourly: 1\n      keep_daily: 0\n      keep_weekly: 0\n      keep_monthly: 0\n',
  );
  for (const e of [envA(), envB()]) {
    mkdirSync(path.dirname(e.DATABASE_PATH), { recursive: true });
    await ok(['migrate', 'up', '--no-backup'], e);
  }
  addUsers(envA().DATABASE_PATH, 3, 'a');
  addUsers(envB().DATABASE_PATH, 5, 'b');
});

afterAll(async () => {
  await pgDb?.drop();
});

describe('two databases sharing one backup directory', () => {
  let a1: string;
  let a2: string;
  let b1: string;
  let labelA: string;
  let labelB: string;

  it('each database backs up and verifies its own latest', async () => {
    a1 = (await ok(['backup', 'create', '--json'], envA())).json().backup.id;
    a2 = (await ok(['backup', 'create', '--json'], envA())).json().backup.id;
    await ok(['backup', 'verify', '--latest'], envA());
    b1 = (await ok(['backup', 'create', '--json'], envB())).json().backup.id;
    // B's --latest is B's backup, though A's are in the same directory
    const v = (await ok(['backup', 'verify', '--latest', '--json'], envB())).json();
    expect(v.verified.map((x: { id: string }) => x.id)).toEqual([b1]);
  });

  it('backup list shows the SOURCE column and filters by it', async () => {
    const all = (await ok(['backup', 'list', '--json'], envA())).json();
    expect(all.backups.map((b: { id: string }) => b.id).sort()).toEqual([a1, a2, b1].sort());
    labelA = all.configured_source;
    expect(labelA).toMatch(/^sqlite:[0-9a-f]{8}$/);
    labelB = all.backups.find((b: { id: string }) => b.id === b1).source;
    expect(labelB).toMatch(/^sqlite:[0-9a-f]{8}$/);
    expect(labelB).not.toBe(labelA);
    expect(all.backups.filter((b: { own: boolean }) => b.own).map((b: { id: string }) => b.id)).toEqual([a2, a1]);
    const mine = (await ok(['backup', 'list', '--source', 'configured', '--json'], envB())).json();
    expect(mine.backups.map((b: { id: string }) => b.id)).toEqual([b1]);
    const byLabel = (await ok(['backup', 'list', '--source', labelA, '--json'], envB())).json();
    expect(byLabel.backups.map((b: { id: string }) => b.id)).toEqual([a2, a1]);
    const human = await ok(['backup', 'list'], envA());
    expect(human.stdout).toMatch(/^ID\s+SOURCE\s+TYPE/m);
    expect(human.stdout).toContain(`this database is ${labelA}`);
  });

  it('health counts only its own backups (B: one, verified; A: two)', async () => {
    const hb = (await runWks(['health', '--check', 'backups', '--json'], { env: envB() })).json();
    const cb = hb.checks.find((c: { name: string }) => c.name === 'backups');
    expect(cb.data).toMatchObject({ count: 1, newestVerifiedId: b1, source: labelB, otherSources: 2 });
    const ha = (await runWks(['health', '--check', 'backups', '--json'], { env: envA() })).json();
    expect(ha.checks.find((c: { name: string }) => c.name === 'backups').data).toMatchObject({
      count: 2,
      newestId: a2,
      newestVerifiedId: a2,
    });
  });

  it('restore --latest --dry-run picks its own backup', async () => {
    const r = (await ok(['backup', 'restore', '--latest', '--dry-run', '--json'], envB())).json();
    expect(r).toMatchObject({ backup_id: b1, backup_source: labelB, other_source: false, dry_run: true });
  });

  it('rotate applies the policy to its own backups only; --all-sources to each source separately', async () => {
    const dryB = (await ok(['backup', 'rotate', '--dry-run', '--json'], envB())).json();
    expect(dryB.deleted).toEqual([]);
    expect(dryB.kept.map((k: { id: string }) => k.id)).toEqual([b1]);
    const dryA = (await ok(['backup', 'rotate', '--dry-run', '--json'], envA())).json();
    expect(dryA.deleted.map((d: { id: string }) => d.id)).toEqual([a1]);
    expect(dryA.kept.map((k: { id: string }) => k.id)).toEqual([a2]);
    const all = (await ok(['backup', 'rotate', '--all-sources', '--dry-run', '--json'], envB())).json();
    expect(all.sources).toEqual([labelB, labelA]);
    expect(all.deleted.map((d: { id: string }) => d.id)).toEqual([a1]);
    await ok(['--yes', 'backup', 'rotate'], envA());
    const left = (await ok(['backup', 'list', '--json'], envA())).json();
    expect(left.backups.map((b: { id: string }) => b.id).sort()).toEqual([a2, b1].sort());
  });

  it("restoring B's backup over A needs --allow-other-source, says whose it is, and A keeps its identity", async () => {
    const refused = await runWks(['-c', config, '--yes', 'backup', 'restore', b1], { env: envA() });
    expect(refused.code).toBe(4);
    expect(refused.stderr).toContain(`is a backup of ${labelB}`);
    expect(refused.stderr).toContain('--allow-other-source');
    expect(rows(envA().DATABASE_PATH)).toBe(3);
    chmodSync(envA().DATABASE_PATH, 0o644);
    const r = (await ok(['--yes', 'backup', 'restore', b1, '--allow-other-source', '--json'], envA())).json();
    // restored over an existing 0644 file: 0600, the same as into an empty path
    expect(statSync(envA().DATABASE_PATH).mode & 0o777).toBe(0o600);
    expect(r).toMatchObject({ backup_id: b1, other_source: true });
    expect(rows(envA().DATABASE_PATH)).toBe(5);
    const next = (await ok(['backup', 'create', '--json'], envA())).json().backup;
    expect(next.source_identity.key.slice(0, 15)).toBe(labelA);
  });
});

describe.runIf(!!pgDb)('after the move to PostgreSQL, in the same directory', () => {
  it('health is critical until a PostgreSQL backup exists, and names the SQLite backups as another source', async () => {
    const env = { ...pgDb!.env, BACKUP_STORAGE_PATH: backups };
    await ok(['migrate', 'up', '--no-backup'], env);
    const h = (await runWks(['health', '--check', 'backups', '--json'], { env })).json();
    const c = h.checks.find((x: { name: string }) => x.name === 'backups');
    expect(c.status).toBe('critical');
    expect(c.detail).toMatch(/^no backups of this database \(postgres:\d+\/wks_t_runbook_sources_\w+ /);
    expect(c.detail).toMatch(/backups of other sources: sqlite:/);
    const latest = await runWks(['-c', config, 'backup', 'verify', '--latest'], { env });
    expect(latest.code).toBe(5);
    const id = (await ok(['backup', 'create', '--json'], env)).json().backup.id;
    await ok(['backup', 'verify', '--latest'], env);
    const after = (await runWks(['health', '--check', 'backups', '--json'], { env })).json();
    expect(after.checks.find((x: { name: string }) => x.name === 'backups').data).toMatchObject({
      count: 1,
      newestVerifiedId: id,
    });
  });
});
