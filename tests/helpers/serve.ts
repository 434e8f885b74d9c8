/** e2e helper: spawn `wks serve` on a free port as a user would and wait until it says it is serving. */
import { spawn, type ChildProcess } from 'node:child_process';
import { baseEnv, WKS_BIN, REPO } from './cli.js';
import { freePort } from './net.js';

export interface Served {
  child: ChildProcess;
  port: number;
  url: string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  waitFor: (re: RegExp, ms?: number) => Promise<RegExpMatchArray>;
}

/** Start `wks <args> serve --port <free>` and wait until it logs `serving http://`. */
export async function startServe(args: string[], env: Record<string, string>, cwd = REPO): Promise<Served> {
  const port = await freePort();
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
  const waitFor = async (re: RegExp, ms = 15_000): Promise<RegExpMatchArray> => {
    const t0 = Date.now();
    for (;;) {
      const m = err.match(re);
      if (m) return m;
      if (child.exitCode !== null) throw new Error(`wks serve exited (${child.exitCode}) before ${re}:\n${err}`);
      if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${re}:\n${err}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  };
  await waitFor(/serving http:\/\//);
  return { child, port, url: `http://127.0.0.1:${port}`, stderr: () => err, exited, waitFor };
}
