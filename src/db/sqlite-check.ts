/**
 * SQLite's full-file checks (`PRAGMA quick_check` / `integrity_check`) in a
 * child process that can be killed.
 *
 * Why a process and not the calling thread or a worker thread: the check is
 * one native call that reads the whole file (seconds per GB) and SQLite offers
 * no way to interrupt it through better-sqlite3. On the calling thread it
 * blocks the event loop, so no timer (a health timeout, an HTTP probe) can
 * fire. A worker thread keeps the event loop free, but a worker stuck in a
 * native call cannot be stopped, and Node waits for it before the process
 * exits. A child process is killed at once (SIGKILL) when the caller gives up,
 * and it only ever reads (opened read-only), so killing it is harmless.
 */
import { trackChild } from '../util/interrupt.js';
import { minimalEnv } from '../util/process.js';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';

export type SqliteCheckPragma = 'quick_check' | 'integrity_check';

export interface SqliteCheckOptions {
  pragma: SqliteCheckPragma;
  /** At most this many problem messages (default 20). */
  maxErrors?: number;
  /** SQLite busy timeout in the child, in ms. */
  busyTimeoutMs: number;
  /** Aborting kills the child; the promise then rejects with the signal's reason. */
  signal?: AbortSignal;
}

// Runs in the child (CommonJS, `node -e`): argv = [better-sqlite3 path, file, pragma, limit, busy ms].
const CHILD = `
const [mod, file, pragma, limit, busy] = process.argv.slice(1);
let out;
try {
  const db = new (require(mod))(file, { readonly: true, fileMustExist: true, timeout: Number(busy) });
  const rows = db.pragma(pragma + '(' + Number(limit) + ')');
  out = { messages: rows.map((r) => String(Object.values(r)[0])) };
  db.close();
} catch (e) {
  out = { error: String(e && e.message), code: e && e.code };
}
process.stdout.write(JSON.stringify(out));
`;

/**
 * Run `PRAGMA <pragma>(maxErrors)` on `file` in a child process and return its
 * messages (`['ok']` for a sound file).
 * @throws Error with SQLite's message (and `code`, e.g. SQLITE_CORRUPT,
 *         SQLITE_NOTADB, SQLITE_CANTOPEN) when the check cannot run; the
 *         signal's reason when aborted.
 */
export function sqliteCheckInChild(file: string, opts: SqliteCheckOptions): Promise<string[]> {
  const mod = createRequire(import.meta.url).resolve('better-sqlite3');
  const args = ['-e', CHILD, mod, file, opts.pragma, String(opts.maxErrors ?? 20), String(opts.busyTimeoutMs)];
  const { signal } = opts;
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const child = trackChild(spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: minimalEnv() }));
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-2000)));
    const onAbort = () => {
      child.kill('SIGKILL');
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    child.once('error', (err) => {
      signal?.removeEventListener('abort', onAbort);
      reject(err);
    });
    child.once('close', (code, sig) => {
      signal?.removeEventListener('abort', onAbort);
      let r: { messages?: string[]; error?: string; code?: string } | undefined;
      try {
        r = JSON.parse(stdout);
      } catch {
        r = undefined;
      }
      if (r?.messages) return resolve(r.messages);
      if (r?.error) return reject(Object.assign(new Error(r.error), { code: r.code }));
      const why = sig ? `signal ${sig}` : `exit code ${code}`;
      reject(new Error(`the SQLite ${opts.pragma} process ended with ${why}${stderr ? `: ${stderr.trim()}` : ''}`));
    });
  });
}
