/**
 * `wks serve` and `wks metrics` as a user runs them: spawn bin/wks.js, scrape
 * it over HTTP, check the exposition with promtool, signal it.
 */
import { describe, it, expect, beforeAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { writeFileSync, statSync, readFileSync, existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import path from 'node:path';
import Database from 'better-sqlite3';
import { runWks, REPO } from '../helpers/cli.js';
import { startServe } from '../helpers/serve.js';
import { reservedLabels } from '../helpers/prometheus.js';
import { tmpDir } from '../helpers/tmp.js';
import { JOB_NAMES } from '../../src/serve/jobs.js';

const PROMTOOL = spawnSync('promtool', ['--version']).status === 0;
const needPromtool = (ctx: { skip: () => void }): boolean => {
  if (PROMTOOL) return true;
  if (process.env.CI === 'true')
    throw new Error('promtool is required under CI (.ci/run installs the prometheus package)');
  console.warn('!!! SKIPPING promtool checks: install the Debian package `prometheus`');
  ctx.skip();
  return false;
};

function promtoolCheck(text: string): { status: number | null; out: string } {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

const metricValue = (text: string, re: RegExp): number | null => {
  const m = text.match(re);
  return m ? Number(m[1]) : null;
};

let dir: string;
let env: Record<string, string>;
beforeAll(async () => {
  dir = tmpDir('wks-serve-e2e');
  // Every scrape renders afresh (the 1 s scrape cache is tested on its own below).
  env = {
    DATABASE_PATH: path.join(dir, 'w.db'),
    BACKUP_STORAGE_PATH: path.join(dir, 'backups'),
    METRICS_SCRAPE_CACHE_MS: '0',
  };
  const r = await runWks(['migrate', 'up'], { env, cwd: dir });
  expect(r.code, r.stderr).toBe(0);
  const db = new Database(env.DATABASE_PATH!);
  db.exec(`INSERT INTO workflows (name, status) VALUES ('nightly-report', 'active')`);
  db.exec(
    `INSERT INTO workflow_executions (workflow_id, status, started_at, completed_at) VALUES (1, 'completed', '2026-01-01 00:00:00', '2026-01-01 00:00:42'), (1, 'failed', '2026-01-01 00:01:00', '2026-01-01 00:01:03'), (1, 'running', '2026-01-01 00:02:00', NULL)`,
  );
  db.close();
});

describe('wks serve', () => {
  it('serves /metrics (valid for promtool), /health and /ready, and exits 0 on SIGTERM', async (ctx) => {
    const s = await startServe([], env, dir);
    try {
      const res = await fetch(`${s.url}/metrics`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      await fetch(`${s.url}/health`);
      const text = await (await fetch(`${s.url}/metrics`)).text();
      expect(
        metricValue(text, /^workflow_executions_total\{workflow_name="nightly-report",status="completed"\} (\S+)$/m),
      ).toBe(1);
      expect(
        metricValue(text, /^workflow_executions_total\{workflow_name="nightly-report",status="failed"\} (\S+)$/m),
      ).toBe(1);
      expect(metricValue(text, /^active_workflows (\S+)$/m)).toBe(1);
      expect(metricValue(text, /^wks_workflows_stuck (\S+)$/m)).toBe(1);
      expect(metricValue(text, /^wks_up\{dependency="database"\} (\S+)$/m)).toBe(1);
      expect(metricValue(text, /^wks_leader\{wks_instance="[^"]+",mechanism="file"\} (\S+)$/m)).toBe(1);
      expect(
        metricValue(text, /^http_requests_total\{method="GET",endpoint="\/metrics",status_code="200"\} (\S+)$/m),
      ).toBe(1);
      // The start helper polls /health until it answers, then the test asked once more.
      expect(
        metricValue(text, /^http_requests_total\{method="GET",endpoint="\/health",status_code="200"\} (\S+)$/m),
      ).toBeGreaterThanOrEqual(2);
      expect(text).toMatch(/^process_resident_memory_bytes \d+/m);
      // Prometheus owns job, instance and __*: a metric carrying one is renamed on ingest (exported_*).
      expect(text).toMatch(/^wks_job_runs_total\{job_name=|^# TYPE wks_job_runs_total counter$/m);
      expect(reservedLabels(text)).toEqual([]);
      expect(text).toMatch(/^# TYPE workflow_queue_wait_seconds summary$/m);

      const health = await fetch(`${s.url}/health`);
      expect(health.status).toBe(200);
      expect(await health.json()).toMatchObject({ status: 'ok' });
      const ready = await fetch(`${s.url}/ready`);
      const doc = (await ready.json()) as any;
      expect(ready.status, JSON.stringify(doc)).toBe(200);
      expect(doc.ready).toBe(true);
      expect(doc.checks.map((c: any) => c.name)).toEqual(expect.arrayContaining(['config', 'database']));
      expect(doc.leader).toMatchObject({ mechanism: 'file', leader: true });
      expect(doc.jobs.find((j: any) => j.name === 'backup')).toMatchObject({ enabled: true, schedule: '*/30 * * * *' });
      expect(doc.jobs.find((j: any) => j.name === 'backup').nextRun).toMatch(/T\d\d:(00|30):00/);
      expect((await fetch(`${s.url}/nope`)).status).toBe(404);

      if (needPromtool(ctx)) {
        const check = promtoolCheck(text);
        expect(check.status, check.out).toBe(0);
      }
    } finally {
      s.child.kill('SIGTERM');
      const { code } = await s.exited;
      expect(code, s.stderr()).toBe(0);
    }
    expect(s.stderr()).toMatch(/SIGTERM received/);
    expect(s.stderr()).toMatch(/stopped/);
  });

  it('requires the bearer token on /metrics when configured, and never prints it', async () => {
    const token = 'tok-e2e-0123456789abcdef';
    const s = await startServe(['-v'], { ...env, METRICS_BEARER_TOKEN: token }, dir);
    try {
      const no = await fetch(`${s.url}/metrics`);
      expect(no.status).toBe(401);
      expect(no.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect((await fetch(`${s.url}/metrics`, { headers: { Authorization: 'Bearer wrong' } })).status).toBe(401);
      const ok = await fetch(`${s.url}/metrics`, { headers: { Authorization: `Bearer ${token}` } });
      expect(ok.status).toBe(200);
      expect(await ok.text()).toMatch(/http_requests_total\{method="GET",endpoint="\/metrics",status_code="401"\} 2/);
      expect((await fetch(`${s.url}/health`)).status).toBe(200); // probes stay open
    } finally {
      s.child.kill('SIGINT');
      expect((await s.exited).code).toBe(0);
    }
    expect(s.stderr()).not.toContain(token);
  });

  it('scrapes within monitoring.prometheus.scrape_cache_ms share one rendering', async () => {
    const s = await startServe([], { ...env, METRICS_SCRAPE_CACHE_MS: '60000' }, dir);
    try {
      const [a, b] = await Promise.all([
        fetch(`${s.url}/metrics`).then((r) => r.text()),
        fetch(`${s.url}/metrics`).then((r) => r.text()),
      ]);
      const c = await (await fetch(`${s.url}/metrics`)).text();
      expect(b).toBe(a);
      expect(c).toBe(a);
    } finally {
      s.child.kill('SIGTERM');
      expect((await s.exited).code).toBe(0);
    }
  });

  it('METRICS_ENABLED=false: /metrics is 404, the probes still answer', async () => {
    const s = await startServe([], { ...env, METRICS_ENABLED: 'false' }, dir);
    try {
      const r = await fetch(`${s.url}/metrics`);
      expect(r.status).toBe(404);
      expect(await r.text()).toMatch(/METRICS_ENABLED=false/);
      expect((await fetch(`${s.url}/health`)).status).toBe(200);
      expect((await fetch(`${s.url}/ready`)).status).toBe(200);
    } finally {
      s.child.kill('SIGTERM');
      expect((await s.exited).code).toBe(0);
    }
  });

  it('a port already in use is one clear error, exit 1', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const r = await runWks(['serve', '--port', String(port)], { env, cwd: dir });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(
        new RegExp(`Error: cannot listen on 127\\.0\\.0\\.1:${port}: the port is already in use`),
      );
      expect(r.stderr).toMatch(/Try: stop the other process/);
      expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    } finally {
      blocker.close();
    }
  });

  it('--print-schedule shows each job and its next runs', async () => {
    const r = await runWks(['serve', '--print-schedule', '--json'], { env, cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    const doc = r.json();
    expect(doc.leader.mechanism).toBe('file');
    expect(doc.jobs.map((j: any) => j.name)).toEqual([...JOB_NAMES]);
    expect(doc.jobs[0]).toMatchObject({ schedule: '*/30 * * * *', enabled: true });
    expect(doc.jobs[0].next).toHaveLength(3);
    const human = await runWks(['serve', '--print-schedule'], { env, cwd: dir });
    expect(human.stdout).toMatch(/^backup\s+\*\/30 \* \* \* \*\s+yes/m);
  });
});

describe('wks metrics', () => {
  it('prints one scrape, or writes it atomically to a textfile that promtool accepts', async (ctx) => {
    const out = await runWks(['metrics'], { env, cwd: dir });
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout).toMatch(/^workflow_executions_total\{workflow_name="nightly-report",status="completed"\} 1$/m);
    const file = path.join(dir, 'textfile', 'wks.prom');
    const r = await runWks(['metrics', '--textfile', file], { env, cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('');
    const st = statSync(file);
    expect(st.mode & 0o777).toBe(0o644);
    const text = readFileSync(file, 'utf8');
    expect(text).toMatch(/^wks_up\{dependency="database"\} 1$/m);
    expect(text).not.toMatch(/^process_/m); // would clash with node_exporter's own
    if (needPromtool(ctx)) expect(promtoolCheck(text).status, promtoolCheck(text).out).toBe(0);
    // A missing database is reported as down, not created.
    const gone = await runWks(['metrics'], { env: { ...env, DATABASE_PATH: path.join(dir, 'missing.db') }, cwd: dir });
    expect(gone.code).toBe(0);
    expect(gone.stdout).toMatch(/^wks_up\{dependency="database"\} 0$/m);
    expect(existsSync(path.join(dir, 'missing.db'))).toBe(false);
  });
});

describe('templates', () => {
  it('the Prometheus rules template passes promtool check rules', async (ctx) => {
    if (!needPromtool(ctx)) return;
    const r = spawnSync('promtool', ['check', 'rules', path.join(REPO, 'templates/prometheus/wks-alerts.yml')], {
      encoding: 'utf8',
    });
    expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
    expect(r.stdout).toMatch(/SUCCESS: \d+ rules found/);
  });

  it("the Grafana dashboards are valid JSON with the platform's dashboard names", () => {
    for (const name of ['system_overview', 'workflow_performance', 'agent_health']) {
      const d = JSON.parse(readFileSync(path.join(REPO, `templates/grafana/${name}.json`), 'utf8'));
      expect(d.tags).toContain(name);
      expect(d.panels.length).toBeGreaterThan(3);
    }
  });
});

describe('scheduled backups', () => {
  let bdir: string;
  let benv: Record<string, string>;
  let cfg: string;
  beforeAll(async () => {
    bdir = tmpDir('wks-serve-backup');
    benv = {
      DATABASE_PATH: path.join(bdir, 'w.db'),
      BACKUP_STORAGE_PATH: path.join(bdir, 'backups'),
      METRICS_SCRAPE_CACHE_MS: '0',
    };
    expect((await runWks(['migrate', 'up'], { env: benv, cwd: bdir })).code).toBe(0);
    // ~16 MiB of incompressible rows so a gzip backup takes a noticeable moment.
    const db = new Database(benv.DATABASE_PATH!);
    db.exec('CREATE TABLE fill (b BLOB)');
    const ins = db.prepare('INSERT INTO fill VALUES (?)');
    db.transaction(() => {
      for (let i = 0; i < 160; i++) ins.run(randomBytes(100_000));
    })();
    db.close();
    cfg = path.join(bdir, 'phase4-config.yml');
    writeFileSync(
      cfg,
      [
        'phase4:',
        '  version: "4.0.0"',
        '  database:',
        '    backup:',
        '      schedule: "*/2 * * * * *"',
        '  serve:',
        '    jobs:',
        '      backup: { enabled: true }',
        '      rotate: { enabled: false, schedule: "0 0 * * *" }',
        '      verify: { enabled: false, schedule: "0 0 * * *" }',
        '      reap: { enabled: false, schedule: "0 0 * * *" }',
        '      agent_health: { enabled: false, schedule: "0 0 * * *" }',
        '      metrics_sample: { enabled: false, schedule: "0 0 * * *" }',
        '',
      ].join('\n'),
    );
  });

  it('a scheduled backup appears in /metrics as a fresh wks_backup_last_success_timestamp_seconds', async () => {
    const startedAt = Date.now() / 1000;
    const s = await startServe(['-c', cfg, '-v'], benv, bdir);
    try {
      await s.waitFor(/scheduled backup \S+ completed and verified/, 20_000);
      const text = await (await fetch(`${s.url}/metrics`)).text();
      const ts = metricValue(
        text,
        /^wks_backup_last_success_timestamp_seconds\{engine="sqlite",type="scheduled"\} (\S+)$/m,
      );
      expect(ts, text).not.toBeNull();
      expect(ts!).toBeGreaterThanOrEqual(Math.floor(startedAt) - 1);
      expect(ts!).toBeLessThanOrEqual(Date.now() / 1000 + 1);
      expect(
        metricValue(text, /^wks_job_runs_total\{job_name="backup",result="success"\} (\S+)$/m),
      ).toBeGreaterThanOrEqual(1);
      expect(
        metricValue(text, /^wks_job_last_success_timestamp_seconds\{job_name="backup"\} (\S+)$/m),
      ).toBeGreaterThanOrEqual(startedAt - 1);
      expect(metricValue(text, /^wks_backup_last_size_bytes (\S+)$/m)).toBeGreaterThan(1_000_000);
      expect(metricValue(text, /^wks_backup_verify_last_success_timestamp_seconds (\S+)$/m)).toBeGreaterThanOrEqual(
        startedAt - 1,
      );
      expect(metricValue(text, /^wks_backups\{state="verified"\} (\S+)$/m)).toBeGreaterThanOrEqual(1);
    } finally {
      s.child.kill('SIGTERM');
      expect((await s.exited).code, s.stderr()).toBe(0);
    }
  });

  it('SIGTERM during a backup lets it finish: a complete, verifiable backup and exit 0', async () => {
    const before = (await runWks(['backup', 'list', '--json'], { env: benv, cwd: bdir })).json().backups.length;
    const s = await startServe(['-c', cfg, '-v'], benv, bdir);
    await s.waitFor(/job backup started/, 10_000);
    s.child.kill('SIGTERM');
    const { code, signal } = await s.exited;
    expect({ code, signal }, s.stderr()).toEqual({ code: 0, signal: null });
    const log = s.stderr();
    expect(log).toMatch(/SIGTERM received/);
    expect(log.indexOf('SIGTERM received')).toBeLessThan(log.search(/scheduled backup \S+ completed and verified/));
    expect(log).toMatch(/waiting for backup to finish/);
    const list = (await runWks(['backup', 'list', '--json'], { env: benv, cwd: bdir })).json();
    expect(list.backups.length).toBe(before + 1);
    expect(list.problems).toEqual([]);
    const v = await runWks(['backup', 'verify', '--latest'], { env: benv, cwd: bdir });
    expect(v.code, v.stderr).toBe(0);
  });

  it('a second signal exits at once; the interrupted backup never appears in the catalog', async () => {
    const before = (await runWks(['backup', 'list', '--json'], { env: benv, cwd: bdir })).json().backups.length;
    const s = await startServe(['-c', cfg, '-v'], benv, bdir);
    await s.waitFor(/job backup started/, 10_000);
    s.child.kill('SIGTERM');
    await s.waitFor(/SIGTERM received/, 5000);
    const t0 = Date.now();
    s.child.kill('SIGTERM');
    const { code, signal } = await s.exited;
    expect(Date.now() - t0).toBeLessThan(1000);
    expect({ code, signal }).toEqual({ code: null, signal: 'SIGTERM' });
    expect(s.stderr()).toMatch(/second SIGTERM: exiting now/);
    expect(s.stderr()).not.toMatch(/completed and verified/);
    const list = (await runWks(['backup', 'list', '--json'], { env: benv, cwd: bdir })).json();
    expect(list.backups.length).toBe(before);
    expect(list.problems).toEqual([]);
  });

  it('a backup outliving serve.shutdown_grace_ms: wks says so and exits by the signal (non-zero)', async () => {
    const short = path.join(bdir, 'short-grace.yml');
    writeFileSync(short, readFileSync(cfg, 'utf8').replace('  serve:\n', '  serve:\n    shutdown_grace_ms: 50\n'));
    const s = await startServe(['-c', short, '-v'], benv, bdir);
    await s.waitFor(/job backup started/, 10_000);
    s.child.kill('SIGTERM');
    const { code, signal } = await s.exited;
    expect(code === 0 && signal === null).toBe(false);
    expect(s.stderr()).toMatch(/grace period \(serve.shutdown_grace_ms\) exceeded; abandoning backup/);
  });
});

describe('the scheduled verify job', () => {
  it('counts a backup whose manifest is broken as a failed verification (log and metrics), next to the good one', async () => {
    const vdir = tmpDir('wks-serve-verify');
    const venv = {
      DATABASE_PATH: path.join(vdir, 'w.db'),
      BACKUP_STORAGE_PATH: path.join(vdir, 'backups'),
      METRICS_SCRAPE_CACHE_MS: '0',
    };
    expect((await runWks(['migrate', 'up', '--no-backup'], { env: venv, cwd: vdir })).code).toBe(0);
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) {
      const c = await runWks(['backup', 'create', '--no-encrypt', '--json'], { env: venv, cwd: vdir });
      expect(c.code, c.stderr).toBe(0);
      ids.push(c.json().backup.id);
    }
    writeFileSync(path.join(venv.BACKUP_STORAGE_PATH, `${ids[1]}.json`), '{"format": "wks-backup/1"');
    const vcfg = path.join(vdir, 'phase4-config.yml');
    const off = '{ enabled: false, schedule: "0 0 * * *" }';
    writeFileSync(
      vcfg,
      [
        'phase4:',
        '  version: "4.0.0"',
        '  serve:',
        '    jobs:',
        '      backup: { enabled: false }',
        `      rotate: ${off}`,
        '      verify: { enabled: true, schedule: "*/2 * * * * *" }',
        `      drill: ${off}`,
        `      reap: ${off}`,
        `      agent_health: ${off}`,
        `      metrics_sample: ${off}`,
        '',
      ].join('\n'),
    );
    const s = await startServe(['-c', vcfg], venv, vdir);
    try {
      const m = await s.waitFor(/job verify failed: ([^\n]*)/, 20_000);
      expect(m[1]).toMatch(new RegExp(`1 of 2 backups: ${ids[1]} \\(manifest: `));
      expect(m[1]).not.toContain(ids[0]);
      const text = await (await fetch(`${s.url}/metrics`)).text();
      expect(
        metricValue(text, /^wks_job_runs_total\{job_name="verify",result="failure"\} (\S+)$/m),
      ).toBeGreaterThanOrEqual(1);
      expect(metricValue(text, /^wks_job_runs_total\{job_name="verify",result="success"\} (\S+)$/m) ?? 0).toBe(0);
    } finally {
      expect((await s.stop()).code, s.stderr()).toBe(0);
    }
  });
});
