#!/usr/bin/env node
// Benchmarks for PostgreSQL backups (issue #5), each printed as a ratio
// against the reference tool run in the same script on the same database:
//
//   wks backup create            vs  pg_dump -Fc (default compression)      target <= 1.05x (issue #15)
//   wks backup create --compress zstd / none  (same reference, for information)
//   wks backup verify --deep     vs  createdb + pg_restore -j2 into it       target <= 1.2x
//
//   npm run build && node bench/backup-pg.mjs         # ~300 MiB database (BENCH_SIZE_MB=300)
//   BENCH_SIZE_MB=100 node bench/backup-pg.mjs        # smaller, faster
//   BENCH_RUNS=5 ...                                  # runs per side, interleaved (bench/lib.mjs); median (default 3)
//   BENCH_KEEP=1 ...                                  # keep the generated database (wks_bench_pg_<size>mb)
//
// PostgreSQL from WKS_TEST_PG_URL (default postgres://postgres@127.0.0.1:5432/test).
// The database is generated server-side (generate_series) with mixed data in
// the platform's schema plus a large `events` table (jsonb, text, timestamps, arrays).
import { childCpu, header, interleave, median, report, seconds, summary } from './lib.mjs';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const pg = require('pg');
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const WKS = path.join(ROOT, 'bin/wks.js');
const SIZE_MB = Number(process.env.BENCH_SIZE_MB ?? 300);
const DATA = path.join(ROOT, 'bench/.data');
const WORK = path.join(DATA, 'work-pg');
const ADMIN_URL = process.env.WKS_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const DBNAME = `wks_bench_pg_${SIZE_MB}mb`;

if (!existsSync(path.join(ROOT, 'dist/cli.js'))) throw new Error('build first: npm run build');
mkdirSync(DATA, { recursive: true });
writeFileSync(path.join(DATA, '.gitignore'), '*\n');

const u = new URL(ADMIN_URL);
const pgEnv = {
  PGHOST: u.hostname,
  PGPORT: u.port || '5432',
  PGUSER: decodeURIComponent(u.username || 'postgres'),
  ...(u.password ? { PGPASSWORD: decodeURIComponent(u.password) } : {}),
};
const wksEnv = (extra = {}) => ({
  PATH: process.env.PATH,
  HOME: process.env.HOME,
  PG_ENABLED: 'true',
  PG_HOST: pgEnv.PGHOST,
  PG_PORT: pgEnv.PGPORT,
  PG_USER: pgEnv.PGUSER,
  PG_PASSWORD: decodeURIComponent(u.password) || 'unused-by-trust-auth',
  PG_DATABASE: DBNAME,
  BACKUP_STORAGE_PATH: path.join(WORK, 'backups'),
  ...extra,
});
const mib = (b) => `${(b / 1048576).toFixed(1)} MiB`;

async function sql(database, text) {
  const url = new URL(ADMIN_URL);
  url.pathname = `/${database}`;
  const c = new pg.Client({ connectionString: url.toString() });
  await c.connect();
  try {
    return (await c.query(text)).rows;
  } finally {
    await c.end();
  }
}

