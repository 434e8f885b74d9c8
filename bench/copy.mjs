#!/usr/bin/env node
// Benchmark for `wks db copy` (issues #9, #15): SQLite -> PostgreSQL rows/s and peak RSS, as a
// ratio against pgloader run in the same script on the same file, each into a fresh database.
//
//   npm run build && node bench/copy.mjs              # the shared 1 GiB bench database (BENCH_SIZE_MB=1024)
//   BENCH_SIZE_MB=64 node bench/copy.mjs              # smaller, faster (figures for the scripts only)
//   BENCH_RUNS=5 ...                                  # runs per side, interleaved; median (default 3)
//   BENCH_PG_URL=postgres://postgres@127.0.0.1:5432/postgres   # admin URL: creates and drops the bench databases
//
// Data: bench/data.mjs, the database every bench shares (the platform's schema, mixed data).
//
// Sides, interleaved (A B C, C B A, ...), each into a database created empty before the run
// (untimed):
//  - wks: the WHOLE `wks db copy --no-backup` (migrate up, COPY, indexes and foreign keys,
//    sequences, and verification re-reading every row; --no-backup because a backup is a separate,
//    benchmarked feature and pgloader takes none);
//  - pgloader: creates tables, loads, then indexes; `CAST type real to float8` so REAL is exact
//    (its default is a 4-byte real); verifies nothing;
//  - psql \copy (information: the floor of a plain load): `sqlite3 -csv` piped into
//    `psql \copy ... CSV`, table by table in foreign-key order, into a database migrated with
//    `wks migrate up` before the timer starts; not exact (sqlite3 prints 15 significant digits).
// Targets: wks rows/s >= 2x pgloader's (wks time <= 0.5x); wks peak RSS <= 200 MB.
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DATA, ensureDatabase } from './data.mjs';
import { RUNS, have, header, interleave, load, median, note, seconds, summary } from './lib.mjs';

const require = createRequire(import.meta.url);
const Database = require('better-sqlite3');
const pg = require('pg');
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const WKS = path.join(ROOT, 'bin/wks.js');
const SIZE_MB = Number(process.env.BENCH_SIZE_MB ?? 1024);
const ADMIN = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const DB = ensureDatabase(SIZE_MB);
const fmt = (n) => Math.round(n).toLocaleString('en-US');
const env = { PATH: process.env.PATH, HOME: process.env.HOME };

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
function timed(cmd, args, runEnv) {
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    const child = spawn('/usr/bin/time', ['-v', cmd, ...args], { env: runEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) => {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(err);
      resolve({ ms, rssMiB: rss ? Number(rss[1]) / 1024 : Number.NaN, code, out, err });
    });
  });
}

// ---------------------------------------------------------------- the source
const src = new Database(DB, { readonly: true });
const skip = new Set(['schema_migrations', 'wks_migration_lock', 'wks_identity', 'wks_copy_progress']);
const tables = src
  .prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`)
  .all()
  .map((r) => r.name)
  .filter((t) => !skip.has(t));
const counts = Object.fromEntries(tables.map((t) => [t, src.prepare(`SELECT count(*) AS n FROM "${t}"`).get().n]));
const sourceRows = Object.values(counts).reduce((a, b) => a + b, 0);
// Foreign-key order for the psql side (parents first).
const parents = Object.fromEntries(
  tables.map((t) => [
    t,
    src
      .prepare(`PRAGMA foreign_key_list("${t}")`)
      .all()
      .map((f) => f.table),
  ]),
);
src.close();
const ordered = [];
while (ordered.length < tables.length)
  for (const t of tables)
    if (!ordered.includes(t) && parents[t].every((p) => p === t || ordered.includes(p) || !tables.includes(p)))
      ordered.push(t);

header(
  `db copy: ${DB} (${fmt(sourceRows)} rows in ${tables.length} tables)${SIZE_MB < 1024 ? `  [REDUCED SCALE: BENCH_SIZE_MB=${SIZE_MB}; the target scale is 1024]` : ''}`,
);
if (!have('pgloader')) {
  console.log('pgloader: NOT INSTALLED (apt-get install -y pgloader); no ratio can be printed');
  process.exit(0);
}
console.log(spawnSync('pgloader', ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0]);

/** Rows in the target's copied tables (checks that a side loaded everything). */
async function targetRows(name) {
  const c = new pg.Client({ connectionString: dbUrl(name) });
  await c.connect();
  try {
    let n = 0;
    for (const t of tables) n += Number((await c.query(`SELECT count(*) AS n FROM "${t}"`)).rows[0].n);
    return n;
  } finally {
    await c.end();
  }
}

// ---------------------------------------------------------------- the sides
const DBS = { wks: 'wks_bench_copy_wks', pgloader: 'wks_bench_copy_pgl', psql: 'wks_bench_copy_psql' };
const rss = { wks: [], pgloader: [] };
const phases = [];
const loadFile = path.join(DATA, 'copy.load');
writeFileSync(
  loadFile,
  `LOAD DATABASE
  FROM sqlite://${DB}
  INTO ${dbUrl(DBS.pgloader)}
  WITH include drop, create tables, create indexes, reset sequences
  CAST type real to float8 drop typemod using float-to-string
  EXCLUDING TABLE NAMES LIKE ${[...skip].map((t) => `'${t}'`).join(', ')};
