/**
 * Notifiers against a local HTTP receiver (Slack webhook, PagerDuty Events
 * API v2) and a local SMTP sink, both started here. No client is mocked:
 * fetch and nodemailer talk real HTTP/SMTP to them.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { DEFAULTS } from '../../src/config/defaults.js';
import type { Config } from '../../src/config/schema.js';
import { sendToChannel, notifyAll, configuredChannels, requireChannel, testEvent } from '../../src/alerts/notify.js';
import type { AlertEvent } from '../../src/alerts/rules.js';
import { ConfigError, OperationError } from '../../src/errors.js';

interface Received {
  path: string;
  body: any;
}

let httpServer: http.Server;
let httpBase = '';
const received: Received[] = [];
/** path -> statuses to answer before 202 (consumed one per request). */
const plan = new Map<string, number[]>();

let smtp: net.Server;
let smtpPort = 0;
const mails: string[] = [];

beforeAll(async () => {
  httpServer = http.createServer((req, res) => {
    let data = '';
    req.on('data', (d) => (data += d));
    req.on('end', () => {
      const path = req.url ?? '/';
      received.push({ path, body: data ? JSON.parse(data) : null });
      const statuses = plan.get(path);
      const status = statuses?.length ? statuses.shift()! : 202;
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end('{"status":"success"}');
    });
  });
  await new Promise<void>((r) => httpServer.listen(0, '127.0.0.1', r));
  httpBase = `http://127.0.0.1:${(httpServer.address() as AddressInfo).port}`;

  // A minimal SMTP sink (RFC 5321 happy path, no TLS, no auth).
  smtp = net.createServer((sock) => {
    sock.setEncoding('utf8');
    let buf = '';
    let inData = false;
    let msg = '';
    sock.write('220 sink ESMTP\r\n');
    sock.on('data', (chunk: string) => {
      buf += chunk;
      let i: number;
      while ((i = buf.indexOf('\r\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        if (inData) {
          if (line === '.') {
            inData = false;
            mails.push(msg);
            msg = '';
            sock.write('250 2.0.0 queued\r\n');
          } else msg += `${line}\n`;
          continue;
        }
        const cmd = line.slice(0, 4).toUpperCase();
        if (cmd === 'EHLO' || cmd === 'HELO') sock.write('250 sink\r\n');
        else if (cmd === 'MAIL' || cmd === 'RCPT' || cmd === 'RSET' || cmd === 'NOOP') sock.write('250 2.1.0 ok\r\n');
        else if (cmd === 'DATA') {
          inData = true;
          sock.write('354 go ahead\r\n');
        } else if (cmd === 'QUIT') {
          sock.end('221 bye\r\n');
        } else sock.write('502 5.5.2 unknown\r\n');
      }
    });
    sock.on('error', () => undefined);
  });
  await new Promise<void>((r) => smtp.listen(0, '127.0.0.1', r));
  smtpPort = (smtp.address() as AddressInfo).port;
});
afterAll(async () => {
  httpServer.closeAllConnections();
  await new Promise((r) => httpServer.close(r));
  await new Promise((r) => smtp.close(r));
});

function config(): Config {
  const c = structuredClone(DEFAULTS);
  c.health.check_timeout_ms = 2000;
  c.monitoring.alerts.slack_webhook = `${httpBase}/slack/T000/B000/s3cr3tw3bh00k`;
  c.monitoring.alerts.pagerduty_key = 'pd-routing-key-s3cret';
  c.monitoring.alerts.pagerduty_url = `${httpBase}/v2/enqueue`;
  c.monitoring.alerts.email = {
    enabled: true,
    to: 'ops@example.test',
    from: 'wks@example.test',
    smtp_url: `smtp://127.0.0.1:${smtpPort}`,
  };
  return c;
}

const event = (kind: 'firing' | 'resolved'): AlertEvent => ({
  kind,
  rule: 'backup_stale',
  severity: 'critical',
  summary: 'The newest backup is older than the recovery point objective',
  condition: 'backup_age > 3600',
  value: 7200,
  at: new Date('2026-06-01T12:00:00Z'),
  dedupKey: 'wks:backup_stale',
});

/** A port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

const fast = { attempts: 4, initialDelayMs: 20 };

describe('notifiers', () => {
  it('lists configured channels and names the missing keys of an unconfigured one', () => {
    expect(configuredChannels(config())).toEqual(['slack', 'email', 'pagerduty']);
    expect(configuredChannels(structuredClone(DEFAULTS))).toEqual([]);
    try {
      requireChannel(structuredClone(DEFAULTS), 'email');
      throw new Error('expected ConfigError');
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).hint).toMatch(/ALERT_SMTP_URL/);
    }
  });

  it('posts to the Slack webhook', async () => {
    received.length = 0;
    expect(await sendToChannel(config(), 'slack', event('firing'), fast)).toBe(1);
    expect(received).toHaveLength(1);
    expect(received[0]!.path).toBe('/slack/T000/B000/s3cr3tw3bh00k');
    expect(received[0]!.body.text).toMatch(/^\[FIRING\] backup_stale \(critical\)/);
  });

  it('PagerDuty: trigger and resolve share the dedup key', async () => {
    received.length = 0;
    await sendToChannel(config(), 'pagerduty', event('firing'), fast);
    await sendToChannel(config(), 'pagerduty', event('resolved'), fast);
    expect(received.map((r) => r.body.event_action)).toEqual(['trigger', 'resolve']);
    expect(received.map((r) => r.body.dedup_key)).toEqual(['wks:backup_stale', 'wks:backup_stale']);
    expect(received[0]!.body).toMatchObject({
      routing_key: 'pd-routing-key-s3cret',
      payload: { severity: 'critical', component: 'wks' },
    });
    expect(received[0]!.body.payload.summary).toMatch(/backup_stale/);
  });

  it('retries 5xx and 429 with backoff, then succeeds', async () => {
    received.length = 0;
    plan.set('/v2/enqueue', [503, 429]);
    const t0 = Date.now();
    expect(await sendToChannel(config(), 'pagerduty', event('firing'), fast)).toBe(3);
    expect(received).toHaveLength(3);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(60); // 20 + 40 ms of backoff
  });

  it('gives up after the last attempt without leaking the webhook URL or key', async () => {
    plan.set('/slack/T000/B000/s3cr3tw3bh00k', [500, 500, 500]);
    const err = await sendToChannel(config(), 'slack', event('firing'), { attempts: 3, initialDelayMs: 5 }).catch(
      (e) => e,
    );
    expect(err).toBeInstanceOf(OperationError);
    expect(err.message).toBe('could not notify slack: slack: HTTP 500');
    expect(JSON.stringify({ m: err.message, h: err.hint })).not.toMatch(/s3cr3t/);
    // A 4xx other than 429 is final: no retry.
    received.length = 0;
    plan.set('/slack/T000/B000/s3cr3tw3bh00k', [404]);
    await expect(sendToChannel(config(), 'slack', event('firing'), fast)).rejects.toThrow(/HTTP 404 \(not retried\)/);
    expect(received).toHaveLength(1);
    plan.clear();
  });

  it('network errors are retried and reported without the URL', async () => {
    const c = config();
    c.monitoring.alerts.slack_webhook = `http://127.0.0.1:${await closedPort()}/hooks/s3cr3t`;
    const err = await sendToChannel(c, 'slack', event('firing'), { attempts: 2, initialDelayMs: 5 }).catch((e) => e);
    expect(err.message).toMatch(/^could not notify slack: slack: request failed \(ECONNREFUSED\)$/);
    expect(err.details.attempts).toBe(2);
  });

  it('sends email through SMTP', async () => {
    mails.length = 0;
    await sendToChannel(config(), 'email', event('resolved'), fast);
    expect(mails).toHaveLength(1);
    expect(mails[0]).toMatch(/Subject: \[RESOLVED\] wks backup_stale/);
    expect(mails[0]).toMatch(/To: ops@example\.test/);
  });

  it('notifyAll reports each channel and never throws', async () => {
    const c = config();
    c.monitoring.alerts.pagerduty_url = `http://127.0.0.1:${await closedPort()}/v2/enqueue`;
    const res = await notifyAll(c, testEvent('firing'), { attempts: 1 });
    expect(Object.fromEntries(res.map((r) => [r.channel, r.ok]))).toEqual({
      slack: true,
      email: true,
      pagerduty: false,
    });
  });
});