function run(cmd, args, env) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = performance.now() - t0;
      if (code !== 0) reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${err.slice(0, 500)}`));
      else resolve({ ms, out, err });
    });
  });
}

// ---------------------------------------------------------------- data
async function generate() {
  const exists = (await sql('postgres', `SELECT 1 FROM pg_database WHERE datname = '${DBNAME}'`)).length > 0;
  if (exists) {
    const [{ size }] = await sql(DBNAME, 'SELECT pg_database_size(current_database()) AS size');
    if (Number(size) > SIZE_MB * 1048576 * 0.8) return Number(size);
    await sql('postgres', `DROP DATABASE ${DBNAME} WITH (FORCE)`);
  }
  console.log(`generating ~${SIZE_MB} MiB in database ${DBNAME} ...`);
  await sql('postgres', `CREATE DATABASE ${DBNAME}`);
  const m = spawnSync(process.execPath, [WKS, 'migrate', 'up', '--no-backup'], { env: wksEnv(), encoding: 'utf8' });
  if (m.status !== 0) throw new Error(`migrate up failed: ${m.stderr}`);
  // Measured: ~350 bytes per events row on disk (heap + indexes) plus ~22 MiB of the platform's other tables.
  const events = Math.max(10_000, Math.round((Math.max(SIZE_MB - 22, 5) * 1048576) / 350));
  await sql(
    DBNAME,
    `
    INSERT INTO users (username, email, password_hash) SELECT 'user' || g, 'user' || g || '@example.com', md5(g::text) || md5((g * 7)::text) FROM generate_series(1, 20000) g;
    INSERT INTO workflows (name, description, user_id, status) SELECT 'workflow-' || g, repeat('deploy build test release ', 1 + g % 8), 1 + g % 20000, (ARRAY['active','paused','archived'])[1 + g % 3] FROM generate_series(1, 50000) g;
    CREATE TABLE events (
      id bigint PRIMARY KEY, workflow_id int NOT NULL, status text NOT NULL, attempt int NOT NULL,
      created_at timestamptz NOT NULL, payload jsonb NOT NULL, tags text[] NOT NULL, message text NOT NULL);
    INSERT INTO events
      SELECT g, 1 + g % 50000, (ARRAY['pending','running','completed','failed'])[1 + g % 4], g % 5,
             timestamptz '2026-01-01' + g * interval '1 second',
             jsonb_build_object('step', g % 37, 'host', 'worker-' || (g % 16), 'duration_ms', (g::bigint * 7919) % 60000, 'trace', md5(g::text)),
             ARRAY['env:' || (ARRAY['prod','staging','dev'])[1 + g % 3], 'team:' || g % 11],
             'step ' || g % 37 || ' of workflow ' || (1 + g % 50000) || ' ' || (ARRAY['completed in time','retried after timeout','failed: upstream returned 503','waiting for lock'])[1 + g % 4] || ' ' || substr(md5((g * 31)::text), 1, 16)
        FROM generate_series(1, ${events}) g;
    CREATE INDEX events_workflow ON events (workflow_id, created_at);
    ANALYZE;`,
  );
  const [{ size }] = await sql(DBNAME, 'SELECT pg_database_size(current_database()) AS size');
  return Number(size);
}

// ---------------------------------------------------------------- main
const dbSize = await generate();
rmSync(WORK, { recursive: true, force: true });
mkdirSync(WORK, { recursive: true });
header(
  `wks backup on PostgreSQL: database ${DBNAME}: ${mib(dbSize)} (BENCH_SIZE_MB=${SIZE_MB}), ${(await run('pg_dump', ['--version'])).out.trim()}`,
);
console.log(
  'Compression is compared like for like: pg_dump -Fc compresses with zlib at its default level (6);\n' +
    'wks runs pg_dump -Z0 and gzips the archive at level 6 (Node zlib). zstd and none are shown for information.\n' +
    'cpu = user+sys of the client process tree (wks, its pg_dump/pg_restore; or the reference tool), not the server.\n',
);
const cpu = {};
/** Run `fn` (which awaits child processes) and record the client CPU it used under `name`. */
async function timed(name, fn) {
  const c0 = childCpu();
  const ms = await fn();
  const c1 = childCpu();
  if (c0 !== null && c1 !== null) (cpu[name] ??= []).push(c1 - c0);
  return ms;
}
const cpuNote = (name) => (cpu[name] ? `cpu ${seconds(median(cpu[name]))}` : 'cpu n/a');

// create: pg_dump -Fc (default zlib level) vs wks backup create --compress gzip (pg_dump -Z0 | gzip -6 | sha256 | fsync | rename | manifest).
const refDump = path.join(WORK, 'ref.dump');
const stored = {};
const ids = {};
const wksCreate = (codec) => async () => {
  const r = await run(process.execPath, [WKS, 'backup', 'create', '--compress', codec, '--json'], wksEnv());
  const doc = JSON.parse(r.out);
  ids[codec] = doc.backup.id;
  stored[codec] = doc.backup.stored_size;
  return r.ms;
};
const times = await interleave(
  {
    ref: () => timed('ref', async () => (await run('pg_dump', ['-Fc', '-f', refDump, DBNAME], pgEnv)).ms),
    gzip: () => timed('gzip', wksCreate('gzip')),
    zstd: () => timed('zstd', wksCreate('zstd')),
    none: () => timed('none', wksCreate('none')),
  },
  { before: (name) => name === 'ref' && rmSync(refDump, { force: true }) },
);
const refSize = statSync(refDump).size;
report('create --compress gzip (default)', times.gzip, 'pg_dump -Fc', times.ref, 1.05);
for (const codec of ['gzip', 'zstd', 'none']) {
  const ratio = median(times[codec]) / median(times.ref);
  console.log(
    `  create --compress ${codec.padEnd(5)} ${seconds(median(times[codec]))} (${ratio.toFixed(2)}x; ${cpuNote(codec)} vs ${cpuNote('ref')}; ${mib(stored[codec])} stored vs ${mib(refSize)})`,
  );
}

// verify --deep vs createdb + pg_restore -j2 of the reference dump (its dropdb is not timed; wks's drop of its scratch database is).
let n = 0;
const v = await interleave({
  verify: () =>
    timed(
      'verify',
      async () => (await run(process.execPath, [WKS, 'backup', 'verify', ids.gzip, '--deep', '--json'], wksEnv())).ms,
    ),
  restore: () =>
    timed('restore', async () => {
      const name = `${DBNAME}_ref_${n++}`;
      await sql('postgres', `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      const t0 = performance.now();
      await sql('postgres', `CREATE DATABASE ${name}`);
      await run('pg_restore', ['-j2', '-d', name, refDump], pgEnv);
      const ms = performance.now() - t0;
      await sql('postgres', `DROP DATABASE ${name} WITH (FORCE)`);
      return ms;
    }),
});
report('verify --deep', v.verify, 'createdb + pg_restore -j2', v.restore, 1.2);
console.log(
  `  verify --deep ${cpuNote('verify')} vs ${cpuNote('restore')} (checksum+decode+list+scratch restore+counts+drop)`,
);
summary();

rmSync(WORK, { recursive: true, force: true });
if (!process.env.BENCH_KEEP) await sql('postgres', `DROP DATABASE IF EXISTS ${DBNAME} WITH (FORCE)`);
