/**
 * Alerts end to end: `wks alerts test` and the daemon's alert job, against a
 * local HTTP receiver (Slack webhook + PagerDuty Events API v2) started here.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import http from 'node:http';
import net from 'node:net';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import path from 'node:path';
import { runWks, baseEnv, WKS_BIN } from '../helpers/cli.js';
import { tmpDir } from '../helpers/tmp.js';
import { startServe, eventually } from '../helpers/serve.js';

const received: Array<{ path: string; body: any }> = [];
let server: http.Server;
let base = '';
let dir: string;
let env: Record<string, string>;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let data = '';
    req.on('data', (d) => (data += d));
    req.on('end', () => {
      received.push({ path: req.url ?? '/', body: JSON.parse(data || 'null') });
      res.writeHead(202, { 'Content-Type': 'application/json' });
      res.end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  dir = tmpDir('wks-alerts-e2e');
  env = {
    DATABASE_PATH: path.join(dir, 'w.db'),
    BACKUP_STORAGE_PATH: path.join(dir, 'backups'),
    ALERT_SLACK_WEBHOOK: `${base}/hooks/SECRET-hook-path`,
    ALERT_PAGERDUTY_KEY: 'pd-SECRET-routing-key',
    ALERT_PAGERDUTY_URL: `${base}/v2/enqueue`,
  };
  expect((await runWks(['migrate', 'up'], { env, cwd: dir })).code).toBe(0);
});
afterAll(() => {
  server.closeAllConnections();
  server.close();
});

describe('wks alerts test', () => {
  it('sends to Slack', async () => {
    received.length = 0;
    const r = await runWks(['alerts', 'test', '--channel', 'slack', '--json'], { env, cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    expect(r.json()).toMatchObject({ channel: 'slack', sent: true, attempts: 1 });
    expect(received).toHaveLength(1);
    expect(received[0]!.body.text).toMatch(/\[FIRING\] wks_test/);
  });

  it('PagerDuty: a trigger, then its resolve, on one dedup key', async () => {
    received.length = 0;
    const r = await runWks(['alerts', 'test', '--channel', 'pagerduty'], { env, cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/test notification sent to pagerduty \(trigger \+ resolve\)/);
    expect(received.map((x) => x.body.event_action)).toEqual(['trigger', 'resolve']);
    expect(received[0]!.body.dedup_key).toBe(received[1]!.body.dedup_key);
    expect(r.stdout + r.stderr).not.toMatch(/SECRET/);
  });

  it('an unconfigured channel is a configuration error (78) naming the variable', async () => {
    const r = await runWks(['alerts', 'test', '--channel', 'email'], { env, cwd: dir });
    expect(r.code).toBe(78);
    expect(r.stderr).toMatch(/the email channel is not configured/);
    expect(r.stderr).toMatch(/ALERT_SMTP_URL/);
  });

  it('an unreachable receiver fails with exit 1 and no secret in the message', async () => {
    const s = net.createServer();
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    const port = (s.address() as net.AddressInfo).port;
    await new Promise((r) => s.close(r));
    const r = await runWks(['alerts', 'test', '--channel', 'slack'], {
      env: { ...env, ALERT_SLACK_WEBHOOK: `http://127.0.0.1:${port}/hooks/SECRET-x` },
      cwd: dir,
      timeoutMs: 20_000,
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/could not notify slack: slack: request failed \(ECONNREFUSED\)/);
    expect(r.stderr).not.toMatch(/SECRET/);
  });
});

describe('the alerts job in wks serve', () => {
  it('a fresh install with the default rules is quiet: nothing fires at the first evaluations', async () => {
    received.length = 0;
    const cfg = path.join(dir, 'quiet.yml');
    writeFileSync(
      cfg,
      [
        'phase4:',
        '  version: "4.0.0"',
        '  monitoring:',
        '    alerts:',
        '      enabled: true',
        '  serve:',
        '    jobs:',
        '      backup: { enabled: false }',
        '      alerts: { enabled: true, schedule: "* * * * * *" }',
        '',
      ].join('\n'),
    );
    const s = await startServe(['-c', cfg], { ...env, METRICS_SCRAPE_CACHE_MS: '0' }, dir);
    try {
      // Several evaluations (one per second) with no backup at all.
      await eventually(
        async () => (await (await fetch(`${s.url}/ready`)).json()) as any,
        (d) => d.jobs?.find((j: any) => j.name === 'alerts')?.lastSuccess,
        10_000,
      );
      await new Promise((r) => setTimeout(r, 3000));
      const ready = (await (await fetch(`${s.url}/ready`)).json()) as any;
      const stale = ready.alerts.rules.find((r: any) => r.name === 'backup_stale');
      // Pending at most: no backup yet, but the RPO has not passed since serve started.
      expect(stale.state).toBe('inactive');
      expect(received, JSON.stringify(received)).toEqual([]);
    } finally {
      expect((await s.stop()).code).toBe(0);
    }
  });

  it('fires backup_stale once (no backups at all), de-duplicated across evaluations', async () => {
    received.length = 0;
    const cfg = path.join(dir, 'alerts.yml');
    writeFileSync(
      cfg,
      [
        'phase4:',
        '  version: "4.0.0"',
        '  monitoring:',
        '    alerts:',
        '      enabled: true',
        '      rules:',
        '        - { name: backup_stale, condition: "backup_age > 0", duration: "0s" }',
        '  serve:',
        '    jobs:',
        '      backup: { enabled: false }',
        '      alerts: { enabled: true, schedule: "* * * * * *" }',
        '',
      ].join('\n'),
    );
    const s = net.createServer();
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    const port = (s.address() as net.AddressInfo).port;
    await new Promise((r) => s.close(r));
    const child = spawn(process.execPath, [WKS_BIN, '-c', cfg, 'serve', '--port', String(port)], {
      cwd: dir,
      env: baseEnv({ ...env, METRICS_SCRAPE_CACHE_MS: '0' }),
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    child.stderr!.setEncoding('utf8').on('data', (d) => (err += d));
    const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    try {
      const t0 = Date.now();
      while (!received.some((x) => x.body?.event_action === 'trigger')) {
        if (Date.now() - t0 > 15_000 || child.exitCode !== null) throw new Error(`no PagerDuty trigger:\n${err}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      await new Promise((r) => setTimeout(r, 2500)); // two more evaluations
      const stale = received.filter(
        (x) => x.body?.dedup_key === 'wks:backup_stale' || /backup_stale/.test(x.body?.text ?? ''),
      );
      expect(stale.map((x) => (x.path.startsWith('/hooks') ? 'slack' : x.body.event_action)).sort()).toEqual([
        'slack',
        'trigger',
      ]);
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      expect(text).toMatch(/^wks_alerts_firing\{alert="backup_stale"\} 1$/m);
      expect(text).toMatch(/^wks_alert_notifications_total\{channel="pagerduty",result="success"\} \d+$/m);
      const ready = (await (await fetch(`http://127.0.0.1:${port}/ready`)).json()) as any;
      expect(ready.alerts.rules.find((r: any) => r.name === 'backup_stale').state).toBe('firing');
      expect(err).toMatch(/alert backup_stale firing/);
      expect(err).not.toMatch(/SECRET/);
    } finally {
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    }
  });
});

describe('alert state across a failover', () => {
  it('a firing alert is notified once in total, and its resolve exactly once, when the leader dies', async () => {
    received.length = 0;
    const fdir = tmpDir('wks-alerts-failover');
    const fenv = {
      DATABASE_PATH: path.join(fdir, 'w.db'),
      BACKUP_STORAGE_PATH: path.join(fdir, 'backups'),
      ALERT_SLACK_WEBHOOK: `${base}/hooks/SECRET-hook-path`,
      METRICS_SCRAPE_CACHE_MS: '0',
    };
    expect((await runWks(['migrate', 'up', '--no-backup'], { env: fenv, cwd: fdir })).code).toBe(0);
    const cfg = path.join(fdir, 'failover.yml');
    writeFileSync(
      cfg,
      [
        'phase4:',
        '  version: "4.0.0"',
        '  monitoring:',
        '    alerts:',
        '      enabled: true',
        '      rules:',
        // No backup yet: backup_age counts from the instance's start, so this fires after 3 s.
        '        - { name: backup_stale, condition: "backup_age > 3s", duration: "0s" }',
        '  serve:',
        '    leader_lease_ms: 2000',
        '    jobs:',
        '      backup: { enabled: false }',
        '      alerts: { enabled: true, schedule: "* * * * * *" }',
        '',
      ].join('\n'),
    );
    const a = await startServe(['-c', cfg], fenv, fdir);
    const b = await startServe(['-c', cfg], fenv, fdir);
    const leaderOf = async (s: typeof a) => ((await (await fetch(`${s.url}/ready`)).json()) as any).leader.leader;
    const slack = () => received.filter((x) => x.path.startsWith('/hooks')).map((x) => x.body.text as string);
    // Completed evaluations of the alert rules on `s` (its alerts job), read from its /metrics.
    const evaluations = async (s: typeof a): Promise<number> => {
      const text = await (await fetch(`${s.url}/metrics`)).text();
      return Number(/^wks_job_runs_total\{job_name="alerts",result="success"\} (\S+)$/m.exec(text)?.[1] ?? 0);
    };
    // Wait (on the instance's own count, not the clock) until `s` has evaluated the rules `n` more times.
    const evaluatedMore = async (s: typeof a, n: number): Promise<void> => {
      const from = await evaluations(s);
      const reached = await eventually(
        () => evaluations(s),
        (v) => v >= from + n,
        30_000,
      );
      expect(reached, `${s.url} did not evaluate the alert rules ${n} more times`).toBeGreaterThanOrEqual(from + n);
    };
    try {
      // Which one leads: wait until exactly one says so (right after start, neither may hold the lease yet).
      const roles = await eventually(
        async () => [await leaderOf(a), await leaderOf(b)],
        (r) => r[0] !== r[1],
        15_000,
      );
      expect(roles[0], 'exactly one instance leads').not.toBe(roles[1]);
      const [leader, follower] = roles[0] ? [a, b] : [b, a];
      await eventually(
        async () => slack(),
        (m) => m.length >= 1,
        15_000,
      );
      expect(slack()).toHaveLength(1);
      expect(slack()[0]).toMatch(/^\[FIRING\] backup_stale/);
      // /ready shows when it was notified (once the delivery has been answered: poll).
      const notified = await eventually(
        async () =>
          ((await (await fetch(`${leader.url}/ready`)).json()) as any).alerts.rules.find(
            (r: any) => r.name === 'backup_stale',
          ).lastNotified,
        (v) => typeof v === 'string',
        10_000,
      );
      expect(notified).toMatch(/^\d{4}-/);

      // Killed once it has stored what it notified (the window between sending and storing is the
      // documented at-least-once case, not what this test is about).
      const row = await eventually(
        async () => {
          const db = new Database(fenv.DATABASE_PATH, { readonly: true });
          try {
            return db.prepare("SELECT state, notified_at_ms FROM alert_state WHERE rule = 'backup_stale'").get() as any;
          } finally {
            db.close();
          }
        },
        (r) => r?.state === 'firing' && Number(r?.notified_at_ms) > 0,
        10_000,
      );
      expect(row).toMatchObject({ state: 'firing' });
      leader.child.kill('SIGKILL');
      await leader.exited;
      await eventually(
        () => leaderOf(follower),
        (l) => l === true,
        10_000,
      );
      // The new leader evaluates every second and finds the alert already firing and notified.
      await eventually(
        async () => ((await (await fetch(`${follower.url}/ready`)).json()) as any).alerts.rules,
        (rules) => rules?.find((r: any) => r.name === 'backup_stale')?.state === 'firing',
        10_000,
      );
      await evaluatedMore(follower, 3); // three evaluations as the leader: none may notify it again
      expect(slack(), JSON.stringify(slack())).toHaveLength(1);

      // The condition clears (a backup): the resolve is sent once.
      expect((await runWks(['-q', 'backup', 'create'], { env: fenv, cwd: fdir })).code).toBe(0);
      await eventually(
        async () => slack(),
        (m) => m.length >= 2,
        15_000,
      );
      await evaluatedMore(follower, 2); // two more evaluations: the resolve is not sent again
      // (The backup ages past 3 s again soon after, so a new firing may follow: a new incident, not a duplicate.)
      const heads = slack().map((t) => t.split(':')[0]);
      expect(heads.slice(0, 2)).toEqual(['[FIRING] backup_stale (warning)', '[RESOLVED] backup_stale']);
      expect(heads.filter((h) => h.startsWith('[RESOLVED]'))).toHaveLength(1);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  });
});
