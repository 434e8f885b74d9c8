/**
 * Bad input and operator edge cases (#14 items 11-23): one clear line, the
 * documented exit code, no stack trace, no driver message, no connection
 * attempt for something that is not a connection.
 */
import { describe, it, expect } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { runWks, runOnTty, hasScript } from '../helpers/cli.js';
import { tmpDir } from '../helpers/tmp.js';

const STACK = /\n\s+at /;

async function sqliteEnv(tag: string): Promise<{ dir: string; env: Record<string, string> }> {
  const dir = tmpDir(tag);
  const env = { DATABASE_PATH: path.join(dir, 'app.db'), BACKUP_STORAGE_PATH: path.join(dir, 'backups'), TMPDIR: dir };
  const m = await runWks(['migrate', 'up', '--no-backup'], { env });
  expect(m.code, m.stderr).toBe(0);
  return { dir, env };
}

describe('declining a confirmation prompt is not success (#14.20)', () => {
  it.runIf(hasScript)('backup restore over the live database answered "n" exits 1 and changes nothing', async () => {
    const { env } = await sqliteEnv('bad-decline');
    const c = await runWks(['backup', 'create', '--compress', 'none'], { env });
    expect(c.code, c.stderr).toBe(0);
    const before = (await runWks(['backup', 'list', '--json'], { env })).json().backups.length;
    const r = await runOnTty(['backup', 'restore', '--latest'], env, 'n\r');
    expect(r.out).toMatch(/\?/);
    expect(r.code, r.out).toBe(1);
    // nothing happened: no safety backup was taken
    expect((await runWks(['backup', 'list', '--json'], { env })).json().backups.length).toBe(before);
  });
});

describe('backup create waiting for the backup mutex says so, like migrate (#14.23)', () => {
  it('off a terminal: a warning naming the holder, then exit 4 after the timeout', async () => {
    const { dir, env } = await sqliteEnv('bad-lockwait');
    const holder = spawn('sleep', ['30']);
    try {
      const bk = env.BACKUP_STORAGE_PATH!;
      spawnSync('mkdir', ['-p', '-m', '700', bk]);
      writeFileSync(
        path.join(bk, '.wks-backup.lock'),
        JSON.stringify({
          pid: holder.pid,
          host: hostname(),
          started_at: new Date().toISOString(),
          token: 'abcd',
          command: 'backup create (manual)',
        }),
        { mode: 0o600 },
      );
      const cfg = path.join(dir, 'wks.yml');
      writeFileSync(cfg, 'phase4:\n  database:\n    backup:\n      lock_timeout_ms: 1500\n');
      const r = await runWks(['-c', cfg, 'backup', 'create'], { env });
      expect(r.code, r.stderr).toBe(4);
      expect(r.stderr).toMatch(new RegExp(`waiting for the backup mutex, held by pid ${holder.pid} on `));
      expect(r.stderr).not.toMatch(STACK);
    } finally {
      holder.kill();
    }
  });
});

describe('numeric flags are range-checked in one place (#14.11, #14.12)', () => {
  const cases: Array<[string[], RegExp]> = [
    [['workflow', 'list', '--limit', '99999999999999999999999'], /--limit expects a whole number from 0 to 1000000/],
    [['workflow', 'list', '--limit', '-1'], /--limit expects a whole number/],
    [['health', '--timeout', '99999999999999999999s'], /--timeout expects a duration from 1ms to 1d/],
    [['health', '--timeout', '0'], /--timeout expects a duration/],
    [['lock', 'list', '--older-than', '99999999999999999999d'], /--older-than expects a duration/],
    [['migrate', 'down', '--steps', '1e3'], /--steps expects a whole number from 1 to 10000/],
    [['migrate', 'up', '--lock-timeout', '99999999999999999999'], /--lock-timeout expects a whole number/],
    [['db', 'copy', '--batch-rows', '0', '--dry-run'], /--batch-rows expects a whole number from 1/],
  ];
  for (const [args, msg] of cases) {
    it(`${args.join(' ')}: exit 2, one line`, async () => {
      const dir = tmpDir('bad-num');
      const r = await runWks(args, { env: { DATABASE_PATH: path.join(dir, 'app.db') } });
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(msg);
      expect(r.stderr).not.toMatch(/datatype mismatch|configuration is invalid/);
      expect(r.stderr).not.toMatch(STACK);
    });
  }
});

