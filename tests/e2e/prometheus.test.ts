/**
 * The shipped monitoring files in a real Prometheus (Debian's package) on
 * 127.0.0.1: it scrapes a spawned `wks serve` every second with
 * templates/prometheus/wks-alerts.yml and wks-cron-alerts.yml loaded, and
 * through its HTTP API we check that the target is up, every rule group is
 * evaluated without errors, every PromQL expression of the Grafana dashboards
 * returns data for a seeded install, no reserved label reaches Prometheus,
 * and nothing fires (or is even pending) on a healthy install with a fresh backup.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { runWks, REPO } from '../helpers/cli.js';
import { createTestRedis, type TestRedis } from '../helpers/services.js';
import {
  needBinary,
  startPrometheus,
  PROMETHEUS_BIN,
  reservedLabels,
  type RunningService,
} from '../helpers/prometheus.js';
import { startServe, eventually, type Served } from '../helpers/serve.js';
import { tmpDir } from '../helpers/tmp.js';

let redis: TestRedis | null = null;
let serve: Served | null = null;
let prom: (RunningService & { dir: string }) | null = null;
let promConfig = '';

afterAll(async () => {
  await prom?.stop();
  await serve?.stop();
  await redis?.cleanup();
});

async function api<T = any>(p: string): Promise<T> {
  const r = await fetch(`${prom!.url}${p}`);
  const doc = (await r.json()) as { status: string; data: T; error?: string };
  if (doc.status !== 'success') throw new Error(`${p}: ${doc.error}`);
  return doc.data;
}
const query = (q: string) => api<{ result: unknown[] }>(`/api/v1/query?query=${encodeURIComponent(q)}`);

/** Every PromQL expression in the shipped Grafana dashboards, `$instance` as Grafana's "All" (`.*`). */
function dashboardQueries(): Array<{ dashboard: string; panel: string; expr: string }> {
  const out: Array<{ dashboard: string; panel: string; expr: string }> = [];
  for (const name of ['system_overview', 'workflow_performance', 'agent_health']) {
    const d = JSON.parse(readFileSync(path.join(REPO, `templates/grafana/${name}.json`), 'utf8'));
    // A count's `or vector(0)` fallback is dropped: the seeded install must give the real series.
    for (const p of d.panels)
      for (const t of p.targets ?? [])
        out.push({
          dashboard: name,
          panel: p.title,
          expr: t.expr.replaceAll('$instance', '.*').replace(/ or vector\(0\)$/, ''),
        });
  }
  return out;
}

