/**
 * Debian's real Prometheus server and Pushgateway for tests, each started on
 * a free 127.0.0.1 port with temporary storage and stopped after use.
 * Missing binaries skip the test loudly, except under CI=true (.ci/run
 * installs the `prometheus` and `prometheus-pushgateway` packages).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { freePort } from './net.js';
import { tmpDir } from './tmp.js';

export const PROMETHEUS_BIN = 'prometheus';
export const PUSHGATEWAY_BIN = 'prometheus-pushgateway';

/** True when `bin --version` runs; otherwise skip (or throw under CI). */
export function needBinary(bin: string, pkg: string, ctx: { skip: () => void }): boolean {
  if (spawnSync(bin, ['--version']).status === 0) return true;
  if (process.env.CI === 'true') throw new Error(`${bin} is required under CI (.ci/run installs the ${pkg} package)`);
  console.warn(`!!! SKIPPING: ${bin} is not installed (Debian package ${pkg})`);
  ctx.skip();
  return false;
}

export interface RunningService {
  url: string;
  port: number;
  child: ChildProcess;
  output: () => string;
  stop: () => Promise<void>;
}

async function waitHttp(url: string, child: ChildProcess, output: () => string, ms = 30_000): Promise<void> {
  const t0 = Date.now();
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${url}: the process exited (${child.exitCode}):\n${output()}`);
    const ok = await fetch(url).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) return;
    if (Date.now() - t0 > ms) throw new Error(`${url} did not become ready:\n${output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function launch(bin: string, args: (port: number) => string[], readyPath: string): Promise<RunningService> {
  const port = await freePort();
  const child = spawn(bin, args(port), { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d) => (out += d));
  const url = `http://127.0.0.1:${port}`;
  const exited = new Promise<void>((r) => child.on('exit', () => r()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(t);
  };
  try {
    await waitHttp(`${url}${readyPath}`, child, () => out);
  } catch (err) {
    await stop();
    throw err;
  }
  return { url, port, child, output: () => out, stop };
}

/** Start prometheus-pushgateway on 127.0.0.1 (no persistence). */
export function startPushgateway(): Promise<RunningService> {
  return launch(PUSHGATEWAY_BIN, (port) => [`--web.listen-address=127.0.0.1:${port}`], '/-/ready');
}

/**
 * Start Prometheus with `config` (YAML text; `rule_files` may name absolute
 * paths) in a temporary directory with its own TSDB, or in `dir` again (a
 * restart on the same storage).
 */
export function startPrometheus(
  config: string,
  dir = tmpDir('wks-prometheus'),
): Promise<RunningService & { dir: string }> {
  const file = path.join(dir, 'prometheus.yml');
  writeFileSync(file, config);
  return launch(
    PROMETHEUS_BIN,
    (port) => [
      `--config.file=${file}`,
      `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    '/-/ready',
  ).then((s) => ({ ...s, dir }));
}

/** Label names in a Prometheus text exposition that Prometheus reserves for targets (job, instance, __*). */
export function reservedLabels(text: string): string[] {
  const found = new Set<string>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^[a-zA-Z_:][a-zA-Z0-9_:]*\{(.*)\}\s/.exec(line);
    if (!m) continue;
    for (const l of m[1]!.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="(?:[^"\\]|\\.)*"/g)) {
      const name = l[1]!;
      if (name === 'job' || name === 'instance' || name.startsWith('__')) found.add(name);
    }
  }
  return [...found];
}
