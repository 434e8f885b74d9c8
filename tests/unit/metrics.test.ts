import { describe, it, expect } from 'vitest';
import { createMetrics, PLATFORM_BUCKETS } from '../../src/metrics/registry.js';
import { classifySql } from '../../src/metrics/instrument.js';
import { applyCatalog, newestBackupMs } from '../../src/metrics/collect.js';
import type { CatalogEntry } from '../../src/backup/types.js';
import { reservedLabels } from '../helpers/prometheus.js';

// The platform's Prometheus metrics (docs/platform-schema.md): name -> [type, labels].
const PLATFORM_METRICS: Record<string, [string, string[]]> = {
  http_requests_total: ['counter', ['method', 'endpoint', 'status_code']],
  workflow_executions_total: ['counter', ['workflow_name', 'status']],
  agent_invocations_total: ['counter', ['agent_name', 'status']],
  database_queries_total: ['counter', ['query_type', 'table']],
  active_workflows: ['gauge', []],
  database_connections: ['gauge', ['pool_name']],
  agent_health_status: ['gauge', ['agent_name']],
  http_request_duration_seconds: ['histogram', ['method', 'endpoint']],
  workflow_execution_duration_seconds: ['histogram', ['workflow_name']],
  database_query_duration_seconds: ['histogram', ['query_type']],
  workflow_queue_wait_seconds: ['summary', ['priority']],
};

const WKS = [
  'wks_backup_last_success_timestamp_seconds',
  'wks_backup_last_duration_seconds',
  'wks_backup_last_size_bytes',
  'wks_backup_failures_total',
  'wks_backups',
  'wks_backups_location',
  'wks_backups_offhost_pending',
  'wks_backup_verify_last_success_timestamp_seconds',
  'wks_backup_catalog_read_timestamp_seconds',
  'wks_job_runs_total',
  'wks_job_last_success_timestamp_seconds',
  'wks_job_duration_seconds',
  'wks_locks_held',
  'wks_workflows_stuck',
  'wks_leader',
  'wks_up',
];

