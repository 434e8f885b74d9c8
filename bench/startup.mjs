#!/usr/bin/env node
// Benchmark: `wks --version` start-up time as a ratio of `node -e 0`.
// Target (issue #2): <= 1.3x. Prints the medians of N alternating runs.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const N = Number(process.env.N ?? 30);
const wks = fileURLToPath(new URL('../bin/wks.js', import.meta.url));
const cases = {
  'node -e 0': [process.execPath, ['-e', '0']],
  'wks --version': [process.execPath, [wks, '--version']],
  'wks --help': [process.execPath, [wks, '--help']],
};
const times = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
for (let i = 0; i < N; i++) {
  for (const [name, [cmd, args]] of Object.entries(cases)) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(cmd, args, { stdio: 'ignore' });
    if (r.status !== 0) throw new Error(`${name} exited ${r.status}`);
    times[name].push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
}
const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const base = median(times['node -e 0']);
for (const [name, t] of Object.entries(times)) {
  console.log(
    `${name.padEnd(16)} median ${median(t).toFixed(1).padStart(6)} ms   ratio ${(median(t) / base).toFixed(2)}x`,
  );
}
const ratio = median(times['wks --version']) / base;
console.log(`\nwks --version / node -e 0 = ${ratio.toFixed(2)}x (target <= 1.3x) ${ratio <= 1.3 ? 'MET' : 'NOT MET'}`);
