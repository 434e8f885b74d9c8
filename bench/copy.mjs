#!/usr/bin/env node
// Benchmark for `wks db copy` (issue #9): SQLite -> PostgreSQL rows/s and peak
// RSS, as a ratio against pgloader run in the same script on the same file.
//
//   npm run build && node bench/copy.mjs              # ~1 GiB (BENCH_SIZE_MB=1024)
//   BENCH_SIZE_MB=256 node bench/copy.mjs             # smaller, faster
//   BENCH_PG_URL=postgres://postgres@127.0.0.1:5432/postgres (admin URL used to create the bench databases)
//
// Data: the platform's schema (wks's own migrations), a few thousand rows in the
// small tables and the bulk in `metrics` (full-precision doubles, JSON labels,
// DATETIME text). Generated once into bench/.data/ (gitignored) and reused.
//
// Fairness: both tools read the same file into an empty database on the same
// server. pgloader gets `CAST type real to float8` so it is exact too (its
// default maps REAL to 4-byte real). Both create the indexes of the schema.
// wks's time is the WHOLE command: migrate up + COPY + sequence reset +
// verification by re-reading every row from PostgreSQL (pgloader verifies
// nothing); the copy phase alone is printed too. --no-backup for wks (a backup
// is a separate, benchmarked feature; pgloader takes none).
// Targets: wks rows/s >= 2x pgloader; wks peak RSS <= 200 MB.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const Database = require('better-sqlite3');
const pg = require('pg');
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const WKS = path.join(ROOT, 'bin/wks.js');
const SIZE_MB = Number(process.env.BENCH_SIZE_MB ?? 1024);
const ADMIN = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const DATA = path.join(ROOT, 'bench/.data');
const DB = path.join(DATA, `copy-${SIZE_MB}mb.db`);

if (!existsSync(path.join(ROOT, 'dist/cli.js'))) throw new Error('build first: npm run build');
mkdirSync(DATA, { recursive: true });
writeFileSync(path.join(DATA, '.gitignore'), '*\n');
const sec = (ms) => `${(ms / 1000).toFixed(1)} s`;
const fmt = (n) => Math.round(n).toLocaleString('en-US');

// ---------------------------------------------------------------- data
function generate() {
  console.log(`generating ~${SIZE_MB} MiB of data in the platform's schema into ${DB} (once) ...`);
  rmSync(DB, { force: true });
  const m = spawnSync(process.execPath, [WKS, 'migrate', 'up', '--no-backup'], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, DATABASE_PATH: DB },
    encoding: 'utf8',
  });
  if (m.status !== 0) throw new Error(`migrate up failed: ${m.stderr}`);
  const db = new Database(DB);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = OFF');
  let seed = 42;
  const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  const t0 = Date.parse('2026-01-01T00:00:00Z');
  const ts = (i) => new Date(t0 + i * 1000).toISOString().replace('T', ' ').slice(0, 19);
  db.transaction(() => {
    const u = db.prepare('INSERT INTO users (username, email, password_hash) VALUES (?, ?, ?)');
    for (let i = 1; i <= 5000; i++)
      u.run(`user${i}`, `user${i}@example.com`, `$2b$10$${i.toString(36).padEnd(53, 'x')}`);
    const w = db.prepare(
      'INSERT INTO workflows (name, description, user_id, status, created_at) VALUES (?, ?, ?, ?, ?)',
    );
    for (let i = 1; i <= 20000; i++)
      w.run(
        `workflow-${i}`,
        `does thing ${i} — ünïcode ✓`,
        1 + (i % 5000),
        ['active', 'paused', 'archived'][i % 3],
        ts(i),
      );
    const e = db.prepare(
      'INSERT INTO workflow_executions (workflow_id, status, started_at, completed_at, error_message) VALUES (?, ?, ?, ?, ?)',
    );
    for (let i = 1; i <= 100000; i++)
      e.run(
        1 + (i % 20000),
        ['pending', 'running', 'completed', 'failed'][i % 4],
        ts(i),
        i % 4 === 2 ? ts(i + 30) : null,
        i % 4 === 3 ? `error ${i}: timeout` : null,
      );
    const a = db.prepare("INSERT INTO agents (name, type, status, config_json) VALUES (?, 'shell', 'active', ?)");
    for (let i = 1; i <= 21; i++) a.run(`agent${i}`, JSON.stringify({ timeout: 30000, retries: 3 }));
    const h = db.prepare(
      'INSERT INTO agent_health_checks (agent_id, check_time, status, response_time_ms, metrics_json) VALUES (?, ?, ?, ?, ?)',
    );
    for (let i = 1; i <= 100000; i++)
      h.run(
        1 + (i % 21),
        ts(i),
        ['healthy', 'degraded', 'unhealthy'][i % 3],
        Math.floor(rnd() * 900),
        JSON.stringify({ cpu: rnd(), mem: rnd() }),
      );
  })();
  const names = Array.from(
    { length: 40 },
    (_, i) => `wks_metric_${['http_requests', 'queue_depth', 'latency_seconds', 'cpu_usage'][i % 4]}_${i}`,
  );
  const ins = db.prepare('INSERT INTO metrics (metric_name, metric_value, labels_json, timestamp) VALUES (?, ?, ?, ?)');
  const batch = db.transaction((from, n) => {
    for (let i = from; i < from + n; i++) {
      ins.run(
        names[i % 40],
        rnd() * 1000 + rnd() * 1e-9,
        `{"host":"node-${i % 97}","region":"eu-${i % 5}","job":"wks"}`,
        ts(i),
      );
    }
  });
  let i = 0;
  const target = SIZE_MB * 1024 * 1024;
  for (;;) {
    batch(i, 200_000);
    i += 200_000;
    db.pragma('wal_checkpoint(TRUNCATE)');
    if (statSync(DB).size >= target) break;
  }
  db.close();
  console.log(`  ${fmt(i)} metrics rows, ${(statSync(DB).size / 1048576).toFixed(0)} MiB`);
}

