/**
 * Security: nothing a client sends can stop `wks serve` (issue: one malformed
 * request target killed the daemon, and with it the scheduler and backups).
 * A real daemon, raw sockets, hostile request lines; the daemon must answer
 * each one (or close the connection) and keep serving /health.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runWks } from '../helpers/cli.js';
import { startServe, type Served } from '../helpers/serve.js';
import { tmpDir } from '../helpers/tmp.js';

/** Send raw bytes on a fresh connection; resolve with the status code (or null when closed without one). */
function raw(port: number, request: Buffer | string): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no answer to ${JSON.stringify(String(request).slice(0, 80))}`));
    }, 15_000);
    sock.on('data', (d) => chunks.push(d));
    sock.on('error', () => undefined); // a reset is an answer too: the server closed the connection
    sock.on('close', () => {
      clearTimeout(timer);
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(Buffer.concat(chunks).toString('latin1'));
      resolve(m ? Number(m[1]) : null);
    });
    sock.end(request);
  });
}

const req = (method: string, target: string | Buffer): Buffer =>
  Buffer.concat([
    Buffer.from(`${method} `, 'latin1'),
    Buffer.isBuffer(target) ? target : Buffer.from(target, 'latin1'),
    Buffer.from(' HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 'latin1'),
  ]);

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'TRACE', 'CONNECT', 'PROPFIND', 'FOO'];
const TARGETS: (string | Buffer)[] = [
  'http://[',
  'http://[::1',
  'https://[/metrics',
  'http://x:99999/ready',
  'http://user:pw@/health',
  'http://a/metrics',
  'file:///etc/passwd',
  '//',
  '*',
  'x',
  '/%',
  '/%zz',
  '/%E0%A4%A',
  '/ready%00',
  '/metrics?%ff=%',
  `/${'a'.repeat(20_000)}`,
  `/${'%'.repeat(70_000)}`,
  Buffer.from('/ready\0x', 'latin1'),
  Buffer.from('/\xff\xfe', 'latin1'),
  Buffer.from('/\r', 'latin1'),
  '/../../../etc/passwd',
  'example.com:443',
];

let dir: string;
let env: Record<string, string>;
let s: Served;
beforeAll(async () => {
  dir = tmpDir('wks-serve-fuzz');
  env = { DATABASE_PATH: path.join(dir, 'w.db'), BACKUP_STORAGE_PATH: path.join(dir, 'backups') };
  const r = await runWks(['migrate', 'up', '--no-backup'], { env, cwd: dir });
  expect(r.code, r.stderr).toBe(0);
  s = await startServe([], env, dir);
});
afterAll(async () => {
  if (!s) return;
  s.child.kill('SIGTERM');
  await s.exited;
});

describe('wks serve under hostile requests', () => {
  it('answers the reported request line `GET http://[` with 400 and stays up', async () => {
    expect(await raw(s.port, 'GET http://[ HTTP/1.1\r\nHost: x\r\n\r\n')).toBe(400);
    expect((await fetch(`${s.url}/health`)).status).toBe(200);
  });

  it('survives every method with every hostile target, and /health keeps answering', async () => {
    const statuses = new Map<string, number | null>();
    for (const method of METHODS) {
      const answers = await Promise.all(TARGETS.map((t) => raw(s.port, req(method, t))));
      for (const [i, st] of answers.entries()) statuses.set(`${method} ${String(TARGETS[i]).slice(0, 40)}`, st);
      expect(s.child.exitCode, s.stderr()).toBeNull();
      expect((await fetch(`${s.url}/health`)).status).toBe(200);
    }
    for (const [line, st] of statuses) {
      // Each request is answered or closed; never a 500 (a bug escaped). A valid absolute-form
      // target (`GET http://a/metrics`) is a legitimate request and may get 200.
      if (st !== null) expect(st, line).toBeLessThan(500);
    }
    const m = await (await fetch(`${s.url}/metrics`)).text();
    expect(m).toMatch(/http_requests_total\{method="GET",endpoint="other",status_code="400"\} \d+/);
    expect(m).not.toMatch(/^wks_unexpected_errors_total\{/m);
    expect(s.stderr()).not.toMatch(/TypeError|Invalid URL/);
  });

  it('keeps answering with many connections sending garbage at once', async () => {
    const junk = Array.from({ length: 200 }, (_, i) =>
      Buffer.from(`${'\0\xff\r\n'.repeat(i % 7)}GARBAGE ${i}\r\n\r\n`),
    );
    await Promise.all(junk.map((b) => raw(s.port, b)));
    expect((await fetch(`${s.url}/ready`)).status).toBeLessThan(600);
    expect((await fetch(`${s.url}/health`)).status).toBe(200);
  });
});

describe('the crash guard', () => {
  it('logs and counts an exception and a rejection that escaped every handler; the process keeps running', async () => {
    const dist = fileURLToPath(new URL('../../dist/', import.meta.url));
    const script = `
      const { installCrashGuard } = await import(${JSON.stringify(`${dist}serve/guard.js`)});
      const { createMetrics } = await import(${JSON.stringify(`${dist}metrics/registry.js`)});
      const m = createMetrics({ processDefaults: false });
      installCrashGuard(m.unexpectedErrorsTotal, (lvl, msg) => process.stderr.write(lvl + ' ' + msg + '\\n'));
      setTimeout(() => { throw new TypeError('Invalid URL'); }, 5);
      setTimeout(() => { Promise.reject(new Error('lost promise')); }, 10);
      setTimeout(async () => {
        process.stdout.write((await m.registry.getSingleMetricAsString('wks_unexpected_errors_total')) + '\\n');
        process.stdout.write('still alive\\n');
      }, 50);
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const code = await new Promise<number | null>((r) => child.on('exit', r));
    expect(code, err).toBe(0);
    expect(out).toMatch(/still alive/);
    expect(out).toMatch(/wks_unexpected_errors_total\{source="uncaught_exception"\} 1/);
    expect(out).toMatch(/wks_unexpected_errors_total\{source="unhandled_rejection"\} 1/);
    expect(err).toMatch(/error unexpected uncaught exception .*Invalid URL/);
    expect(err).toMatch(/lost promise/);
  });
});
