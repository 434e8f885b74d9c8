/**
 * Runbook scenario (docs/backup-and-recovery.md, "Damaged database: restore,
 * then salvage newer rows"): one table of the live database is damaged after
 * the last backup, and rows newer than the backup exist in another table.
 * The runbook's commands, in order: the restore refuses naming the actual
 * error; --force keeps the damaged file (with -wal/-shm) in a quarantine
 * directory and restores; `wks db salvage` and the sqlite3 shell get the
 * newer rows back.
 */
import { describe, it, expect, beforeAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { closeSync, openSync, readdirSync, statSync, writeSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { runWks, baseEnv, WKS_BIN } from '../helpers/cli.js';
import { tmpDir } from '../helpers/tmp.js';

let dir: string;
let env: Record<string, string>;

const count = (file: string, table: string): number => {
  const db = new Database(file, { readonly: true });
  try {
    return (db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
  } finally {
    db.close();
  }
};

function addRows(file: string, from: number, n: number): void {
  const db = new Database(file);
  const u = db.prepare('INSERT INTO users (id, username, email, password_hash) VALUES (?, ?, ?, ?)');
  const w = db.prepare("INSERT INTO workflows (name, description, user_id, status) VALUES (?, ?, ?, 'active')");
  db.transaction(() => {
    for (let i = from; i < from + n; i++) {
      u.run(i, `user${i}`, `user${i}@example.com`, 'h');
      w.run(`wf${i}`, 'd'.repeat(300), i);
    }
  })();
  db.close();
}

/** Overwrite the root page of `table` with garbage: that table is unreadable, the others are not. */
function damageTable(file: string, table: string): void {
  const db = new Database(file);
  db.pragma('wal_checkpoint(TRUNCATE)');
  const { rootpage } = db.prepare('SELECT rootpage FROM sqlite_master WHERE name = ?').get(table) as {
    rootpage: number;
  };
  const pageSize = Number(db.pragma('page_size', { simple: true }));
  db.close();
  const fd = openSync(file, 'r+');
  writeSync(fd, Buffer.alloc(pageSize, 0xa5), 0, pageSize, (rootpage - 1) * pageSize);
  closeSync(fd);
}

/** Run one runbook shell line with the runbook's environment (`wks` is the built bin/wks.js). */
function sh(line: string): string {
  return execFileSync('sh', ['-c', `wks() { "${process.execPath}" "${WKS_BIN}" "$@"; }\n${line}`], {
    env: baseEnv(env),
    encoding: 'utf8',
  });
}

beforeAll(async () => {
  dir = tmpDir('e2e-damaged');
  env = { DATABASE_PATH: path.join(dir, 'workstation.db'), BACKUP_STORAGE_PATH: path.join(dir, 'backups') };
  expect((await runWks(['migrate', 'up', '--no-backup'], { env })).code).toBe(0);
  addRows(env.DATABASE_PATH!, 1, 200);
  const b = await runWks(['backup', 'create'], { env });
  expect(b.code, b.stderr).toBe(0);
  addRows(env.DATABASE_PATH!, 201, 50); // newer than the backup
  damageTable(env.DATABASE_PATH!, 'workflows');
});

describe('a damaged database: restore keeps it, and the newer rows are salvaged', () => {
  it('restore --latest refuses, naming the actual error and what --force does', async () => {
    const r = await runWks(['backup', 'restore', '--latest', '--yes'], { env });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^Error: could not take a safety backup of .*: .*malformed/m);
    expect(r.stderr).toMatch(/^Try: the database is damaged .*--force .*quarantine/m);
    expect(r.stderr).not.toMatch(/disk space\?/);
    expect(count(env.DATABASE_PATH!, 'users')).toBe(250);
  });

  it('restore --latest --force --yes keeps the damaged file (with -wal/-shm) in a named quarantine directory', async () => {
    const r = await runWks(['backup', 'restore', '--latest', '--force', '--yes', '--json'], { env });
    expect(r.code, r.stderr).toBe(0);
    const doc = r.json();
    expect(doc.quarantine).toMatch(/workstation\.db\.quarantine-\d{8}T\d{6}Z$/);
    expect(statSync(doc.quarantine).mode & 0o777).toBe(0o700);
    const kept = readdirSync(doc.quarantine);
    expect(kept).toContain('workstation.db');
    for (const f of kept) expect(statSync(path.join(doc.quarantine, f)).mode & 0o777).toBe(0o600);
    expect(doc.next_steps.join('\n')).toContain(`wks db salvage ${path.join(doc.quarantine, 'workstation.db')} --to`);
    expect(count(env.DATABASE_PATH!, 'users')).toBe(200);
  });

  it("the runbook's salvage commands bring the 50 newer users back", () => {
    const out = sh(
      'Q=$(ls -d "$DATABASE_PATH".quarantine-* | tail -1); wks db salvage "$Q/$(basename "$DATABASE_PATH")" --to "$DATABASE_PATH.salvage"',
    );
    // every table but the damaged one is complete; the damaged one is named with its error
    expect(out).toMatch(/^users\s+250\s+complete/m);
    expect(out).toMatch(/^workflows\s+\d+\s+DAMAGED: .*malformed/m);
    expect(statSync(`${env.DATABASE_PATH}.salvage`).mode & 0o777).toBe(0o600);
    expect(sh('sqlite3 "$DATABASE_PATH.salvage" "SELECT count(*) FROM users"').trim()).toBe('250');
    sh(
      `sqlite3 "$DATABASE_PATH" "ATTACH '$DATABASE_PATH.salvage' AS s;
  INSERT INTO users SELECT * FROM s.users WHERE id > (SELECT max(id) FROM main.users);"`,
    );
    expect(count(env.DATABASE_PATH!, 'users')).toBe(250);
    expect(sh('sqlite3 "$DATABASE_PATH" "SELECT username FROM users WHERE id = 250"').trim()).toBe('user250');
  });
});