describe('a real Prometheus scraping wks serve with the shipped rules and dashboards', () => {
  beforeAll(async () => {
    // Each test skips (or fails under CI=true) when prometheus or Redis is missing.
    if (!needBinary(PROMETHEUS_BIN, 'prometheus', { skip: () => undefined })) return;
    redis = await createTestRedis('prometheus_e2e');
    if (!redis) return;
    const dir = tmpDir('wks-prom-e2e');
    const env = {
      ...redis.env,
      REDIS_ENABLED: 'true',
      DATABASE_PATH: path.join(dir, 'w.db'),
      BACKUP_STORAGE_PATH: path.join(dir, 'backups'),
      METRICS_SCRAPE_CACHE_MS: '0',
    };
    expect((await runWks(['migrate', 'up', '--no-backup'], { env, cwd: dir })).code).toBe(0);
    // A seeded install: workflows that ran, one still running, agents in each health state, queue waits.
    const db = new Database(env.DATABASE_PATH);
    const now = new Date();
    const t = (s: number) => new Date(now.getTime() - s * 1000).toISOString().replace('T', ' ').slice(0, 19);
    db.exec(`INSERT INTO workflows (name, status) VALUES ('nightly-report', 'active'), ('ingest', 'active')`);
    const ins = db.prepare(
      'INSERT INTO workflow_executions (workflow_id, status, started_at, completed_at) VALUES (?, ?, ?, ?)',
    );
    const track = db.prepare(
      'INSERT INTO workflow_execution_tracking (execution_id, workflow_id, started_at, priority, lock_acquired_at) VALUES (?, ?, ?, ?, ?)',
    );
    for (let i = 0; i < 6; i++) {
      const r = ins.run(1 + (i % 2), i === 5 ? 'failed' : 'completed', t(600 - i * 60), t(600 - i * 60 - 40));
      track.run(r.lastInsertRowid, 1 + (i % 2), t(600 - i * 60), 5, t(600 - i * 60 - 2));
    }
    ins.run(1, 'running', t(30), null);
    db.exec(
      `INSERT INTO agents (name, type, status) VALUES ('planner', 'llm', 'active'), ('coder', 'llm', 'active'), ('tester', 'tool', 'active')`,
    );
    const chk = db.prepare(
      'INSERT INTO agent_health_checks (agent_id, check_time, status, response_time_ms) VALUES (?, ?, ?, 12)',
    );
    chk.run(1, t(5), 'healthy');
    chk.run(2, t(5), 'degraded');
    chk.run(3, t(5), 'unhealthy');
    db.close();
    // A fresh, verified backup.
    const b = await runWks(['-q', 'backup', 'create'], { env, cwd: dir });
    expect(b.code, b.stderr).toBe(0);
    expect((await runWks(['-q', 'backup', 'verify', '--latest'], { env, cwd: dir })).code).toBe(0);

    const cfg = path.join(dir, 'phase4-config.yml');
    // agent_health every second so wks_job_runs_total{job_name="agent_health"} exists; alerts are Prometheus's here.
    const { writeFileSync } = await import('node:fs');
    writeFileSync(
      cfg,
      'phase4:\n  version: "4.0.0"\n  serve:\n    jobs:\n      agent_health: { enabled: true, schedule: "* * * * * *" }\n',
    );
    serve = await startServe(['-c', cfg], env, dir);
    promConfig = [
      'global:',
      '  scrape_interval: 1s',
      '  evaluation_interval: 1s',
      'rule_files:',
      ...['wks-alerts.yml', 'wks-cron-alerts.yml'].map((f) => `  - ${path.join(REPO, 'templates/prometheus', f)}`),
      'scrape_configs:',
      '  - job_name: wks',
      '    static_configs:',
      `      - targets: ["127.0.0.1:${serve.port}"]`,
      '',
    ].join('\n');
    prom = await startPrometheus(promConfig);
  }, 120_000);

  it('scrapes the target (up), and no series carries exported_job / exported_instance', async (ctx) => {
    if (!prom) return ctx.skip();
    const targets = await eventually(
      () => api<any>('/api/v1/targets'),
      (d) => d?.activeTargets?.[0]?.health === 'up',
      30_000,
    );
    expect(targets.activeTargets[0]).toMatchObject({ health: 'up', labels: { job: 'wks' } });
    const clash = await query(
      'count({__name__=~".+", exported_job!=""}) or count({__name__=~".+", exported_instance!=""})',
    );
    expect(clash.result, JSON.stringify(clash.result)).toEqual([]);
    expect(reservedLabels(await (await fetch(`${serve!.url}/metrics`)).text())).toEqual([]);
    // The agent-health job's runs are queryable by their own label.
    await eventually(
      () => query('wks_job_runs_total{job="wks",job_name="agent_health",result="success"}'),
      (d) => (d?.result?.length ?? 0) > 0,
      20_000,
    );
  });

  it('evaluates every rule group without errors', async (ctx) => {
    if (!prom) return ctx.skip();
    const groups = await eventually(
      async () => (await api<any>('/api/v1/rules')).groups as any[],
      (g) =>
        Array.isArray(g) &&
        g.length >= 2 &&
        g.every((x) => x.rules.every((r: any) => r.lastEvaluation && !r.lastEvaluation.startsWith('0001'))),
      30_000,
    );
    expect(groups.map((g) => g.name)).toEqual(expect.arrayContaining(['wks', 'wks-cron']));
    for (const g of groups)
      for (const r of g.rules) {
        expect(r.health, `${g.name}/${r.name}: ${r.lastError}`).toBe('ok');
        expect(r.lastError ?? '', `${g.name}/${r.name}`).toBe('');
      }
  });

  it('every PromQL expression of the Grafana dashboards returns data for the seeded install', async (ctx) => {
    if (!prom) return ctx.skip();
    const empty: string[] = [];
    // rate()/increase() need a few samples: poll until every query has data, or report the empty ones.
    const t0 = Date.now();
    for (const q of dashboardQueries()) {
      const d = await eventually(
        () => query(q.expr),
        (x) => (x?.result?.length ?? 0) > 0,
        Math.max(1000, 30_000 - (Date.now() - t0)),
        500,
      );
      if (!(d?.result?.length > 0)) empty.push(`${q.dashboard} / ${q.panel}: ${q.expr}`);
    }
    expect(empty).toEqual([]);
  });

  it('nothing fires, or is even pending, on a healthy install with a fresh backup', async (ctx) => {
    if (!prom) return ctx.skip();
    await new Promise((r) => setTimeout(r, 3000)); // a few more evaluations
    const alerts = (await api<any>('/api/v1/alerts')).alerts;
    expect(alerts, JSON.stringify(alerts, null, 1)).toEqual([]);
  });

  it('a Prometheus restart fires nothing (no absent() or stale rule trips on the gap)', async (ctx) => {
    if (!prom) return ctx.skip();
    const dir = prom.dir;
    await prom.stop();
    await new Promise((r) => setTimeout(r, 3000)); // a gap in the data, longer than the scrape interval
    prom = await startPrometheus(promConfig, dir);
    // From the first evaluation on (before the first scrape too, when absent() would be true).
    const seen: unknown[] = [];
    for (let i = 0; i < 16; i++) {
      seen.push(...(await api<any>('/api/v1/alerts')).alerts);
      await new Promise((r) => setTimeout(r, 500));
    }
    const targets = await api<any>('/api/v1/targets');
    expect(targets.activeTargets[0].health).toBe('up');
    expect(seen, JSON.stringify(seen, null, 1)).toEqual([]);
  });
});
