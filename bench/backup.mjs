#!/usr/bin/env node
// Benchmarks for `wks backup` (issue #4), each printed as a ratio against the
// reference tool run in the same script, on a generated database with mixed,
// realistic data in the platform's schema (users, workflows, executions, metrics,
// agent health checks, rate limits, backup_log).
//
//   npm run build && node bench/backup.mjs           # ~1 GiB (BENCH_SIZE_MB=1024)
//   BENCH_SIZE_MB=256 node bench/backup.mjs          # smaller, faster
//   BENCH_RUNS=5 ...                                 # runs per side, interleaved; median (default 3, at least 3)
//
// The database is generated once into bench/.data/ (gitignored) and reused.
// Targets (issue #15): create none <= 1.2x `.backup` (sha256 included), and its
// fixed cost (extrapolated to an empty database) <= 0.15 s; create zstd <= 1.2x
// `.backup` + `zstd -3 -T2` (on Node >= 22.15 both Node's zstd and the zstd
// program are measured); verify <= 1.3x `openssl dgst -sha256` + quick_check;
// restore: what it adds to a verify (its wall time minus a verify's, the install: writing the image
// beside the target, fsync, rename; restore verifies the very file it installs, in one pass)
// <= 1.5x `cp` + `sync`, end to end <= verify + 1.5x `cp` + `sync`;
// writer p99 during a backup <= 50 ms with synchronous=FULL, beside a reference
// backup (Python's one-step sqlite3 backup(); `sqlite3 .backup` restarts on every
// write and never finishes under a 1 ms writer); peak RSS of create <= 150 MB.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DATA, ensureDatabase } from './data.mjs';
import { RUNS, header, interleave, median, note, report, seconds, summary, timed } from './lib.mjs';

const require = createRequire(import.meta.url);
const Database = require('better-sqlite3');
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const WKS = path.join(ROOT, 'bin/wks.js');
const SIZE_MB = Number(process.env.BENCH_SIZE_MB ?? 1024);
const DB = ensureDatabase(SIZE_MB);
const WORK = path.join(DATA, 'work');

const env = (extra = {}) => ({
  PATH: process.env.PATH,
  HOME: process.env.HOME,
  DATABASE_PATH: DB,
  BACKUP_STORAGE_PATH: path.join(WORK, 'backups'),
  ...extra,
});
const [nodeMajor, nodeMinor] = process.versions.node.split('.').map(Number);
const nodeHasZstd = nodeMajor > 22 || (nodeMajor === 22 && nodeMinor >= 15);

const ONLY = process.env.BENCH_ONLY ? new Set(process.env.BENCH_ONLY.split(',')) : null; // e.g. BENCH_ONLY=create,restore
const want = (k) => !ONLY || ONLY.has(k);
const dbBytes = statSync(DB).size;
header(
  `wks backup: database ${DB} (${(dbBytes / 1048576).toFixed(0)} MiB)${SIZE_MB < 1024 ? `  [REDUCED SCALE: ${SIZE_MB} MiB instead of 1 GiB]` : ''}`,
);

// ---------------------------------------------------------------- helpers
function fresh() {
  rmSync(WORK, { recursive: true, force: true });
  mkdirSync(WORK, { recursive: true });
}
const sh = (script) => timed('sh', ['-c', script]);
const wks = (args, extra) => timed(process.execPath, [WKS, ...args], { env: env(extra) });
const q = (s) => `'${s.replace(/'/g, "'\\''")}'`;
const ZSTD_PROGRAM = spawnSync('sh', ['-c', 'command -v zstd'], { encoding: 'utf8' }).stdout.trim();

// ---------------------------------------------------------------- 1. create --compress none vs .backup
if (want('create')) {
  const t = await interleave(
    {
      wks: () => wks(['backup', 'create', '--compress', 'none', '--no-encrypt']).ms,
      ref: () => sh(`sqlite3 ${q(DB)} ".backup ${q(path.join(WORK, 'ref.db'))}"`).ms,
    },
    { before: fresh },
  );
  report('create --compress none', t.wks, 'sqlite3 .backup', t.ref, 1.2);

  // ---------------------------------------------------------------- 2. create zstd vs .backup + zstd -3 -T2
  const zcases = {
    wks: () => wks(['backup', 'create', '--compress', 'zstd', '--no-encrypt']).ms,
    ref: () => {
      const out = path.join(WORK, 'ref.db');
      return sh(`sqlite3 ${q(DB)} ".backup ${q(out)}" && zstd -3 -T2 -q -f ${q(out)} -o ${q(out)}.zst`).ms;
    },
  };
  // On Node >= 22.15 wks uses Node's own zstd; the zstd program (WKS_ZSTD_PATH) is measured beside it.
  if (nodeHasZstd && ZSTD_PROGRAM)
    zcases.program = () =>
      wks(['backup', 'create', '--compress', 'zstd', '--no-encrypt'], { WKS_ZSTD_PATH: ZSTD_PROGRAM }).ms;
  const z = await interleave(zcases, { before: fresh });
  report(`create --compress zstd (${nodeHasZstd ? "Node's zstd" : 'zstd program'})`, z.wks, '.backup+zstd', z.ref, 1.2);
  if (z.program) report('create --compress zstd (zstd program)', z.program, '.backup+zstd', z.ref, 1.2);
}

