/**
 * `wks health` end to end: spawns bin/wks.js (run `npm run build` first).
 */
import { describe, it, expect } from 'vitest';
import { mkdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import Database from 'better-sqlite3';
import { runWks } from '../helpers/cli.js';
import { tmpDir } from '../helpers/tmp.js';

/** A working directory with its own database and backup directory (relative defaults resolve inside it). */
async function migratedDir(): Promise<string> {
  const cwd = tmpDir('health-e2e');
  const r = await runWks(['migrate', 'up'], { cwd });
  expect(r.code, r.stderr).toBe(0);
  return cwd;
}

async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((res) => srv.listen(0, '127.0.0.1', res));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((res) => srv.close(() => res()));
  return port;
}

/** Wait until a redis-server answers PING on `port` (raw RESP over TCP). */
async function waitForRedis(port: number, deadlineMs = 5000): Promise<void> {
  const until = Date.now() + deadlineMs;
  for (;;) {
    const ok = await new Promise<boolean>((res) => {
      const s = net.connect(port, '127.0.0.1');
      s.setTimeout(500, () => (s.destroy(), res(false)));
      s.on('error', () => res(false));
      s.on('connect', () => s.write('PING\r\n'));
      s.on('data', (d) => (s.destroy(), res(d.toString().startsWith('+PONG'))));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`redis-server on ${port} did not start`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('wks health (e2e)', () => {
  it('fresh migrated SQLite database, no backups: backups critical, exit 2; after backup create + verify: ok, exit 0', async () => {
    const cwd = await migratedDir();
    let r = await runWks(['health', '--json'], { cwd });
    expect(r.code).toBe(2);
    let doc = r.json();
    expect(doc).toMatchObject({ status: 'critical', ok: false, exitCode: 2, timeoutMs: 5000 });
    expect(doc.checks.map((c: any) => c.name)).toEqual([
      'config',
      'database',
      'migrations',
      'redis',
      'backups',
      'drills',
      'workflows',
      'agents',
      'locks',
    ]);
    const backups = doc.checks.find((c: any) => c.name === 'backups');
    expect(backups).toMatchObject({ status: 'critical', hint: expect.stringMatching(/wks backup create/) });
    expect(backups.detail).toMatch(/^no backups in /);
    for (const c of doc.checks.filter((c: any) => c.name !== 'backups'))
      expect(c.status, `${c.name}: ${c.detail}`).toBe('ok');
    for (const c of doc.checks) expect(typeof c.durationMs).toBe('number');

    expect((await runWks(['backup', 'create'], { cwd })).code).toBe(0);
    // Created but not yet verified: still not protected.
    r = await runWks(['health', '--check', 'backups', '--json'], { cwd });
    expect(r.code).toBe(2);
    expect(r.json().checks[0].detail).toMatch(/no verified backup/);

    expect((await runWks(['backup', 'verify', '--latest'], { cwd })).code).toBe(0);
    r = await runWks(['health', '--json'], { cwd });
    doc = r.json();
    expect(r.code, JSON.stringify(doc, null, 2)).toBe(0);
    expect(doc).toMatchObject({ status: 'ok', ok: true, exitCode: 0 });
    expect(doc.checks.find((c: any) => c.name === 'backups').detail).toMatch(
      /^newest verified backup \S+ old \(RPO 1h\)/,
    );
  });

  it('the human table off a TTY: plain status words, a summary line, the verdict and a hint on stderr', async () => {
    const cwd = await migratedDir();
    const r = await runWks(['health', '--check', 'database,backups'], { cwd });
    expect(r.code).toBe(2);
    expect(r.stdout).toMatch(/^STATUS\s+CHECK\s+TIME\s+DETAIL$/m);
    expect(r.stdout).toMatch(/^ok\s+database\s+\d+ms\s+header, schema and table roots ok/m);
    expect(r.stdout).toMatch(/^critical\s+backups\s+/m);
    expect(r.stdout).toMatch(/^status: critical \(1 critical, 1 ok\) in \d+ ms$/m);
    expect(r.stdout).not.toMatch(/[✔✖]/);
    expect(r.stdout).not.toMatch(/\u001b\[/);
    expect(r.stderr).toMatch(/^Error: health is critical: backups critical$/m);
    expect(r.stderr).toMatch(/^Try: run `wks backup create`/m);
  });

  it('a pending migration (a new file in the user migrations directory) is warn, exit 1', async () => {
    const cwd = await migratedDir();
    const mdir = path.join(cwd, 'migrations');
    mkdirSync(mdir);
    writeFileSync(
      path.join(mdir, '20260301000000_add_notes.sql'),
      '-- migrate:up\nCREATE TABLE notes (id INTEGER PRIMARY KEY);\n-- migrate:down\nDROP TABLE notes;\n',
    );
    const r = await runWks(['health', '--check', 'database,migrations', '--json'], {
      cwd,
      env: { WKS_MIGRATIONS_DIR: mdir },
    });
    expect(r.code).toBe(1);
    const doc = r.json();
    expect(doc).toMatchObject({ status: 'warn', exitCode: 1 });
    expect(doc.checks[1]).toMatchObject({
      name: 'migrations',
      status: 'warn',
      hint: expect.stringMatching(/wks migrate up/),
    });
    expect(doc.checks[1].detail).toMatch(/1 pending migration: 20260301000000_add_notes/);
  });

  it('REDIS_ENABLED=true with Redis on a closed port: redis critical within the timeout, the other checks still report', async () => {
    const cwd = await migratedDir();
    const port = await closedPort();
    const t0 = Date.now();
    const r = await runWks(['health', '--json', '--timeout', '3s'], {
      cwd,
      env: { REDIS_ENABLED: 'true', REDIS_HOST: '127.0.0.1', REDIS_PORT: String(port) },
    });
    const elapsed = Date.now() - t0;
    expect(r.code).toBe(2);
    expect(elapsed).toBeLessThan(3000 + 2000); // the budget plus process start-up on a busy machine
    const doc = r.json();
    const by = Object.fromEntries(doc.checks.map((c: any) => [c.name, c]));
    expect(by.redis).toMatchObject({
      status: 'critical',
      detail: `Redis at 127.0.0.1:${port} is unreachable (connection refused)`,
    });
    expect(by.redis.hint).toMatch(/REDIS_HOST/);
    expect(by.locks.status).toBe('critical');
    for (const name of ['config', 'database', 'migrations', 'workflows', 'agents'])
      expect(by[name].status, `${name}: ${by[name].detail}`).toBe('ok');
  });

  it('a hung Redis (a real redis-server, SIGSTOPped): unknown "timed out", and the process exits on its own within the timeout', async () => {
    const cwd = await migratedDir();
    const port = await closedPort();
    const server = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' },
    );
    try {
      await waitForRedis(port);
      process.kill(server.pid!, 'SIGSTOP'); // the kernel still accepts connections; nothing answers
      const t0 = Date.now();
      const r = await runWks(['health', '--check', 'database,redis,locks', '--json', '--timeout', '1500'], {
        cwd,
        env: { REDIS_ENABLED: 'true', REDIS_HOST: '127.0.0.1', REDIS_PORT: String(port) },
        timeoutMs: 15_000,
      });
      const elapsed = Date.now() - t0;
      expect(r.signal).toBeNull(); // exited on its own, not killed by the helper
      expect(r.code).toBe(2);
      expect(elapsed).toBeLessThan(1500 + 3000); // the budget plus process start-up on a busy 2-core machine
      const doc = r.json();
      expect(doc.durationMs).toBeLessThanOrEqual(1500 + 100);
      expect(doc.checks[0]).toMatchObject({ name: 'database', status: 'ok' });
      expect(doc.checks[1]).toMatchObject({ name: 'redis', status: 'unknown' });
      expect(doc.checks[1].detail).toMatch(/^timed out after \d+ ms$/);
      expect(doc.checks[2]).toMatchObject({ name: 'locks', status: 'unknown' });
      expect(doc.status).toBe('unknown');
    } finally {
      try {
        process.kill(server.pid!, 'SIGCONT');
      } catch {
        /* already gone */
      }
      server.kill('SIGKILL');
    }
  });

  it('--deep on a database too large to check in time: unknown "timed out" within the timeout + 0.5 s, the process exits at once and leaves no check running', async () => {
    const cwd = tmpDir('health-e2e-big');
    const file = path.join(cwd, 'workstation.db');
    // ~45 MB with two secondary indexes: integrity_check needs over half a second even on a quiet machine,
    // twice the 270 ms the check gets out of a 300 ms --timeout.
    const db = new Database(file);
    db.pragma('journal_mode = OFF');
    db.pragma('synchronous = OFF');
    db.exec(
      'CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT, b INTEGER); CREATE INDEX t_a ON t(a); CREATE INDEX t_b ON t(b, a);',
    );
    db.exec(
      'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 300000) INSERT INTO t (a, b) SELECT hex(randomblob(16)), random() FROM c',
    );
    db.pragma('journal_mode = WAL');
    db.close();
    const t0 = Date.now();
    const r = await runWks(['health', '--check', 'database', '--deep', '--json', '--timeout', '300'], {
      cwd,
      timeoutMs: 15_000,
    });
    const elapsed = Date.now() - t0;
    expect(r.signal).toBeNull();
    expect(r.code).toBe(2);
    const doc = r.json();
    expect(doc.checks[0]).toMatchObject({ name: 'database', status: 'unknown' });
    expect(doc.checks[0].detail).toMatch(/^timed out after \d+ ms$/);
    expect(doc.durationMs).toBeLessThan(300 + 500);
    expect(elapsed).toBeLessThan(300 + 3000); // the budget plus process start-up on a busy 2-core machine
    // Nothing is left reading the file once wks has exited.
    const left = spawnSync('pgrep', ['-f', file], { encoding: 'utf8' });
    expect(left.stdout.trim()).toBe('');
  }, 180_000); // building the fixture takes a while on a busy machine

  it('a PostgreSQL that accepts connections but never answers: unknown "timed out", exits on its own, no password in output', async () => {
    const sockets: net.Socket[] = [];
    const srv = net.createServer((s) => {
      sockets.push(s);
      s.resume(); // read the startup packet, never answer
    });
    await new Promise<void>((res) => srv.listen(0, '127.0.0.1', res));
    const port = (srv.address() as net.AddressInfo).port;
    try {
      const t0 = Date.now();
      const r = await runWks(['health', '--check', 'database,workflows', '--json', '--timeout', '1500'], {
        cwd: tmpDir('health-e2e'),
        env: { PG_ENABLED: 'true', PG_URL: `postgres://wks:s3cretpass@127.0.0.1:${port}/wks` },
        timeoutMs: 15_000,
      });
      expect(r.signal).toBeNull();
      expect(Date.now() - t0).toBeLessThan(1500 + 3000);
      expect(r.code).toBe(2);
      const doc = r.json();
      expect(doc.durationMs).toBeLessThanOrEqual(1500 + 100);
      expect(doc.checks.map((c: any) => c.status)).toEqual(['unknown', 'unknown']);
      expect(doc.checks[0].detail).toMatch(/^timed out after \d+ ms$/);
      expect(r.stdout + r.stderr).not.toContain('s3cretpass');
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((res) => srv.close(() => res()));
    }
  });

  it('an invalid configuration is the config check critical (exit 2), every problem listed in --json', async () => {
    const r = await runWks(['health', '--json', '--check', 'config,database'], {
      cwd: tmpDir('health-e2e'),
      env: { REDIS_PORT: 'abc' },
    });
    expect(r.code).toBe(2);
    const doc = r.json();
    expect(doc.status).toBe('critical');
    expect(doc.checks[0]).toMatchObject({ name: 'config', status: 'critical' });
    expect(doc.checks[0].data.issues[0]).toMatchObject({ key: 'REDIS_PORT' });
    expect(doc.checks[1]).toMatchObject({
      name: 'database',
      status: 'unknown',
      detail: 'skipped: configuration invalid',
    });
  });

  it('an unknown check name is a usage error with a suggestion; a bad --timeout too', async () => {
    let r = await runWks(['health', '--check', 'backup'], { cwd: tmpDir('health-e2e') });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown check "backup"/);
    expect(r.stderr).toMatch(/did you mean backups\?/);
    r = await runWks(['health', '--timeout', 'soon', '--json'], { cwd: tmpDir('health-e2e') });
    expect(r.code).toBe(2);
    expect(r.json().error.code).toBe('usage');
  });

  it('never prints a PostgreSQL password, even when the server is unreachable', async () => {
    const r = await runWks(['health', '--check', 'database', '--json', '--timeout', '3s'], {
      cwd: tmpDir('health-e2e'),
      env: { PG_URL: 'postgres://wks:hunter2secret@127.0.0.1:1/wks', PG_ENABLED: 'true' },
    });
    expect(r.code).toBe(2);
    expect(r.stdout + r.stderr).not.toContain('hunter2secret');
    expect(r.json().checks[0].status).toBe('critical');
  });
});
