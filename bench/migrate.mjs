#!/usr/bin/env node
// Benchmark (issue #3): wall time of `wks migrate up` applying 200 trivial
// migrations, as a ratio of dbmate (npm package `dbmate`, the Go binary)
// applying the same 200 files, on SQLite and on the local PostgreSQL.
// Target: <= 1.5x. Both are timed end to end as a CLI process (start-up
// included), each on a fresh database, alternating, R rounds, medians.
// wks also applies its own built-in migrations (0001-0003: the platform's 9 tables
// and the lock audit table) on top of the 200; that work is counted against wks.
//
// dbmate is installed into a temp prefix, never into package.json:
//   npm install --prefix /tmp/wks-bench-dbmate dbmate
// Needs a build (npm run build). Env: R (rounds, default 5), N (migrations,
// default 200), WKS_TEST_PG_URL (default postgres://postgres@127.0.0.1:5432/test).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const R = Number(process.env.R ?? 5);
const N = Number(process.env.N ?? 200);
const PG_URL = process.env.WKS_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const wks = fileURLToPath(new URL('../bin/wks.js', import.meta.url));
const prefix = '/tmp/wks-bench-dbmate';
const dbmate = path.join(prefix, 'node_modules', '.bin', 'dbmate');

if (!existsSync(dbmate)) {
  console.error(`installing dbmate into ${prefix} (not into package.json) ...`);
  const r = spawnSync('npm', ['install', '--prefix', prefix, 'dbmate', '--no-audit', '--no-fund'], {
    stdio: 'inherit',
  });
  if (r.status !== 0 || !existsSync(dbmate)) {
    console.error('could not install dbmate: benchmark not run');
    process.exit(1);
  }
}
const ver = spawnSync(dbmate, ['--version'], { encoding: 'utf8' });
if (ver.status !== 0) {
  console.error(`dbmate binary does not run here (${ver.stderr || ver.error}): benchmark not run`);
  process.exit(1);
}

const work = mkdtempSync(path.join(tmpdir(), 'wks-bench-migrate-'));
const dir = path.join(work, 'migrations');
mkdirSync(dir);
for (let i = 0; i < N; i++) {
  const v = String(20260101000000 + i);
  writeFileSync(
    path.join(dir, `${v}_t${i}.sql`),
    `-- migrate:up\nCREATE TABLE bench_t${i} (id INTEGER PRIMARY KEY, name TEXT);\n\n-- migrate:down\nDROP TABLE bench_t${i};\n`,
  );
}

function timed(cmd, args, opts) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...opts });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return ms;
}

function psql(db, sql) {
  const u = new URL(PG_URL);
  u.pathname = `/${db}`;
  const r = spawnSync('psql', [u.toString(), '-qAtc', sql], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`psql: ${r.stderr}`);
}

const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const results = {};

function round(engine, i) {
  if (engine === 'sqlite') {
    const a = path.join(work, `dbmate-${i}.db`);
    const b = path.join(work, `wks-${i}`);
    mkdirSync(b);
    const tDbmate = timed(dbmate, ['--url', `sqlite:${a}`, '--migrations-dir', dir, '--no-dump-schema', 'up'], {});
    const tWks = timed(process.execPath, [wks, 'migrate', 'up', '--no-backup'], {
      cwd: b,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, WKS_MIGRATIONS_DIR: dir },
    });
    return [tDbmate, tWks];
  }
  const da = `wks_bench_dbmate_${process.pid}_${i}`;
  const dw = `wks_bench_wks_${process.pid}_${i}`;
  psql('postgres', `CREATE DATABASE ${da}`);
  psql('postgres', `CREATE DATABASE ${dw}`);
  try {
    const u = new URL(PG_URL);
    u.pathname = `/${da}`;
    u.searchParams.set('sslmode', 'disable');
    const tDbmate = timed(dbmate, ['--url', u.toString(), '--migrations-dir', dir, '--no-dump-schema', 'up'], {});
    const w = new URL(PG_URL);
    w.pathname = `/${dw}`;
    const tWks = timed(process.execPath, [wks, 'migrate', 'up', '--no-backup'], {
      cwd: work,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        WKS_MIGRATIONS_DIR: dir,
        PG_ENABLED: 'true',
        PG_URL: w.toString(),
      },
    });
    return [tDbmate, tWks];
  } finally {
    psql('postgres', `DROP DATABASE IF EXISTS ${da} WITH (FORCE)`);
    psql('postgres', `DROP DATABASE IF EXISTS ${dw} WITH (FORCE)`);
  }
}

try {
  console.log(
    `${ver.stdout.trim()}; ${N} trivial migrations; ${R} rounds (fresh database each), medians; wks also applies its 3 built-ins\n`,
  );
  for (const engine of ['sqlite', 'postgres']) {
    const d = [];
    const w = [];
    try {
      for (let i = 0; i < R; i++) {
        const [a, b] = round(engine, i);
        d.push(a);
        w.push(b);
      }
    } catch (err) {
      console.log(`${engine}: not measured (${err.message.split('\n')[0]})`);
      continue;
    }
    const ratio = median(w) / median(d);
    results[engine] = ratio;
    console.log(
      `${engine.padEnd(9)} dbmate ${median(d).toFixed(0).padStart(6)} ms   wks ${median(w).toFixed(0).padStart(6)} ms   ratio ${ratio.toFixed(2)}x (target <= 1.5x) ${ratio <= 1.5 ? 'MET' : 'NOT MET'}`,
    );
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
