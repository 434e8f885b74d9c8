/**
 * PostgreSQL TLS: PG_SSL verifies the server (verify-full: the certificate
 * chains to the CA and names the host); PG_SSL_MODE=require only encrypts.
 * A fake PostgreSQL server on 127.0.0.1 answers the SSLRequest with 'S' and
 * presents certificates made here with openssl; it records whether a client
 * completed the TLS handshake and sent its startup message.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import path from 'node:path';
import { runWks } from '../helpers/cli.js';
import { tmpDir } from '../helpers/tmp.js';
import { loadConfig } from '../../src/config/loader.js';
import { conninfo, pgConn } from '../../src/backup/engines/pg-tools.js';

let dir: string;
let server: net.Server;
let port: number;
let startups = 0;

const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });

beforeAll(async () => {
  dir = tmpDir('e2e-pg-tls');
  for (const ca of ['ca', 'other'])
    openssl(
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      `${ca}.key`,
      '-out',
      `${ca}.pem`,
      '-days',
      '2',
      '-subj',
      `/CN=wks test ${ca}`,
    );
  openssl(
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'server.key',
    '-out',
    'server.csr',
    '-subj',
    '/CN=localhost',
  );
  writeFileSync(path.join(dir, 'san.ext'), 'subjectAltName=DNS:localhost\n');
  openssl(
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'server.pem',
    '-days',
    '2',
    '-extfile',
    'san.ext',
  );
  const key = readFileSync(path.join(dir, 'server.key'));
  const cert = readFileSync(path.join(dir, 'server.pem'));
  server = net.createServer((sock) => {
    sock.on('error', () => undefined);
    sock.once('data', () => {
      // SSLRequest: say yes, then speak TLS.
      sock.write('S');
      const t = new tls.TLSSocket(sock, { isServer: true, key, cert });
      t.on('error', () => undefined);
      t.once('data', () => {
        startups++;
        t.destroy();
      });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as net.AddressInfo).port;
});
afterAll(() => server?.close());

const attempt = async (env: Record<string, string>): Promise<{ reached: boolean; stderr: string }> => {
  const before = startups;
  const r = await runWks(['migrate', 'status'], {
    env: {
      PG_ENABLED: 'true',
      PG_HOST: 'localhost',
      PG_PORT: String(port),
      PG_DATABASE: 'x',
      PG_USER: 'u',
      PG_PASSWORD: 'tls-test-password',
      ...env,
    },
    cwd: dir,
  });
  expect(r.code).not.toBe(0); // the fake server never completes a login
  return { reached: startups > before, stderr: r.stderr };
};

describe('PostgreSQL TLS modes', () => {
  it('PG_SSL=true means verify-full: a server whose certificate does not chain to the CA gets nothing', async () => {
    const bad = await attempt({ PG_SSL: 'true', PG_SSL_CA_FILE: path.join(dir, 'other.pem') });
    expect(bad.reached, bad.stderr).toBe(false);
    const good = await attempt({ PG_SSL: 'true', PG_SSL_CA_FILE: path.join(dir, 'ca.pem') });
    expect(good.reached, good.stderr).toBe(true);
  });

  it('verify-full checks the name; verify-ca does not; require checks nothing', async () => {
    const ca = path.join(dir, 'ca.pem');
    const byIp = await attempt({ PG_HOST: '127.0.0.1', PG_SSL_MODE: 'verify-full', PG_SSL_CA_FILE: ca });
    expect(byIp.reached, byIp.stderr).toBe(false);
    const caOnly = await attempt({ PG_HOST: '127.0.0.1', PG_SSL_MODE: 'verify-ca', PG_SSL_CA_FILE: ca });
    expect(caOnly.reached, caOnly.stderr).toBe(true);
    const req = await attempt({ PG_SSL_MODE: 'require', PG_SSL_CA_FILE: path.join(dir, 'other.pem') });
    expect(req.reached, req.stderr).toBe(true);
  });

  it('config show says which mode is in force; pg_dump/pg_restore get the same mode and CA', async () => {
    const show = await runWks(['config', 'show', '--json'], { env: { PG_SSL: 'true' }, cwd: dir });
    expect(show.code, show.stderr).toBe(0);
    expect(JSON.stringify(show.json())).toMatch(/"ssl_mode": ?"verify-full"/);
    const off = await runWks(['config', 'show', '--json'], { env: {}, cwd: dir });
    expect(JSON.stringify(off.json())).toMatch(/"ssl_mode": ?"disable"/);
    const ca = path.join(dir, 'ca.pem');
    const { config } = loadConfig({
      env: { PG_ENABLED: 'true', PG_SSL: 'true', PG_SSL_CA_FILE: ca, PG_USER: 'u', PG_PASSWORD: 'long-enough-pw' },
      cwd: dir,
    });
    const ci = conninfo(pgConn(config), 'db');
    expect(ci).toContain("sslmode='verify-full'");
    expect(ci).toContain(`sslrootcert='${ca}'`);
  });
});
