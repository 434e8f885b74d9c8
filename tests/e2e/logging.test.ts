/**
 * Structured logs of `wks serve` as an operator runs it: LOG_LEVEL, LOG_FILE
 * with logrotate's move + SIGHUP, and a Redis outage that must not flood the
 * log (a private redis-server on a free port is stopped and started again).
 */
import { describe, it, expect, beforeAll } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, renameSync, existsSync } from 'node:fs';
import path from 'node:path';
import { runWks } from '../helpers/cli.js';
import { freePort } from '../helpers/net.js';
import { startServe, eventually } from '../helpers/serve.js';
import { tmpDir } from '../helpers/tmp.js';

let dir: string;
let env: Record<string, string>;
beforeAll(async () => {
  dir = tmpDir('wks-logging');
  env = { DATABASE_PATH: path.join(dir, 'w.db'), BACKUP_STORAGE_PATH: path.join(dir, 'backups') };
  const r = await runWks(['migrate', 'up'], { env, cwd: dir });
  expect(r.code, r.stderr).toBe(0);
});

const jsonLines = (f: string) =>
  readFileSync(f, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { level: string; msg: string; time: string });

describe('wks serve logging', () => {
  it('LOG_LEVEL=error suppresses info lines (and info shows them)', async () => {
    const quiet = await startServe([], { ...env, LOG_LEVEL: 'error' }, dir);
    expect((await quiet.stop()).code).toBe(0);
    expect(quiet.stderr()).toBe('');
    const normal = await startServe([], { ...env, LOG_LEVEL: 'info' }, dir);
    await normal.waitFor(/serving http:\/\//);
    expect((await normal.stop()).code).toBe(0);
    expect(normal.stderr()).toMatch(/INFO: stopped/);
  });

  it('--json: one JSON line per log entry on stderr', async () => {
    const s = await startServe(['--json'], env, dir);
    await s.waitFor(/"msg":"serving http/);
    await s.stop();
    const lines = s.stderr().trim().split('\n');
    for (const l of lines) expect(() => JSON.parse(l), l).not.toThrow();
    expect(lines.map((l) => JSON.parse(l).msg)).toContain('stopped');
  });

  it('LOG_FILE: JSON lines; after a move and SIGHUP, two files and no lost line', async () => {
    const file = path.join(dir, 'log', 'wks.log');
    const s = await startServe([], { ...env, LOG_FILE: file }, dir);
    expect(s.stderr()).toBe('');
    await eventually(
      async () => existsSync(file) && readFileSync(file, 'utf8'),
      (t) => typeof t === 'string' && t.includes('serving http'),
      10_000,
    );
    renameSync(file, `${file}.1`); // logrotate's default: move, then signal
    s.child.kill('SIGHUP');
    await eventually(
      async () => existsSync(file) && readFileSync(file, 'utf8'),
      (t) => typeof t === 'string' && t.includes('reopened'),
      10_000,
    );
    expect((await s.stop()).code).toBe(0);
    const old = jsonLines(`${file}.1`).map((l) => l.msg);
    const cur = jsonLines(file).map((l) => l.msg);
    expect(old.at(-1)).toMatch(/^SIGHUP: reopening the log file /);
    expect(cur[0]).toMatch(/^log file .* reopened$/);
    expect(cur).toEqual(expect.arrayContaining(['stopped']));
    const all = [...old, ...cur];
    for (const m of [/^role: leader/, /^serving http/, /^SIGHUP/, /reopened$/, /^SIGTERM received/, /^stopped$/])
      expect(
        all.filter((x) => m.test(x)),
        String(m),
      ).toHaveLength(1);
    expect(readFileSync(`${file}.1`, 'utf8').endsWith('\n')).toBe(true);
  });
});

describe('any command with -v', () => {
  it('logs through the same logger: JSON lines only on stderr under --json, one document on stdout', async () => {
    const d = tmpDir('wks-logging-v');
    const e = { DATABASE_PATH: path.join(d, 'w.db'), BACKUP_STORAGE_PATH: path.join(d, 'b') };
    const r = await runWks(['-v', '--json', 'migrate', 'up', '--no-backup'], { env: e, cwd: d });
    expect(r.code, r.stderr).toBe(0);
    expect(r.json()).toBeTypeOf('object');
    const lines = r.stderr.trim().split('\n');
    expect(lines.length).toBeGreaterThan(2);
    const docs = lines.map((l) => JSON.parse(l) as { level: string; msg: string });
    expect(docs.some((x) => x.level === 'debug' && /^applying 0001_/.test(x.msg))).toBe(true);
    expect(docs.some((x) => x.level === 'info' && /^applied 0001_/.test(x.msg))).toBe(true);
  });

  it('with LOG_FILE, the -v detail goes to the file as JSON lines', async () => {
    const d = tmpDir('wks-logging-vf');
    const file = path.join(d, 'wks.log');
    const e = { DATABASE_PATH: path.join(d, 'w.db'), BACKUP_STORAGE_PATH: path.join(d, 'b'), LOG_FILE: file };
    const r = await runWks(['-v', 'migrate', 'up', '--no-backup'], { env: e, cwd: d });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/applying 0001_/);
    expect(jsonLines(file).some((x) => x.level === 'debug' && /^applying 0001_/.test(x.msg))).toBe(true);
  });
});

describe('a Redis outage', () => {
  const redisServer = spawnSync('redis-server', ['--version']).status === 0;

  async function startRedis(port: number): Promise<ChildProcess> {
    const child = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' },
    );
    await eventually(
      async () => spawnSync('redis-cli', ['-p', String(port), 'ping'], { encoding: 'utf8' }).stdout.trim(),
      (v) => v === 'PONG',
      10_000,
    );
    return child;
  }

  it('is logged when it starts, counted while it lasts and logged when it ends: a handful of lines', async (ctx) => {
    if (!redisServer) {
      if (process.env.CI === 'true') throw new Error('redis-server is required under CI');
      ctx.skip();
    }
    const port = await freePort();
    let redis = await startRedis(port);
    const file = path.join(dir, 'outage.log');
    const s = await startServe(
      [],
      {
        ...env,
        REDIS_ENABLED: 'true',
        REDIS_PORT: String(port),
        REDIS_NAMESPACE: `wks-outage-${process.pid}`,
        METRICS_SCRAPE_CACHE_MS: '0',
        LOG_FILE: file,
        WKS_LOG_REPEAT_INTERVAL: '4s',
      },
      dir,
    );
    try {
      await eventually(
        async () => (existsSync(file) ? readFileSync(file, 'utf8') : ''),
        (t) => t.includes('serving http'),
        10_000,
      );
      // Redis answered at start: nothing about it yet.
      await eventually(
        async () => (await (await fetch(`${s.url}/metrics`)).text()).match(/^wks_up\{dependency="redis"\} (\d)/m)?.[1],
        (v) => v === '1',
        10_000,
      );
      const before = jsonLines(file).length;
      redis.kill('SIGKILL');
      const t0 = Date.now();
      // ioredis reconnects every 2 s at most: several failed attempts in this outage.
      await new Promise((r) => setTimeout(r, 10_000));
      redis = await startRedis(port);
      await eventually(
        async () => readFileSync(file, 'utf8'),
        (t) => /Redis is available again/.test(t),
        15_000,
      );
      const outage = jsonLines(file).slice(before);
      const about = outage.filter((l) => /Redis/.test(l.msg));
      const dump = JSON.stringify(outage, null, 1);
      // Once when it starts, one summary per 4 s interval, once when it ends: not a line per attempt.
      expect(
        about.filter((l) => l.msg === 'Redis is unavailable' && l.error),
        dump,
      ).toHaveLength(1);
      expect(
        about.filter((l) => /^Redis is unavailable \(repeated \d+ times in the last \d+ s; /.test(l.msg) && l.error)
          .length,
        dump,
      ).toBeGreaterThanOrEqual(1);
      expect(
        about.filter((l) => l.msg === 'Redis is available again' && l.after_repeats >= 1 && l.after_ms >= 1000),
        dump,
      ).toHaveLength(1);
      expect(about.length, dump).toBeLessThanOrEqual(5);
      expect(outage.length, dump).toBeLessThanOrEqual(8);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(10_000);
    } finally {
      await s.stop();
      redis.kill('SIGKILL');
    }
  });
});