// ---------------------------------------------------------------- helpers
async function admin(sql) {
  const c = new pg.Client({ connectionString: ADMIN });
  await c.connect();
  try {
    return await c.query(sql);
  } finally {
    await c.end();
  }
}
function dbUrl(name) {
  const u = new URL(ADMIN);
  u.pathname = `/${name}`;
  return u.toString();
}
async function freshDb(name) {
  await admin(`DROP DATABASE IF EXISTS ${name}`);
  await admin(`CREATE DATABASE ${name}`);
}

/** Run a command under /usr/bin/time -v: wall ms, peak RSS (MiB), exit code, output. */
function timed(cmd, args, env) {
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    const child = spawn('/usr/bin/time', ['-v', cmd, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) => {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(err);
      resolve({ ms, rssMiB: rss ? Number(rss[1]) / 1024 : NaN, code, out, err });
    });
  });
}

async function count(name) {
  const c = new pg.Client({ connectionString: dbUrl(name) });
  await c.connect();
  try {
    const tables = ['users', 'workflows', 'workflow_executions', 'agents', 'agent_health_checks', 'metrics'];
    let n = 0;
    for (const t of tables) n += Number((await c.query(`SELECT count(*) AS n FROM ${t}`)).rows[0].n);
    const exact = (
      await c.query(
        `SELECT format_type(atttypid, atttypmod) AS t FROM pg_attribute WHERE attrelid = 'metrics'::regclass AND attname = 'metric_value'`,
      )
    ).rows[0].t;
    return { rows: n, metricValueType: exact };
  } finally {
    await c.end();
  }
}

// ---------------------------------------------------------------- run
if (!existsSync(DB)) generate();
const sizeMiB = statSync(DB).size / 1048576;
const src = new Database(DB, { readonly: true });
let sourceRows = 0;
for (const t of [
  'users',
  'workflows',
  'workflow_executions',
  'agents',
  'agent_health_checks',
  'metrics',
  'rate_limits',
  'backup_log',
  'workflow_execution_tracking',
]) {
  sourceRows += src.prepare(`SELECT count(*) AS n FROM ${t}`).get().n;
}
src.close();
console.log(
  `source: ${DB} (${sizeMiB.toFixed(0)} MiB, ${fmt(sourceRows)} rows)${SIZE_MB < 1024 ? `  [REDUCED SCALE: BENCH_SIZE_MB=${SIZE_MB}, target scale is 1024]` : ''}`,
);

