#!/usr/bin/env node
// Benchmarks for `wks backup` (issue #4), each printed as a ratio against the
// reference tool run in the same script, on a generated database with mixed,
// realistic data in the platform's schema (users, workflows, executions, metrics,
// agent health checks, rate limits, backup_log).
//
//   npm run build && node bench/backup.mjs           # ~1 GiB (BENCH_SIZE_MB=1024)
//   BENCH_SIZE_MB=256 node bench/backup.mjs          # smaller, faster
//   BENCH_RUNS=3 ...                                 # best of N per side (default 2)
//
// The database is generated once into bench/.data/ (gitignored) and reused.
// Targets: create none <= 1.2x `.backup` (sha256 included); create zstd <= 1.3x
// `.backup` + `zstd -3 -T2`; verify <= 1.3x `openssl dgst -sha256` + quick_check;
// restore (verify excluded) <= 2x `cp` + `sync`; writer p99 during a backup <= 50 ms;
// peak RSS of create <= 150 MB.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const Database = require('better-sqlite3');
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const WKS = path.join(ROOT, 'bin/wks.js');
const SIZE_MB = Number(process.env.BENCH_SIZE_MB ?? 1024);
const RUNS = Number(process.env.BENCH_RUNS ?? 2);
const DATA = path.join(ROOT, 'bench/.data');
const DB = path.join(DATA, `bench-${SIZE_MB}mb.db`);
const WORK = path.join(DATA, 'work');

if (!existsSync(path.join(ROOT, 'dist/cli.js'))) throw new Error('build first: npm run build');
mkdirSync(DATA, { recursive: true });
writeFileSync(path.join(DATA, '.gitignore'), '*\n');

const env = (extra = {}) => ({
  PATH: process.env.PATH,
  HOME: process.env.HOME,
  DATABASE_PATH: DB,
  BACKUP_STORAGE_PATH: path.join(WORK, 'backups'),
  ...extra,
});
const sec = (ms) => `${(ms / 1000).toFixed(2)} s`;

// ---------------------------------------------------------------- data
function generate() {
  console.log(`generating ${SIZE_MB} MiB of data in the platform's schema into ${DB} (once) ...`);
  rmSync(DB, { force: true });
  const m = spawnSync(process.execPath, [WKS, 'migrate', 'up', '--no-backup'], { env: env(), encoding: 'utf8' });
  if (m.status !== 0) throw new Error(`migrate up failed: ${m.stderr}`);
  const db = new Database(DB);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = OFF');
  let seed = 42;
  const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  const words =
    'workflow agent deploy build test lint release sync fetch parse index render notify retry timeout queue worker lease backup verify restore rotate metric health check error warning ok failed pending running completed'.split(
      ' ',
    );
  const sentence = (n) => Array.from({ length: n }, () => words[Math.floor(rnd() * words.length)]).join(' ');
  const t0 = Date.parse('2026-01-01T00:00:00Z');
  const ts = (i) => new Date(t0 + i * 1000).toISOString().replace('T', ' ').slice(0, 19);
  const insUser = db.prepare('INSERT INTO users (username, email, password_hash) VALUES (?, ?, ?)');
  const insWf = db.prepare('INSERT INTO workflows (name, description, user_id, status) VALUES (?, ?, ?, ?)');
  const insAgent = db.prepare("INSERT INTO agents (name, type, status, config_json) VALUES (?, ?, 'active', ?)");
  db.transaction(() => {
    for (let i = 1; i <= 20_000; i++)
      insUser.run(
        `user${i}`,
        `user${i}@example.com`,
        `$2b$10$${Math.floor(rnd() * 1e16)
          .toString(36)
          .padEnd(53, 'x')}`,
      );
    for (let i = 1; i <= 50_000; i++)
      insWf.run(
        `workflow-${i}`,
        sentence(20 + Math.floor(rnd() * 40)),
        1 + (i % 20_000),
        ['active', 'paused', 'archived'][i % 3],
      );
    for (let i = 1; i <= 21; i++)
      insAgent.run(
        `agent${i}`,
        ['browser', 'shell', 'http'][i % 3],
        JSON.stringify({ timeout: 30000, retries: 3, tags: sentence(5) }),
      );
  })();
  const insExec = db.prepare(
    'INSERT INTO workflow_executions (workflow_id, status, started_at, completed_at, error_message) VALUES (?, ?, ?, ?, ?)',
  );
  const insMetric = db.prepare(
    'INSERT INTO metrics (metric_name, metric_value, labels_json, timestamp) VALUES (?, ?, ?, ?)',
  );
  const insHealth = db.prepare(
    'INSERT INTO agent_health_checks (agent_id, check_time, status, response_time_ms, error_message, metrics_json) VALUES (?, ?, ?, ?, ?, ?)',
  );
  const insRate = db.prepare(
    'INSERT INTO rate_limits (user_id, ip_address, endpoint, request_count, window_start, window_end) VALUES (?, ?, ?, ?, ?, ?)',
  );
  const target = SIZE_MB * 1024 * 1024;
  let i = 0;
  const size = () => db.pragma('page_count', { simple: true }) * db.pragma('page_size', { simple: true });
  while (size() < target) {
    db.transaction(() => {
      for (let k = 0; k < 20_000; k++, i++) {
        const failed = rnd() < 0.1;
        insExec.run(
          1 + (i % 50_000),
          failed ? 'failed' : 'completed',
          ts(i),
          ts(i + 30),
          failed ? `step ${Math.floor(rnd() * 9)} failed: ${sentence(12)}` : null,
        );
        insMetric.run(
          ['http_requests_total', 'workflow_executions_total', 'database_query_duration_seconds'][i % 3],
          rnd() * 1000,
          JSON.stringify({ method: 'GET', endpoint: `/api/${words[i % words.length]}`, status_code: 200 }),
          ts(i),
        );
        if (k % 4 === 0)
          insHealth.run(
            1 + (i % 21),
            ts(i),
            rnd() < 0.95 ? 'healthy' : 'degraded',
            Math.floor(rnd() * 500),
            null,
            JSON.stringify({ cpu: rnd(), mem: Math.floor(rnd() * 1e9), note: sentence(6) }),
          );
        if (k % 8 === 0)
          insRate.run(
            1 + (i % 20_000),
            `10.0.${i % 256}.${(i >> 8) % 256}`,
            `/api/${words[i % words.length]}`,
            1 + Math.floor(rnd() * 100),
            ts(i),
            ts(i + 900),
          );
      }
    })();
  }
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
}