// ---------------------------------------------------------------- 3. verify (plain) vs sha256 + quick_check
// ---------------------------------------------------------------- 4. restore, install and end to end, vs cp + sync
if (want('verify') || want('restore')) {
  fresh();
  const made = JSON.parse(wks(['backup', 'create', '--compress', 'none', '--no-encrypt', '--json']).stdout).backup;
  const plainFile = path.join(WORK, 'backups', made.file);
  const restoreTo = path.join(WORK, 'restored.db');
  const t = await interleave(
    {
      verify: () => wks(['backup', 'verify', made.id]).ms,
      refVerify: () =>
        sh(
          `openssl dgst -sha256 ${q(plainFile)} >/dev/null && sqlite3 -readonly ${q(plainFile)} "PRAGMA quick_check" >/dev/null`,
        ).ms,
      // End to end: what the operator waits for (verify first, install, checks), from spawn to exit.
      restore: () => wks(['backup', 'restore', made.id, '--to', restoreTo, '--yes', '--json']).ms,
      cp: () => sh(`cp ${q(plainFile)} ${q(restoreTo)} && sync`).ms,
    },
    { before: () => rmSync(restoreTo, { force: true }) },
  );
  if (want('verify')) report('verify (plain)', t.verify, 'sha256+quick_check', t.refVerify, 1.3);
  if (want('restore')) {
    // Per round (the runs are interleaved): the restore's time beyond the verify run beside it.
    const beyond = t.restore.map((ms, i) => ms - t.verify[i]);
    report('restore beyond verify (install)', beyond, 'cp + sync', t.cp, 1.5);
    const budget = median(t.verify) + 1.5 * median(t.cp);
    report('restore end to end', t.restore, 'verify+1.5*cp', budget, 1.0);
  }
}

// ---------------------------------------------------------------- 5. writer latency during a backup
// The writer inserts one row per millisecond with synchronous=FULL (every commit fsynced, as a careful
// application runs) until the stop file appears, then prints its latency distribution as one JSON line.
function startWriter(stopFile) {
  const writer = spawn(
    process.execPath,
    [
      '-e',
      `
    const fs = require('fs');
    const D = require(${JSON.stringify(require.resolve('better-sqlite3'))});
    const db = new D(${JSON.stringify(DB)}); db.pragma('busy_timeout = 10000'); db.pragma('synchronous = FULL');
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
  return { done: new Promise((r) => writer.on('close', () => r(JSON.parse(out)))) };
}
async function writerDuring(cmd, args, extraEnv) {
  fresh();
  const stopFile = path.join(WORK, 'stop-writer');
  const w = startWriter(stopFile);
  await new Promise((r) => setTimeout(r, 500));
  const t = Date.now();
  const child = spawn(cmd, args, { env: { ...env(), ...extraEnv }, stdio: 'ignore' });
  const code = await new Promise((r) => child.on('close', r));
  const backupMs = Date.now() - t;
  writeFileSync(stopFile, '');
  const lat = await w.done;
  const db = new Database(DB); // the writer's rows go, so every run sees the same database
  db.prepare("DELETE FROM metrics WHERE metric_name = 'bench_writer'").run();
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
  if (code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${code}`);
  return { ...lat, backupMs };
}
if (want('writer')) {
  const py = spawnSync('python3', ['-c', 'import sqlite3'], { stdio: 'ignore' }).status === 0;
  const runs = { wks: [], ref: [] };
  for (let i = 0; i < RUNS; i++) {
    runs.wks.push(
      await writerDuring(process.execPath, [WKS, 'backup', 'create', '--compress', 'zstd', '--no-encrypt']),
    );
    if (py) {
      const dst = path.join(WORK, 'py.db');
      runs.ref.push(
        await writerDuring('python3', [
          '-c',
          `import sqlite3; s = sqlite3.connect(${JSON.stringify(DB)}); d = sqlite3.connect(${JSON.stringify(dst)}); s.backup(d); d.close()`,
        ]),
      );
    }
  }
  const med = (xs, k) => median(xs.map((x) => x[k]));
  const p99 = med(runs.wks, 'p99');
  note(
    'writer p99 during create (sync=FULL)',
    `${Math.round(med(runs.wks, 'n'))} inserts over ${seconds(med(runs.wks, 'backupMs'))}: p50 ${med(runs.wks, 'p50').toFixed(2)} ms, p99 ${p99.toFixed(2)} ms (target <= 50 ms)`,
    p99 <= 50,
  );
  if (py) {
    note(
      'writer p99 during Python backup()',
      `reference: one-step backup finished in ${seconds(med(runs.ref, 'backupMs'))}; p50 ${med(runs.ref, 'p50').toFixed(2)} ms, p99 ${med(runs.ref, 'p99').toFixed(2)} ms (sqlite3 .backup never finishes under this writer)`,
    );
    note(
      'create (zstd) under a 1 ms writer',
      `wks finished in ${seconds(med(runs.wks, 'backupMs'))}, Python backup() in ${seconds(med(runs.ref, 'backupMs'))} (both finish; no target)`,
    );
  } else console.log('(python3 not found: the reference writer run is skipped)');
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
    const mb = median(Array.from({ length: RUNS }, () => peakRss(c)));
    note(`peak RSS of create --compress ${c}`, `${mb.toFixed(1)} MB (node process; target <= 150 MB)`, mb <= 150);
  }
fresh();
rmSync(WORK, { recursive: true, force: true });
summary();
