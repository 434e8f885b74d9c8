/**
 * A supervisor's SIGTERM reaches wks (#18 item 11): each supported way of
 * running the daemon (docs/serve.md, "Running it under a supervisor") is
 * started with its command line as written, the signal goes to the pid the
 * supervisor would signal (the process it started), and wks must exit 0 and
 * free its port. `npx wks serve` is tested for what this machine's npm really
 * does, and the doc must say the same.
 */
import { describe, it, expect } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, readlinkSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { REPO, runWks } from '../helpers/cli.js';
import { freePort } from '../helpers/net.js';
import { eventually } from '../helpers/serve.js';
import { tmpDir } from '../helpers/tmp.js';

const NODE_DIR = path.dirname(process.execPath);
const serveDoc = readFileSync(path.join(REPO, 'docs/serve.md'), 'utf8');
const unit = readFileSync(path.join(REPO, 'templates/systemd/wks-serve.service'), 'utf8');

/** A migrated SQLite database and the environment a unit's EnvironmentFile would give (port via METRICS_PORT, so the command line stays as written). */
async function workdir(): Promise<{ dir: string; port: number; env: Record<string, string> }> {
  const dir = tmpDir('e2e-sig');
  const port = await freePort();
  const env = {
    DATABASE_PATH: path.join(dir, 'wks.db'),
    BACKUP_STORAGE_PATH: path.join(dir, 'backups'),
    METRICS_PORT: String(port),
  };
  const m = await runWks(['migrate', 'up', '--no-backup'], { cwd: dir, env });
  expect(m.code, m.stderr).toBe(0);
  return { dir, port, env };
}

const healthy = (port: number) =>
  fetch(`http://127.0.0.1:${port}/health`).then(
    (r) => r.status === 200,
    () => false,
  );

/** True when nothing accepts connections on the port any more. */
const portFree = (port: number) =>
  new Promise<boolean>((res) => {
    const s = net.connect(port, '127.0.0.1');
    s.on('connect', () => (s.destroy(), res(false)));
    s.on('error', () => res(true));
  });

interface Started {
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr: () => string;
}

