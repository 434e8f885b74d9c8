// Shared by every bench: interleaved runs, medians, the load average, and one
// result line per comparison (ratio, target, MET / NOT MET).
//
// Honesty rules every bench follows:
//  - each side runs BENCH_RUNS times (at least 3, default 3), interleaved with
//    its reference (A B, B A, A B, ...) so drift on the machine hits both sides;
//    the figure is the median, never the best run;
//  - the load average is printed at the start and with every result: a figure
//    taken with a load above the core count is marked and should be re-run;
//  - every line names the reference, the ratio and the target.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';

export const RUNS = Math.max(3, Number(process.env.BENCH_RUNS ?? 3));
const CORES = os.cpus().length;

export const median = (a) => {
  const s = [...a].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** "load 0.42 0.30 0.25 on 2 cores", plus a warning mark when the 1-minute load exceeds the core count. */
export function load() {
  const [a, b, c] = os.loadavg();
  const busy = a > CORES ? ' (BUSY: more load than cores; re-run on a quiet machine)' : '';
  return `load ${a.toFixed(2)} ${b.toFixed(2)} ${c.toFixed(2)} on ${CORES} cores${busy}`;
}

/** Print the bench's title line with Node's version, the run count and the load average. */
export function header(title) {
  console.log(`${title}\nnode ${process.version}, ${RUNS} interleaved runs per side (median), ${load()}\n`);
}

/**
 * Run each case `runs` times, interleaved: round i runs the cases in order,
 * round i+1 in reverse order, and so on. `cases` maps a name to a function
 * that runs once and returns its time in ms (sync or async); `before(name)`
 * (optional) resets state before each run, untimed.
 * @returns name -> array of ms
 */
export async function interleave(cases, { runs = RUNS, before } = {}) {
  const names = Object.keys(cases);
  const times = Object.fromEntries(names.map((n) => [n, []]));
  for (let i = 0; i < runs; i++) {
    for (const n of i % 2 ? [...names].reverse() : names) {
      if (before) await before(n);
      times[n].push(await cases[n]());
    }
  }
  return times;
}

const results = [];
const sec = (ms) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(1)} ms`);

/**
 * One comparison: `ours` and `ref` are arrays of ms (medians taken here) or
 * numbers. `target` is the ratio to stay at or under (or at or over, with
 * `atLeast`). Prints one line and remembers it for summary().
 */
export function report(name, ours, refName, ref, target, { atLeast = false, unit = 'x' } = {}) {
  const o = Array.isArray(ours) ? median(ours) : ours;
  const r = Array.isArray(ref) ? median(ref) : ref;
  const ratio = o / r;
  const met = atLeast ? ratio >= target : ratio <= target;
  const line = `${name.padEnd(38)} wks ${sec(o).padStart(9)}  ${refName} ${sec(r).padStart(9)}  ratio ${ratio.toFixed(2)}${unit} (target ${atLeast ? '>=' : '<='} ${target}${unit}) ${met ? 'MET' : 'NOT MET'}  [${load()}]`;
  results.push(line);
  console.log(line);
  return { ratio, met };
}

/** A result that is not a ratio (latency, memory): printed and remembered like report(). */
export function note(name, text, met) {
  const line = `${name.padEnd(38)} ${text} ${met === undefined ? '' : met ? 'MET' : 'NOT MET'}  [${load()}]`;
  results.push(line);
  console.log(line);
}

/** Print every result line again at the end (what bench/all.mjs collects). */
export function summary() {
  console.log('\nRESULTS');
  for (const l of results) console.log(`RESULT ${l}`);
}

/**
 * CPU seconds (user+sys, in ms) used so far by this process's finished
 * children and their waited-for descendants (Linux /proc/self/stat cutime +
 * cstime), or null where that is not available. The difference around a run
 * is the run's CPU: honest on a busy machine, where wall-clock is noise.
 */
export function childCpu() {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[13]) + Number(f[14])) * 1000) / CLK_TCK;
  } catch {
    return null;
  }
}
const CLK_TCK = 100; // USER_HZ on Linux

/** Milliseconds as "1.23 s". */
export const seconds = (ms) => `${(ms / 1000).toFixed(2)} s`;

/** Whether `tool` is on PATH. */
export const have = (tool) => spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status === 0;

/** Run a command to the end (wall-clock ms, stdout, stderr); a non-zero exit throws with its stderr. */
export function timed(cmd, args, opts = {}) {
  const t = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...opts });
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return { ms, stdout: r.stdout, stderr: r.stderr };
}
