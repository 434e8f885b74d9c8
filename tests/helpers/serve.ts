/**
 * e2e helper: spawn `wks serve` (bin/wks.js) on a free 127.0.0.1 port and wait
 * until it answers /health (so it works whatever LOG_LEVEL / LOG_FILE say).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { baseEnv, REPO, WKS_BIN } from './cli.js';
import { freePort } from './net.js';

export interface Served {
  child: ChildProcess;
  port: number;
  url: string;
  /** Everything written to stderr so far. */
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Wait until stderr matches `re` (fails when the process exits first). */
  waitFor: (re: RegExp, ms?: number) => Promise<RegExpMatchArray>;
  /** SIGTERM and wait for the exit. */
  stop: () => Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** ms from spawn to the first answer on /health. */
  startedIn: number;
}

/** Poll `fn` until `ok(value)` or `ms` elapse; returns the last value. */
export async function eventually<T>(fn: () => Promise<T>, ok: (v: T) => boolean, ms: number, every = 100): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await fn().catch((e: unknown) => e as T);
    if (ok(v)) return v;
    if (Date.now() - t0 > ms) return v;
    await new Promise((r) => setTimeout(r, every));
  }
}

export async function startServe(
  args: string[],
  env: Record<string, string>,
  cwd = REPO,
  opts: { port?: number; startMs?: number } = {},
): Promise<Served> {
  const port = opts.port ?? (await freePort());
  const t0 = Date.now();
  const child = spawn(process.execPath, [WKS_BIN, ...args, 'serve', '--port', String(port)], {
    cwd,
    env: baseEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (d) => (err += d));
  child.stdout!.resume();
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.on('exit', (code, signal) => r({ code, signal })),
  );
  const url = `http://127.0.0.1:${port}`;
  const waitFor = async (re: RegExp, ms = 15_000): Promise<RegExpMatchArray> => {
    const start = Date.now();
    for (;;) {
      const m = err.match(re);
      if (m) return m;
      if (child.exitCode !== null || child.signalCode !== null)
        throw new Error(`wks serve exited (${child.exitCode ?? child.signalCode}) before ${re}:\n${err}`);
      if (Date.now() - start > ms) throw new Error(`timed out waiting for ${re}:\n${err}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  };
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`wks serve exited at start:\n${err}`);
    if (Date.now() - t0 > (opts.startMs ?? 15_000)) {
      child.kill('SIGKILL');
      throw new Error(`wks serve did not answer /health:\n${err}`);
    }
    const ok = await fetch(`${url}/health`).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const startedIn = Date.now() - t0;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    return exited;
  };
  return { child, port, url, stderr: () => err, exited, waitFor, stop, startedIn };
}