/** Start `argv` as a supervisor would (its own process group) and wait for /health. */
async function supervise(argv: string[], env: Record<string, string>, cwd: string, port: number): Promise<Started> {
  const child = spawn(argv[0]!, argv.slice(1), {
    cwd,
    env: { PATH: `${NODE_DIR}:/usr/bin:/bin`, HOME: process.env.HOME, LANG: 'C.UTF-8', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: true,
  });
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (d) => (err += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.on('exit', (code, signal) => r({ code, signal })),
  );
  const up = await eventually(() => healthy(port), Boolean, 20_000);
  if (!up) {
    process.kill(-child.pid!, 'SIGKILL');
    throw new Error(`${argv.join(' ')} did not answer /health:\n${err}`);
  }
  return { child, exited, stderr: () => err };
}

/** SIGTERM to the pid the supervisor started; wks must drain, exit 0 and free the port. */
async function termAndExpectGone(s: Started, port: number): Promise<void> {
  process.kill(s.child.pid!, 'SIGTERM');
  const exit = await Promise.race([s.exited, new Promise<null>((r) => setTimeout(() => r(null), 20_000))]);
  if (exit === null) process.kill(-s.child.pid!, 'SIGKILL');
  expect(exit, `no exit after SIGTERM:\n${s.stderr()}`).toEqual({ code: 0, signal: null });
  expect(await portFree(port)).toBe(true);
}

describe('the supervised ways of running wks serve stop on SIGTERM', () => {
  it("the systemd unit's ExecStart, as written, over a global install (README: `npm install -g .`)", async () => {
    // README installs globally for the unit (`npm install -g .`): the same command, into a prefix of its own.
    // --ignore-scripts: dist/ is built, and npm 11 does not run a folder's prepare script on a global install anyway.
    expect(readFileSync(path.join(REPO, 'README.md'), 'utf8')).toMatch(/npm install -g \.`\) for the systemd unit/);
    expect(serveDoc).toContain('`ExecStart=/usr/bin/env wks serve`');
    const execStart = /^ExecStart=(.+)$/m.exec(unit)![1]!;
    expect(execStart).toBe('/usr/bin/env wks serve');
    expect(unit).toMatch(/^KillSignal=SIGTERM$/m);
    expect(unit).toMatch(/^KillMode=mixed$/m); // SIGTERM to the main process only

    const { dir, port, env } = await workdir();
    const prefix = tmpDir('e2e-sig-prefix');
    const npm = spawnSync(
      'npm',
      ['install', '-g', '--prefix', prefix, '.', '--ignore-scripts', '--no-audit', '--no-fund'],
      {
        cwd: REPO,
        encoding: 'utf8',
        timeout: 120_000,
      },
    );
    expect(npm.status, npm.stderr).toBe(0);
    expect(readlinkSync(path.join(prefix, 'bin/wks'))).toBe('../lib/node_modules/wks/bin/wks.js');
    const s = await supervise(
      execStart.split(' '),
      { ...env, PATH: `${prefix}/bin:${NODE_DIR}:/usr/bin:/bin` },
      dir,
      port,
    );
    // env exec'd the script, whose #! line exec'd node: the main process *is* wks.
    expect(realpathSync(readlinkSync(`/proc/${s.child.pid}/exe`))).toBe(realpathSync(process.execPath));
    expect(readFileSync(`/proc/${s.child.pid}/cmdline`, 'utf8')).toContain(`${prefix}/bin/wks\0serve`);
    await termAndExpectGone(s, port);
  });

  it.each([
    ['an explicit node (ExecStart=/usr/bin/node /opt/wks/bin/wks.js serve)', 'absolute'],
    ['a container, exec form (CMD ["node", "bin/wks.js", "serve"])', 'relative'],
  ])('%s', async (_name, kind) => {
    expect(serveDoc).toContain(
      kind === 'absolute'
        ? '`ExecStart=/usr/bin/node /opt/wks/bin/wks.js serve`'
        : '`CMD ["node", "bin/wks.js", "serve"]`',
    );
    const { port, env } = await workdir();
    // /usr/bin/node stands for the absolute path of the node that runs wks (here: the one running the tests,
    // whose ABI the native modules were built for).
    const node = process.execPath;
    const argv = kind === 'absolute' ? [node, path.join(REPO, 'bin/wks.js'), 'serve'] : ['node', 'bin/wks.js', 'serve'];
    // The container runs in the package's directory with its own environment (no config file there).
    const cwd = kind === 'absolute' ? tmpDir('e2e-sig-cwd') : REPO;
    const s = await supervise(argv, env, cwd, port);
    await termAndExpectGone(s, port);
  });
});

describe('npx wks serve (a terminal only)', () => {
  const npmVersion = spawnSync('npm', ['--version'], { encoding: 'utf8' }).stdout.trim();

  /** A project with wks installed locally, as `npx wks` finds it. */
  function project(): string {
    const dir = tmpDir('e2e-sig-npx');
    writeFileSync(path.join(dir, 'package.json'), '{"name":"app","version":"1.0.0","private":true}\n');
    mkdirSync(path.join(dir, 'node_modules/.bin'), { recursive: true });
    symlinkSync(REPO, path.join(dir, 'node_modules/wks'));
    symlinkSync('../wks/bin/wks.js', path.join(dir, 'node_modules/.bin/wks'));
    return dir;
  }

  it.runIf(!!npmVersion)(
    "Ctrl-C (SIGINT to the foreground process group) stops it; SIGTERM to npx's pid alone does what docs/serve.md says",
    async () => {
      const { port, env, dir } = await workdir();
      const proj = project();
      const e = { ...env, DATABASE_PATH: path.join(dir, 'wks.db') };
      // What a terminal does on Ctrl-C: SIGINT to every process of the group.
      const a = await supervise(['npx', 'wks', 'serve'], e, proj, port);
      process.kill(-a.child.pid!, 'SIGINT');
      expect(await eventually(() => portFree(port), Boolean, 20_000)).toBe(true);
      await a.exited;

      // What a supervisor does: SIGTERM to the pid it started (npm).
      const b = await supervise(['npx', 'wks', 'serve'], e, proj, port);
      process.kill(b.child.pid!, 'SIGTERM');
      await Promise.race([b.exited, new Promise((r) => setTimeout(r, 10_000))]);
      await new Promise((r) => setTimeout(r, 1000));
      const stillServing = await healthy(port);
      // Clean up whatever is left: wks may have been orphaned (reparented) but is still in the group.
      try {
        process.kill(-b.child.pid!, 'SIGTERM');
      } catch {
        /* the group is gone */
      }
      expect(await eventually(() => portFree(port), Boolean, 20_000)).toBe(true);
      if (stillServing) {
        expect(serveDoc, `npm ${npmVersion} does not forward SIGTERM; docs/serve.md must say so`).toMatch(
          /SIGTERM sent to npx's pid is not passed on: npm exits and wks keeps serving/,
        );
      } else {
        expect.fail(
          `npm ${npmVersion} forwarded SIGTERM to wks: docs/serve.md says it does not; update it (and this test)`,
        );
      }
    },
    60_000,
  );
});