describe('metrics registry', () => {
  it('no metric declares a label Prometheus reserves for targets (job, instance, __*)', () => {
    const m = createMetrics();
    const bad: string[] = [];
    for (const metric of m.registry.getMetricsAsArray()) {
      const names = ((metric as unknown as { labelNames?: string[] }).labelNames ?? []) as string[];
      for (const l of names)
        if (l === 'job' || l === 'instance' || l.startsWith('__')) bad.push(`${metric.name}{${l}}`);
    }
    expect(bad).toEqual([]);
    // The job metrics say job_name, the leader gauge wks_instance.
    expect(
      (m.registry.getSingleMetric('wks_job_runs_total') as unknown as { labelNames: string[] }).labelNames,
    ).toEqual(['job_name', 'result']);
    expect((m.registry.getSingleMetric('wks_leader') as unknown as { labelNames: string[] }).labelNames).toEqual([
      'wks_instance',
      'mechanism',
    ]);
  });

  it('reservedLabels() finds reserved labels in an exposition', () => {
    expect(
      reservedLabels('a_total{job="x",result="y"} 1\nb{instance="h:1"} 0\nc{__x="1"} 2\nd{job_name="j"} 1\n'),
    ).toEqual(['job', 'instance', '__x']);
    expect(reservedLabels('# HELP a job="x"\nd{job_name="j",wks_instance="i"} 1\n')).toEqual([]);
  });

  it("registers every metric of the platform's schema with its type and labels", async () => {
    const m = createMetrics({ processDefaults: false });
    const json = await m.registry.getMetricsAsJSON();
    for (const [name, [type, labels]] of Object.entries(PLATFORM_METRICS)) {
      const metric = m.registry.getSingleMetric(name) as unknown as { labelNames: string[] } | undefined;
      expect(metric, name).toBeDefined();
      expect(json.find((j) => j.name === name)?.type, name).toBe(type);
      expect([...(metric!.labelNames ?? [])].sort(), name).toEqual([...labels].sort());
    }
  });

  it("uses the platform's buckets and summary quantiles exactly", async () => {
    const m = createMetrics({ processDefaults: false });
    m.httpRequestDuration.observe({ method: 'GET', endpoint: '/metrics' }, 0.003);
    m.workflowExecutionDuration.observe({ workflow_name: 'w' }, 42);
    m.databaseQueryDuration.observe({ query_type: 'select' }, 0.002);
    m.workflowQueueWait.observe({ priority: '5' }, 1);
    const text = await m.registry.metrics();
    const lesLabelled = (name: string) =>
      [...text.matchAll(new RegExp(`^${name}_bucket\\{le="([^"]+)",`, 'gm'))]
        .map((x) => Number(x[1]))
        .filter(Number.isFinite);
    expect(lesLabelled('http_request_duration_seconds')).toEqual([...PLATFORM_BUCKETS.http_request_duration_seconds]);
    expect(lesLabelled('workflow_execution_duration_seconds')).toEqual([
      ...PLATFORM_BUCKETS.workflow_execution_duration_seconds,
    ]);
    expect(lesLabelled('database_query_duration_seconds')).toEqual([
      ...PLATFORM_BUCKETS.database_query_duration_seconds,
    ]);
    const q = [...text.matchAll(/^workflow_queue_wait_seconds\{quantile="([^"]+)"/gm)].map((x) => Number(x[1]));
    expect(q).toEqual([0.5, 0.9, 0.99]);
  });

  it("registers wks's own metrics and the process defaults", async () => {
    const m = createMetrics();
    for (const name of WKS) expect(m.registry.getSingleMetric(name), name).toBeDefined();
    const text = await m.registry.metrics();
    expect(text).toMatch(/^process_resident_memory_bytes /m);
    expect(text).not.toMatch(/^nodejs_active_handles_total/m);
  });

  it('two registries do not share state', async () => {
    const a = createMetrics({ processDefaults: false });
    const b = createMetrics({ processDefaults: false });
    a.locksHeld.set(5);
    expect((await b.locksHeld.get()).values[0]?.value ?? 0).toBe(0);
  });
});

describe('classifySql', () => {
  it('names the statement type and first table', () => {
    expect(classifySql('SELECT id FROM workflow_executions WHERE id > $1')).toEqual({
      queryType: 'select',
      table: 'workflow_executions',
    });
    expect(classifySql('  insert into metrics (a) values ($1)')).toEqual({ queryType: 'insert', table: 'metrics' });
    expect(classifySql('UPDATE agents SET x = 1')).toEqual({ queryType: 'update', table: 'agents' });
    expect(classifySql('DELETE FROM metrics WHERE timestamp < $1')).toEqual({ queryType: 'delete', table: 'metrics' });
    expect(classifySql('SELECT 1 AS ok')).toEqual({ queryType: 'select', table: 'unknown' });
  });
});

function entry(
  id: string,
  completed: string,
  opts: { ok?: boolean | null; present?: boolean; type?: string; locations?: Array<'local' | 's3'> } = {},
): CatalogEntry {
  return {
    manifest: {
      id,
      type: opts.type ?? 'scheduled',
      engine: 'sqlite',
      created_at: completed,
      completed_at: completed,
      duration_ms: 1500,
      raw_size: 100,
      stored_size: 40,
    } as never,
    manifestPath: `/x/${id}.json`,
    dataName: `${id}.db`,
    dataPath: `/x/${id}.db`,
    dataPresent: opts.present ?? true,
    locations: opts.locations ?? ['local'],
    verification:
      opts.ok === undefined || opts.ok === null
        ? null
        : ({
            id,
            at: completed,
            ok: opts.ok,
            deep: false,
            checks: [],
            failed: opts.ok ? null : 'sha256',
            duration_ms: 1,
          } as never),
  };
}

describe('applyCatalog', () => {
  it('sets last success per engine/type, state counts, size, duration and verify time', async () => {
    const m = createMetrics({ processDefaults: false });
    applyCatalog(m, [
      entry('c', '2026-01-03T00:00:00.000Z', { ok: false }),
      entry('b', '2026-01-02T00:00:00.000Z', { ok: true }),
      entry('a', '2026-01-01T00:00:00.000Z', { type: 'manual' }),
      entry('z', '2026-01-04T00:00:00.000Z', { present: false }),
    ]);
    const last = (await m.backupLastSuccess.get()).values;
    expect(last.find((v) => v.labels.type === 'scheduled')?.value).toBe(Date.parse('2026-01-02T00:00:00Z') / 1000);
    expect(last.find((v) => v.labels.type === 'manual')?.value).toBe(Date.parse('2026-01-01T00:00:00Z') / 1000);
    const states = Object.fromEntries((await m.backups.get()).values.map((v) => [v.labels.state, v.value]));
    expect(states).toEqual({ verified: 1, unverified: 1, failed: 1, missing: 1 });
    expect((await m.backupLastSize.get()).values[0]!.value).toBe(40);
    expect((await m.backupLastDuration.get()).values[0]!.value).toBe(1.5);
    expect((await m.backupVerifyLastSuccess.get()).values[0]!.value).toBe(Date.parse('2026-01-02T00:00:00Z') / 1000);
    expect(
      newestBackupMs([entry('c', '2026-01-03T00:00:00.000Z', { ok: false }), entry('b', '2026-01-02T00:00:00.000Z')]),
    ).toBe(Date.parse('2026-01-02T00:00:00Z'));
    expect(newestBackupMs([])).toBe(0);
  });

  it('counts backups by location: local, s3, local+s3 (local+s3 mode: location="local" is the off-host lag)', async () => {
    const m = createMetrics({ processDefaults: false });
    applyCatalog(m, [
      entry('d', '2026-01-04T00:00:00.000Z', { locations: ['local'] }),
      entry('c', '2026-01-03T00:00:00.000Z', { locations: ['local', 's3'] }),
      entry('b', '2026-01-02T00:00:00.000Z', { locations: ['local', 's3'] }),
      entry('a', '2026-01-01T00:00:00.000Z', { locations: ['s3'] }),
    ]);
    const where = Object.fromEntries((await m.backupsByLocation.get()).values.map((v) => [v.labels.location, v.value]));
    expect(where).toEqual({ local: 1, 'local+s3': 2, s3: 1 });
    applyCatalog(m, [entry('e', '2026-01-05T00:00:00.000Z', { locations: ['s3'] })]);
    expect((await m.backupsByLocation.get()).values.map((v) => [v.labels.location, v.value])).toEqual([['s3', 1]]);
  });

  it('wks_backups_offhost_pending: the local-only backups in local+s3 mode, 0 with any other repository', async () => {
    const m = createMetrics({ processDefaults: false });
    const entries = [
      entry('c', '2026-01-03T00:00:00.000Z', { locations: ['local'] }),
      entry('b', '2026-01-02T00:00:00.000Z', { locations: ['local'] }),
      entry('a', '2026-01-01T00:00:00.000Z', { locations: ['local', 's3'] }),
    ];
    applyCatalog(m, entries, 'local+s3');
    expect((await m.backupsOffHostPending.get()).values.map((v) => v.value)).toEqual([2]);
    applyCatalog(m, entries, 'local');
    expect((await m.backupsOffHostPending.get()).values.map((v) => v.value)).toEqual([0]);
    applyCatalog(m, [entry('a', '2026-01-01T00:00:00.000Z', { locations: ['local', 's3'] })], 'local+s3');
    expect((await m.backupsOffHostPending.get()).values.map((v) => v.value)).toEqual([0]);
  });
});