// wks
await freshDb('wks_bench_copy_wks');
const wksEnv = { PATH: process.env.PATH, HOME: process.env.HOME, DATABASE_PATH: DB };
const w = await timed(
  process.execPath,
  [WKS, 'db', 'copy', '--to', dbUrl('wks_bench_copy_wks'), '--no-backup', '--json'],
  wksEnv,
);
if (w.code !== 0) {
  console.log(`wks db copy FAILED (exit ${w.code}):\n${w.out}\n${w.err}`);
  process.exit(1);
}
const wj = JSON.parse(w.out);
const wRows = wj.totals.rows;
const wRate = (wRows * 1000) / w.ms;
console.log(
  `wks db copy:  ${sec(w.ms)} total, ${fmt(wRows)} rows, ${fmt(wRate)} rows/s (copy phase ${sec(wj.totals.copyMs)} = ${fmt((wRows * 1000) / wj.totals.copyMs)} rows/s, verify ${sec(wj.totals.verifyMs)}), peak RSS ${w.rssMiB.toFixed(0)} MiB, reader=${wj.reader}, verified=${wj.verified}`,
);
const wc = await count('wks_bench_copy_wks');
console.log(`  target check: ${fmt(wc.rows)} rows in the main tables, metric_value ${wc.metricValueType}`);

// pgloader
const pgl = spawnSync('sh', ['-c', 'command -v pgloader'], { encoding: 'utf8' }).stdout.trim();
if (!pgl) {
  console.log('pgloader: NOT INSTALLED (apt-get install -y pgloader); no ratio can be printed');
  process.exit(0);
}
await freshDb('wks_bench_copy_pgl');
const load = path.join(DATA, 'copy.load');
writeFileSync(
  load,
  `LOAD DATABASE
  FROM sqlite://${DB}
  INTO ${dbUrl('wks_bench_copy_pgl')}
  WITH include drop, create tables, create indexes, reset sequences
  CAST type real to float8 drop typemod using float-to-string
  EXCLUDING TABLE NAMES LIKE 'schema_migrations', 'wks_migration_lock';
`,
);
const p = await timed(pgl, ['--no-ssl-cert-verification', load], { PATH: process.env.PATH, HOME: process.env.HOME });
const summary = (p.out + p.err).split('\n');
const errLine = summary.find((l) => /^\s*Total import time/.test(l)) ?? '';
const errors = summary.filter((l) => /\bERROR\b|FATAL/.test(l));
const pc = await count('wks_bench_copy_pgl').catch((e) => ({ rows: 0, metricValueType: `? (${e.message})` }));
const pRows = pc.rows;
const pRate = (pRows * 1000) / p.ms;
console.log(
  `pgloader:     ${sec(p.ms)} total, ${fmt(pRows)} rows, ${fmt(pRate)} rows/s, peak RSS ${p.rssMiB.toFixed(0)} MiB, exit ${p.code}, metric_value ${pc.metricValueType}`,
);
if (errLine) console.log(`  pgloader summary: ${errLine.trim()}`);
if (errors.length) console.log(`  pgloader reported ${errors.length} error line(s), e.g. ${errors[0].slice(0, 200)}`);

console.log('');
console.log(
  `ratio (wks rows/s / pgloader rows/s): ${(wRate / pRate).toFixed(2)}x   target >= 2x   ${wRate / pRate >= 2 ? 'MET' : 'MISSED'}`,
);
console.log(
  `wks peak RSS: ${w.rssMiB.toFixed(0)} MiB (pgloader ${p.rssMiB.toFixed(0)} MiB)   target <= 200 MB   ${w.rssMiB * 1.048576 <= 200 ? 'MET' : 'MISSED'}`,
);
console.log(
  `scale: ${sizeMiB.toFixed(0)} MiB source${SIZE_MB < 1024 ? ' (reduced; set BENCH_SIZE_MB=1024 for the full run)' : ''}`,
);
