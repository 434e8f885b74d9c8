/**
 * `-q` for cron: a successful run prints 0 bytes on stdout and stderr (the
 * crontab template sets MAILTO, so any output is a mail); errors still go to
 * stderr with the exit code.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import path from 'node:path';
import Database from 'better-sqlite3';
import { runWks } from '../helpers/cli.js';
import { tmpDir } from '../helpers/tmp.js';
import { createTestRedis, type TestRedis } from '../helpers/services.js';

const redis: TestRedis | null = await createTestRedis('quiet');
let env: Record<string, string>;

beforeAll(async () => {
  const dir = tmpDir('e2e-quiet');
  env = {
    DATABASE_PATH: path.join(dir, 'app.db'),
    BACKUP_STORAGE_PATH: path.join(dir, 'backups'),
    ...(redis?.env ?? {}),
  };
  expect((await runWks(['-q', 'migrate', 'up', '--no-backup'], { env })).code).toBe(0);
  const db = new Database(env.DATABASE_PATH!);
  db.prepare("INSERT INTO users (username, email, password_hash) VALUES ('u', 'u@x', 'h')").run();
  db.close();
});

afterAll(async () => {
  await redis?.cleanup();
});

describe('wks -q on success prints nothing', () => {
  for (const args of [
    ['backup', 'create', '--type', 'scheduled'],
    ['backup', 'create'],
    ['backup', 'verify', '--latest'],
    ['--yes', 'backup', 'rotate'],
    ['backup', 'verify', '--all'],
    ['--yes', 'workflow', 'reap'],
    ['migrate', 'up'],
  ]) {
    it(`wks -q ${args.join(' ')}: exit 0, 0 bytes`, async () => {
      const r = await runWks(['-q', ...args], { env });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe('');
      expect(r.stderr).toBe('');
    });
  }

  it('an error still goes to stderr with its exit code', async () => {
    const r = await runWks(['-q', 'backup', 'verify', 'nosuchid'], { env });
    expect(r.code).toBe(5);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^Error: no backup matches "nosuchid"/m);
  });

  it('--json still prints its one document with -q', async () => {
    const r = await runWks(['-q', '--json', 'backup', 'list'], { env });
    expect(r.code).toBe(0);
    expect(r.json().backups.length).toBeGreaterThan(0);
  });
});