if (!existsSync(DB)) generate();
const ONLY = process.env.BENCH_ONLY ? new Set(process.env.BENCH_ONLY.split(',')) : null; // e.g. BENCH_ONLY=create,restore
const want = (k) => !ONLY || ONLY.has(k);
const dbBytes = statSync(DB).size;
console.log(
  `database: ${DB} (${(dbBytes / 1048576).toFixed(0)} MiB)${SIZE_MB < 1024 ? `  [REDUCED SCALE: ${SIZE_MB} MiB instead of 1 GiB]` : ''}, best of ${RUNS} run(s) per side\n`,
);

// ---------------------------------------------------------------- helpers
function fresh() {
  rmSync(WORK, { recursive: true, force: true });
  mkdirSync(WORK, { recursive: true });
}
function timed(cmd, args, opts = {}) {
  const t = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...opts });
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return { ms, stdout: r.stdout, stderr: r.stderr };
}
const sh = (script) => timed('sh', ['-c', script]);
const wks = (args, extra) => timed(process.execPath, [WKS, ...args], { env: env(extra) });
function best(fn) {
  let b = Infinity;
  for (let i = 0; i < RUNS; i++) b = Math.min(b, fn());
  return b;
}
const results = [];
function report(name, ours, ref, target, refName) {
  const ratio = ours / ref;
  results.push({ name, ours, ref, ratio, target });
  console.log(
    `${name.padEnd(34)} wks ${sec(ours).padStart(9)}  ${refName} ${sec(ref).padStart(9)}  ratio ${ratio.toFixed(2)}x (target <= ${target}x) ${ratio <= target ? 'MET' : 'NOT MET'}`,
  );
}
const q = (s) => `'${s.replace(/'/g, "'\\''")}'`;

// ---------------------------------------------------------------- 1. create --compress none vs .backup
if (want('create')) {
  const createNone = best(() => {
    fresh();
    return wks(['backup', 'create', '--compress', 'none', '--no-encrypt']).ms;
  });
  const refBackup = best(() => {
    fresh();
    return sh(`sqlite3 ${q(DB)} ".backup ${q(path.join(WORK, 'ref.db'))}"`).ms;
  });
  report('create --compress none', createNone, refBackup, 1.2, 'sqlite3 .backup');

  // ---------------------------------------------------------------- 2. create zstd vs .backup + zstd -3 -T2
  const createZstd = best(() => {
    fresh();
    return wks(['backup', 'create', '--compress', 'zstd', '--no-encrypt']).ms;
  });
  const refZstd = best(() => {
    fresh();
    const out = path.join(WORK, 'ref.db');
    return sh(`sqlite3 ${q(DB)} ".backup ${q(out)}" && zstd -3 -T2 -q -f ${q(out)} -o ${q(out)}.zst`).ms;
  });
  report('create --compress zstd', createZstd, refZstd, 1.3, '.backup + zstd -3 -T2');
}

