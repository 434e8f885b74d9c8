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
import { runWks, baseEnv, REPO, WKS_BIN } from '../helpers/cli.js';
import { tmpDir } from '../helpers/tmp.js';

const STACK = /\n\s+at /;

/** Run wks on a pseudo-terminal (util-linux `script`), typing `input`; returns the exit code and the screen. */
function runOnTty(
  args: string[],
  env: Record<string, string>,
  input: string,
): Promise<{ code: number | null; out: string }> {
  const cmd = [process.execPath, WKS_BIN, ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ');
  return new Promise((resolve) => {
    const child = spawn('script', ['-qec', cmd, '/dev/null'], { cwd: REPO, env: baseEnv({ ...env, TERM: 'dumb' }) });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      // Answer once the prompt is on the screen.
      if (input && /\?/.test(out)) {
        child.stdin.write(input);
        input = '';
      }
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

const hasScript = spawnSync('script', ['--version']).status === 0;

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

describe('backup create waiting for the backup lock says so, like migrate (#14.23)', () => {
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
      expect(r.stderr).toMatch(new RegExp(`waiting for the backup lock, held by pid ${holder.pid} on `));
      expect(r.stderr).not.toMatch(STACK);
    } finally {
      holder.kill();
    }
  });
});
