#!/usr/bin/env node
// Benchmark: `wks health --check database,backups` wall time on SQLite, as a
// ratio of `node -e 0` (Node's own start-up), measured in the same run.
// Target (issue #7): <= 2.5x. Prints medians of N alternating runs.
//
// Setup (not timed): a temp dir with a migrated SQLite database (`wks migrate
// up`), ROWS workflow executions, and one created + verified backup, so both
// checks do their real work and report ok.
//   N=20 ROWS=20000 node bench/health.mjs      (needs `npm run build` first)
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const N = Number(process.env.N ?? 20);
const ROWS = Number(process.env.ROWS ?? 20000);
const wks = fileURLToPath(new URL('../bin/wks.js', import.meta.url));
const cwd = mkdtempSync(path.join(tmpdir(), 'wks-bench-health-'));
const env = { PATH: process.env.PATH, HOME: process.env.HOME, LANG: 'C.UTF-8' };

function run(args, opts = {}) {
  const r = spawnSync(process.execPath, args, { cwd, env, encoding: 'utf8', ...opts });
  return r;
}
function must(args) {
  const r = run([wks, ...args]);
  if (r.status !== 0) throw new Error(`wks ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r;
}

try {
  must(['migrate', 'up']);
  // Fill the database through better-sqlite3 directly (setup only).
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
  const check = run([wks, 'health', '--check', 'database,backups', '--json']);
  if (check.status !== 0)
    throw new Error(`health is not ok in the bench setup (exit ${check.status}):\n${check.stdout}${check.stderr}`);
  const inner = JSON.parse(check.stdout);

  const cases = {
    'node -e 0': [process.execPath, ['-e', '0']],
    'wks --version': [process.execPath, [wks, '--version']],
    // The floor every config-reading command pays (CLI + config loader with yaml and zod); not health's own.
    'wks config validate': [process.execPath, [wks, 'config', 'validate']],
    'wks health db,backups': [process.execPath, [wks, 'health', '--check', 'database,backups']],
  };
  const times = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
  for (let i = 0; i < N; i++) {
    for (const [name, [cmd, args]] of Object.entries(cases)) {
      const t0 = process.hrtime.bigint();
      const r = spawnSync(cmd, args, { cwd, env, stdio: 'ignore' });
      if (r.status !== 0) throw new Error(`${name} exited ${r.status}`);
      times[name].push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
  }
  const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
  const base = median(times['node -e 0']);
  console.log(
    `scale: ${ROWS} workflow executions, ${N} runs per case, database ${(inner.checks[0].data.sizeBytes / 1048576).toFixed(1)} MiB`,
  );
  console.log(
    `in-process check time (from --json): database ${inner.checks[0].durationMs} ms, backups ${inner.checks[1].durationMs} ms, run ${inner.durationMs} ms`,
  );
  for (const [name, t] of Object.entries(times)) {
    console.log(
      `${name.padEnd(22)} median ${median(t).toFixed(1).padStart(7)} ms   ratio ${(median(t) / base).toFixed(2)}x`,
    );
  }
  const ratio = median(times['wks health db,backups']) / base;
  const own = median(times['wks health db,backups']) - median(times['wks config validate']);
  console.log(`health's own share (health minus config validate): ${own.toFixed(1)} ms`);
  console.log(
    `\nwks health --check database,backups / node -e 0 = ${ratio.toFixed(2)}x (target <= 2.5x) ${ratio <= 2.5 ? 'MET' : 'NOT MET'}`,
  );
} finally {
  rmSync(cwd, { recursive: true, force: true });
}