`,
);

const cases = {
  async wks() {
    const r = await timed(
      process.execPath,
      [WKS, 'db', 'copy', '--from', DB, '--to', dbUrl(DBS.wks), '--no-backup', '--json'],
      env,
    );
    if (r.code !== 0) throw new Error(`wks db copy failed (exit ${r.code}):\n${r.out}\n${r.err}`);
    const j = JSON.parse(r.out);
    if (!j.verified || j.totals.rows !== sourceRows)
      throw new Error(`wks db copy: verified=${j.verified}, ${j.totals.rows} of ${sourceRows} rows`);
    rss.wks.push(r.rssMiB);
    phases.push(j.totals);
    return r.ms;
  },
  async pgloader() {
    const r = await timed('pgloader', ['--no-ssl-cert-verification', loadFile], env);
    const n = await targetRows(DBS.pgloader).catch(() => -1);
    if (r.code !== 0 || n !== sourceRows)
      throw new Error(`pgloader: exit ${r.code}, ${n} of ${sourceRows} rows\n${(r.out + r.err).slice(-2000)}`);
    rss.pgloader.push(r.rssMiB);
    return r.ms;
  },
  async psql() {
    const script = ordered
      .map(
        (t) =>
          `sqlite3 -csv '${DB}' 'SELECT * FROM "${t}"' | psql -q -v ON_ERROR_STOP=1 '${dbUrl(DBS.psql)}' -c '\\copy "${t}" FROM STDIN CSV'`,
      )
      .join(' && ');
    const r = await timed('sh', ['-ec', script], env);
    if (r.code !== 0) throw new Error(`psql \\copy failed (exit ${r.code}): ${r.err.slice(-2000)}`);
    return r.ms;
  },
};
if (!have('sqlite3') || !have('psql')) {
  console.log('psql \\copy reference skipped: sqlite3 or psql is not installed');
  delete cases.psql;
}

const times = await interleave(cases, {
  async before(name) {
    await freshDb(DBS[name]);
    if (name === 'psql') {
      const m = spawnSync(process.execPath, [WKS, 'migrate', 'up', '--no-backup'], {
        env: { ...env, PG_URL: dbUrl(DBS.psql), PG_ENABLED: 'true' },
        encoding: 'utf8',
      });
      if (m.status !== 0) throw new Error(`migrate up for the psql side failed: ${m.stderr}`);
    }
  },
});

// ---------------------------------------------------------------- results
const rate = (ms) => (sourceRows * 1000) / ms;
const w = median(times.wks);
const p = median(times.pgloader);
for (const n of Object.keys(times))
  console.log(`${n.padEnd(9)} runs: ${times[n].map(seconds).join(', ')}  median ${seconds(median(times[n]))}`);
const ph = phases.map((x) => `copy ${seconds(x.copyMs)} + verify left ${seconds(x.verifyWaitMs)}`).join('; ');
console.log(`wks phases: ${ph}\n`);
note(
  'db copy rows/s vs pgloader',
  `wks ${seconds(w)} (${fmt(rate(w))} rows/s)  pgloader ${seconds(p)} (${fmt(rate(p))} rows/s)  ratio ${(p / w).toFixed(2)}x (target >= 2x)`,
  p / w >= 2,
);
if (times.psql) {
  const q = median(times.psql);
  note(
    'db copy rows/s vs psql \\copy (information)',
    `wks ${seconds(w)}  psql \\copy ${seconds(q)} (${fmt(rate(q))} rows/s)  ratio ${(q / w).toFixed(2)}x; psql \\copy vs pgloader ${(p / q).toFixed(2)}x`,
  );
}
const r = median(rss.wks);
note(
  'db copy peak RSS',
  `wks ${r.toFixed(0)} MiB (pgloader ${median(rss.pgloader).toFixed(0)} MiB)  target <= 200 MB`,
  r * 1.048576 <= 200,
);
if (!process.env.BENCH_KEEP) for (const n of Object.values(DBS)) await admin(`DROP DATABASE IF EXISTS ${n}`);
console.log(`\n${RUNS} runs per side; ${load()}`);
summary();
