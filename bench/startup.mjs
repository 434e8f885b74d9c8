#!/usr/bin/env node
// Benchmark (issues #2, #15): start-up and the fixed cost of the everyday commands.
//  - `wks --version` as a ratio of `node -e 0`. Target: <= 1.3x.
//  - The fixed cost of `backup create`, `lock list --json` and `health --check
//    database`: each on an empty (freshly migrated) database and an empty Redis
//    namespace, so what is measured is start-up, config, opening connections and
//    the command's own constant work: the time extrapolated to an empty database.
//    Target: <= 150 ms each. (`lock list` needs Redis at BENCH_REDIS_HOST/PORT,
//    default 127.0.0.1:6379, DB 15; it is skipped when Redis is not there.)
//   npm run build && node bench/startup.mjs        # N=20 interleaved runs per case
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { RUNS, header, interleave, median, note, report, summary } from './lib.mjs';

const N = Math.max(RUNS, Number(process.env.N ?? 20));
const wks = fileURLToPath(new URL('../bin/wks.js', import.meta.url));
const cwd = mkdtempSync(path.join(tmpdir(), 'wks-bench-startup-'));
const HOST = process.env.BENCH_REDIS_HOST ?? '127.0.0.1';
const PORT = process.env.BENCH_REDIS_PORT ?? '6379';
const env = {
  PATH: process.env.PATH,
  HOME: process.env.HOME,
  LANG: 'C.UTF-8',
  REDIS_HOST: HOST,
  REDIS_PORT: PORT,
  REDIS_DB: process.env.BENCH_REDIS_DB ?? '15',
  REDIS_NAMESPACE: `wksbench_${randomBytes(3).toString('hex')}`,
};
const run = (args, extra = {}) =>
  spawnSync(process.execPath, args, { cwd, env: { ...env, ...extra }, stdio: 'ignore' }).status;
const time = (args, extra) => () => {
  const t0 = process.hrtime.bigint();
  const status = run(args, extra);
  if (status !== 0) throw new Error(`${args.join(' ')} exited ${status}`);
  return Number(process.hrtime.bigint() - t0) / 1e6;
};

try {
  if (run([wks, 'migrate', 'up', '--no-backup']) !== 0) throw new Error('wks migrate up failed');
  const redis = run([wks, 'lock', 'list', '--json'], { REDIS_ENABLED: 'true' }) === 0;
  header(`wks start-up and fixed costs (empty database${redis ? ', empty Redis namespace' : ''})`);
  const cases = {
    node: time(['-e', '0']),
    version: time([wks, '--version']),
    help: time([wks, '--help']),
    create: time([wks, 'backup', 'create', '--compress', 'none']),
    health: time([wks, 'health', '--check', 'database']),
  };
  if (redis) cases.locks = time([wks, 'lock', 'list', '--json'], { REDIS_ENABLED: 'true' });
  const t = await interleave(cases, {
    runs: N,
    before: (n) => n === 'create' && rmSync(path.join(cwd, 'backups'), { recursive: true, force: true }),
  });
  report('wks --version', t.version, 'node -e 0', t.node, 1.3);
  note('wks --help', `median ${median(t.help).toFixed(1)} ms`);
  for (const [k, name] of [
    ['create', 'backup create --compress none'],
    ['locks', 'lock list --json'],
    ['health', 'health --check database'],
  ]) {
    if (!t[k]) {
      note(`fixed cost: ${name}`, 'skipped (Redis not reachable)');
      continue;
    }
    const ms = median(t[k]);
    note(
      `fixed cost: ${name}`,
      `median ${ms.toFixed(1)} ms (target <= 150 ms; node -e 0 ${median(t.node).toFixed(1)} ms)`,
      ms <= 150,
    );
  }
  summary();
} finally {
  rmSync(cwd, { recursive: true, force: true });
}