describe('configuration input (#14.13, #14.14, #14.15)', () => {
  it('a YAML alias bomb exits 78 naming the file', async () => {
    const dir = tmpDir('bad-bomb');
    const file = path.join(dir, 'bomb.yml');
    const lines = ['phase4:', '  a: &a ["x","x","x","x","x","x","x","x","x"]'];
    for (const [n, p] of [
      ['b', 'a'],
      ['c', 'b'],
      ['d', 'c'],
      ['e', 'd'],
      ['f', 'e'],
      ['g', 'f'],
    ])
      lines.push(`  ${n}: &${n} [${Array(9).fill(`*${p}`).join(',')}]`);
    writeFileSync(file, `${lines.join('\n')}\n`);
    const r = await runWks(['-c', file, 'config', 'validate'], { env: {}, timeoutMs: 20_000 });
    expect(r.code, r.stderr).toBe(78);
    expect(r.stderr).toMatch(/^Error: .*bomb\.yml cannot be read as configuration: .*alias/m);
    expect(r.stderr).not.toMatch(/report it/);
  });

  it('PG_URL with a non-numeric port fails validation (78), password masked', async () => {
    const r = await runWks(['config', 'validate'], {
      env: { PG_ENABLED: 'true', PG_URL: 'postgres://wks:hunter2secret@db.example:abc/wks' },
    });
    expect(r.code, r.stderr).toBe(78);
    expect(r.stderr).toMatch(/PG_URL: not a valid URL: the port must be a number from 1 to 65535/);
    expect(r.stderr).not.toContain('hunter2secret');
  });

  it('PG_URL with another scheme fails validation (78)', async () => {
    const r = await runWks(['config', 'validate'], { env: { PG_URL: 'mysql://db.example/wks' } });
    expect(r.code, r.stderr).toBe(78);
    expect(r.stderr).toMatch(/PG_URL: unsupported scheme "mysql"/);
  });

  it('db copy --to mysql://x is a usage error (exit 2) found before any connection', async () => {
    const dir = tmpDir('bad-copy');
    const t0 = Date.now();
    const r = await runWks(['db', 'copy', '--to', 'mysql://x', '--dry-run'], {
      env: { DATABASE_PATH: path.join(dir, 'missing.db') },
    });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/^Error: --to: unsupported scheme "mysql"/m);
    expect(r.stderr).not.toMatch(/not found|ENOTFOUND|ECONNREFUSED/);
    expect(Date.now() - t0).toBeLessThan(15_000);
  });
});

describe('an empty or unmigrated database is backed up with a warning, recorded in the manifest (#14.16)', () => {
  it('0-byte file and an unmigrated database', async () => {
    const dir = tmpDir('bad-empty');
    const db = path.join(dir, 'app.db');
    writeFileSync(db, '');
    const env = { DATABASE_PATH: db, BACKUP_STORAGE_PATH: path.join(dir, 'backups'), TMPDIR: dir };
    const r = await runWks(['backup', 'create', '--json'], { env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/warn.*the database is empty \(no tables\)/i);
    expect(r.json().backup.warnings).toEqual([expect.stringMatching(/^the database is empty/)]);

    const d2 = path.join(dir, 'other.db');
    const sq = new (await import('better-sqlite3')).default(d2);
    sq.exec('CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1)');
    sq.close();
    const r2 = await runWks(['backup', 'create', '--json'], { env: { ...env, DATABASE_PATH: d2 } });
    expect(r2.code, r2.stderr).toBe(0);
    expect(r2.json().backup.warnings).toEqual([expect.stringMatching(/^the database is not migrated/)]);
  });
});
