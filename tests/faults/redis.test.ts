import { describe, it, expect, afterAll } from 'vitest';
import net from 'node:net';
import path from 'node:path';
import { runWks } from '../helpers/cli.js';
import { createTestRedis } from '../helpers/services.js';
import { tmpDir } from '../helpers/tmp.js';

const redis = await createTestRedis('faultredis');
const servers: net.Server[] = [];
afterAll(async () => {
  for (const s of servers) s.close();
  await redis?.cleanup();
});

const STACK = /\bat .*\.js:\d+/;

function listen(onConn: (sock: net.Socket) => void): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer(onConn);
    servers.push(s);
    s.listen(0, '127.0.0.1', () => resolve((s.address() as net.AddressInfo).port));
  });
}

describe('Redis faults', () => {
  it('a server that accepts but never answers fails within the connect timeout, no stack trace', async () => {
    const sockets: net.Socket[] = [];
    const port = await listen((sock) => void sockets.push(sock));
    const t0 = Date.now();
    const r = await runWks(['lock', 'list'], {
      cwd: tmpDir('fault'),
      env: {
        REDIS_ENABLED: 'true',
        REDIS_HOST: '127.0.0.1',
        REDIS_PORT: String(port),
        REDIS_CONNECT_TIMEOUT_MS: '400',
      },
    });
    const elapsed = Date.now() - t0;
    for (const s of sockets) s.destroy();
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /^Error: Redis at 127\.0\.0\.1:\d+ is unreachable \(no answer within the connect timeout/m,
    );
    expect(r.stderr).not.toMatch(STACK);
    // 2 attempts x 400 ms + backoff + process start: well under 5 s, never a hang.
    expect(elapsed).toBeLessThan(5000);
  });

  it.skipIf(!redis)('Redis going away in the middle of a scan is one line, exit 1, no stack trace', async () => {
    // A proxy to the real Redis that cuts both sockets when the client sends SCAN.
    const target = new URL(process.env.WKS_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/15');
    const port = await listen((client) => {
      const upstream = net.connect(Number(target.port || 6379), target.hostname);
      client.on('data', (d) => {
        if (/SCAN/i.test(d.toString('latin1'))) {
          client.destroy();
          upstream.destroy();
          return;
        }
        upstream.write(d);
      });
      upstream.on('data', (d) => client.write(d));
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
    });
    await redis!.client.set(`${redis!.namespace}:lock:execution:1`, 'w1', 'EX', 60);
    const cwd = tmpDir('fault');
    const r = await runWks(['lock', 'list'], {
      cwd,
      env: {
        ...redis!.env,
        REDIS_HOST: '127.0.0.1',
        REDIS_PORT: String(port),
        DATABASE_PATH: path.join(cwd, 'none.db'),
      },
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^Error: Redis at 127\.0\.0\.1:\d+\/15 went away during the command/m);
    expect(r.stderr).toMatch(/^Try: /m);
    expect(r.stderr).not.toMatch(STACK);
  });
});