// ---------------------------------------------------------------- 3. verify (plain) vs sha256 + quick_check
if (want('verify') || want('restore')) {
  fresh();
  const made = JSON.parse(wks(['backup', 'create', '--compress', 'none', '--no-encrypt', '--json']).stdout).backup;
  const plainFile = path.join(WORK, 'backups', made.file);
  if (want('verify')) {
    const verify = best(() => wks(['backup', 'verify', made.id]).ms);
    const refVerify = best(
      () =>
        sh(
          `openssl dgst -sha256 ${q(plainFile)} >/dev/null && sqlite3 -readonly ${q(plainFile)} "PRAGMA quick_check" >/dev/null`,
        ).ms,
    );
    report('verify (plain)', verify, refVerify, 1.3, 'sha256 + quick_check');
  }

  // ---------------------------------------------------------------- 4. restore (verify excluded) vs cp + sync
  if (want('restore')) {
    const restoreTo = path.join(WORK, 'restored.db');
    const restore = best(() => {
      rmSync(restoreTo, { force: true });
      const r = JSON.parse(wks(['backup', 'restore', made.id, '--to', restoreTo, '--yes', '--json']).stdout);
      return r.timings.install_ms; // decode + fsync + rename + post-restore quick_check
    });
    const refCp = best(() => {
      rmSync(restoreTo, { force: true });
      return sh(`cp ${q(plainFile)} ${q(restoreTo)} && sync`).ms;
    });
    report('restore (install, verify excluded)', restore, refCp, 2, 'cp + sync');
  }
}

// ---------------------------------------------------------------- 5. writer latency during a backup
async function writerDuringBackup() {
  fresh();
  const stopFile = path.join(WORK, 'stop-writer');
  // The writer inserts one row per millisecond (setTimeout 1) until the stop file appears,
  // then prints its latency distribution as one JSON line.
  const writer = spawn(
    process.execPath,
    [
      '-e',
      `
    const fs = require('fs');
    const D = require(${JSON.stringify(require.resolve('better-sqlite3'))});
    const db = new D(${JSON.stringify(DB)}); db.pragma('busy_timeout = 10000');
    const ins = db.prepare("INSERT INTO metrics (metric_name, metric_value) VALUES ('bench_writer', ?)");
    const lat = [];
    (function tick() {
      const t = process.hrtime.bigint(); ins.run(lat.length); lat.push(Number(process.hrtime.bigint() - t) / 1e6);
      if (lat.length % 50 !== 0 || !fs.existsSync(${JSON.stringify(stopFile)})) return void setTimeout(tick, 1);
      lat.sort((a, b) => a - b);
      console.log(JSON.stringify({ n: lat.length, p50: lat[Math.floor(lat.length * 0.5)], p99: lat[Math.floor(lat.length * 0.99)], max: lat[lat.length - 1] }));
      db.close();
    })();
  `,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  writer.stdout.on('data', (d) => (out += d));
  await new Promise((r) => setTimeout(r, 500));
  const t = Date.now();
  const child = spawn(process.execPath, [WKS, 'backup', 'create', '--compress', 'zstd', '--no-encrypt'], {
    env: env(),
    stdio: 'ignore',
  });
  await new Promise((r) => child.on('close', r));
  const backupMs = Date.now() - t;
  writeFileSync(stopFile, '');
  await new Promise((r) => writer.on('close', r));
  return { ...JSON.parse(out), backupMs };
}
if (want('writer')) {
  const w = await writerDuringBackup();
  console.log(
    `${'writer latency during create'.padEnd(34)} ${w.n} inserts over ${sec(w.backupMs)}: p50 ${w.p50.toFixed(2)} ms, p99 ${w.p99.toFixed(2)} ms, max ${w.max.toFixed(1)} ms (target p99 <= 50 ms) ${w.p99 <= 50 ? 'MET' : 'NOT MET'}`,
  );
  // clean the writer's rows so the next runs see the same database
  {
    const db = new Database(DB);
    db.prepare("DELETE FROM metrics WHERE metric_name = 'bench_writer'").run();
    db.pragma('wal_checkpoint(TRUNCATE)');
    db.close();
  }
}

// ---------------------------------------------------------------- 6. peak RSS of create
function peakRss(compress) {
  fresh();
  const r = spawnSync(
    '/usr/bin/time',
    ['-f', '%M', process.execPath, WKS, 'backup', 'create', '--compress', compress, '--no-encrypt'],
    { env: env(), encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(r.stderr);
  return Number(r.stderr.trim().split('\n').pop()) / 1024;
}
if (want('rss'))
  for (const c of ['none', 'zstd', 'gzip']) {
    const mb = peakRss(c);
    console.log(
      `${`peak RSS of create --compress ${c}`.padEnd(34)} ${mb.toFixed(1)} MB (node process; target <= 150 MB) ${mb <= 150 ? 'MET' : 'NOT MET'}`,
    );
  }
fresh();
rmSync(WORK, { recursive: true, force: true });
