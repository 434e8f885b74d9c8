#!/usr/bin/env node
// Benchmark (issue #15): `wks health --check database` wall time on SQLite, as
// a ratio of `node -e 0` (Node's own start-up), measured in the same run, on
// a small database and on the large generated one (BENCH_SIZE_MB, default
// 1024: the check's cost must not grow with the file). Target: <= 2.5x at any
// size. `--check database,backups` on the small one is printed beside it.
//
// Setup (not timed): a temp dir with a migrated SQLite database (`wks migrate
// up`), ROWS workflow executions and one created + verified backup; the large
// database is bench/.data's (generated once, shared with bench/backup.mjs).
//   npm run build && node bench/health.mjs
//   BENCH_SIZE_MB=2 BENCH_RUNS=5 node bench/health.mjs      # reduced scale
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureDatabase } from './data.mjs';
import { RUNS, header, interleave, report, summary } from './lib.mjs';

const ROWS = Number(process.env.ROWS ?? 20000);
const SIZE_MB = Number(process.env.BENCH_SIZE_MB ?? 1024);
const N = Math.max(RUNS, Number(process.env.N ?? 10)); // start-up times are short: more runs are cheap
const wks = fileURLToPath(new URL('../bin/wks.js', import.meta.url));
const cwd = mkdtempSync(path.join(tmpdir(), 'wks-bench-health-'));
const env = { PATH: process.env.PATH, HOME: process.env.HOME, LANG: 'C.UTF-8' };

function must(args, extraEnv = {}) {
  const r = spawnSync(process.execPath, [wks, ...args], { cwd, env: { ...env, ...extraEnv }, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`wks ${args.join(' ')} exited ${r.status}: ${r.stdout}${r.stderr}`);
  return r;
}
const time =
  (args, extraEnv = {}) =>
  () => {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(args[0], args.slice(1), { cwd, env: { ...env, ...extraEnv }, stdio: 'ignore' });
    if (r.status !== 0) throw new Error(`${args.join(' ')} exited ${r.status}`);
    return Number(process.hrtime.bigint() - t0) / 1e6;
  };

try {
  const large = ensureDatabase(SIZE_MB);
  must(['migrate', 'up']);
  // Fill the small database through better-sqlite3 directly (setup only).
  const Database = (await import('better-sqlite3')).default;
  const db = new Database(path.join(cwd, 'workstation.db'));
  db.exec("INSERT INTO workflows (id, name, status) VALUES (1, 'bench', 'active')");
  const ins = db.prepare(
    "INSERT INTO workflow_executions (workflow_id, status, started_at, completed_at) VALUES (1, 'completed', datetime('now', '-1 hour'), datetime('now'))",
  );
  db.transaction(() => {
    for (let i = 0; i < ROWS; i++) ins.run();
  })();
  db.close();
  must(['backup', 'create']);
  must(['backup', 'verify', '--latest']);
  must(['health', '--check', 'database,backups']);
  must(['health', '--check', 'database'], { DATABASE_PATH: large });
  const mib = (f) => (statSync(f).size / 1048576).toFixed(1);
  header(
    `wks health --check database: small ${mib(path.join(cwd, 'workstation.db'))} MiB, large ${mib(large)} MiB${SIZE_MB < 1024 ? `  [REDUCED SCALE: ${SIZE_MB} MiB instead of 1 GiB]` : ''}`,
  );

  const t = await interleave(
    {
      node: time([process.execPath, '-e', '0']),
      small: time([process.execPath, wks, 'health', '--check', 'database']),
      large: time([process.execPath, wks, 'health', '--check', 'database'], { DATABASE_PATH: large }),
      both: time([process.execPath, wks, 'health', '--check', 'database,backups']),
    },
    { runs: N },
  );
  report('health --check database (small)', t.small, 'node -e 0', t.node, 2.5);
  report(`health --check database (${mib(large)} MiB)`, t.large, 'node -e 0', t.node, 2.5);
  report('health --check database,backups (small)', t.both, 'node -e 0', t.node, 2.5);
  summary();
} finally {
  rmSync(cwd, { recursive: true, force: true });
}
