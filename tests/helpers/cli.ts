/**
 * e2e helper: spawn bin/wks.js exactly as a user would, with a controlled
 * environment (the host's PG_*, REDIS_*, WKS_* variables never leak in).
 */
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';

export const REPO = fileURLToPath(new URL('../..', import.meta.url));
export const WKS_BIN = fileURLToPath(new URL('../../bin/wks.js', import.meta.url));

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Parse stdout as the single JSON document. */
  json<T = any>(): T;
}

export interface RunOptions {
  env?: Record<string, string | undefined>;
  cwd?: string;
  input?: string;
  timeoutMs?: number;
}

/** The base environment for a spawned wks: PATH and HOME only, plus the test's own variables. */
export function baseEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, LANG: 'C.UTF-8' };
  for (const [k, v] of Object.entries(extra)) if (v !== undefined) env[k] = v;
  return env;
}

/** Run `node bin/wks.js ...args` and collect exit code, stdout and stderr. */
export function runWks(args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WKS_BIN, ...args], {
      cwd: opts.cwd ?? REPO,
      env: baseEnv(opts.env),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({
        code,
        signal,
        stdout,
        stderr,
        json() {
          try {
            return JSON.parse(stdout);
          } catch {
            throw new Error(`stdout is not one JSON document:\n${stdout}\n--- stderr:\n${stderr}`);
          }
        },
      });
    });
    child.stdin.end(opts.input ?? '');
  });
}

/** Run wks on a pseudo-terminal (util-linux `script`), typing `input`; returns the exit code and the screen. */
export function runOnTty(
  args: string[],
  env: Record<string, string | undefined>,
  input: string,
  cwd: string = REPO,
): Promise<{ code: number | null; out: string }> {
  const cmd = [process.execPath, WKS_BIN, ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ');
  return new Promise((resolve) => {
    const child = spawn('script', ['-qec', cmd, '/dev/null'], { cwd, env: baseEnv({ ...env, TERM: 'dumb' }) });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      // Answer once the prompt is on the screen.
      if (input && /\?/.test(out)) {
        child.stdin.write(input);
        input = '';
      }
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

/** util-linux `script` is there to give wks a pseudo-terminal. */
export const hasScript = spawnSync('script', ['--version']).status === 0;

export interface OneLineErrorOptions {
  /** At most this many stderr lines (default 2); null: not checked. */
  maxLines?: number | null;
  /** A secret that must appear in neither stdout nor stderr. */
  secret?: string;
}

/** The bar for bad input: exit `code`, one `Error:` line matching `re`, a `Try:` line, no stack trace. */
export function expectOneLineError(r: RunResult, code: number, re: RegExp, opts: OneLineErrorOptions = {}): void {
  const { maxLines = 2, secret } = opts;
  expect(r.code, r.stderr).toBe(code);
  const lines = r.stderr.trim().split('\n');
  expect(lines.filter((l) => l.startsWith('Error:'))).toHaveLength(1);
  expect(lines.find((l) => l.startsWith('Error:'))).toMatch(re);
  expect(lines.some((l) => l.startsWith('Try:'))).toBe(true);
  expect(r.stderr).not.toMatch(/\n\s+at /);
  if (maxLines !== null) expect(lines.length, r.stderr).toBeLessThanOrEqual(maxLines);
  if (secret !== undefined) expect(r.stdout + r.stderr).not.toContain(secret);
}
