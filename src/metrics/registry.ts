/**
 * The one prom-client registry of wks: every metric of the platform's Prometheus
 * schema (names, labels, buckets and summary quantiles exactly as the platform
 * gives them) plus wks's own `wks_*` metrics and the process defaults.
 *
 * Each call to createMetrics() builds a fresh Registry (never prom-client's
 * global one), so tests and several servers in one process do not share
 * state. Values are filled by the collectors (collect.ts), the HTTP server
 * (http_*), the database instrumentation (database_*) and the scheduler
 * (wks_job_*, wks_backup_*). docs/metrics.md documents every metric.
 *
 * prom-client is imported here at the top on purpose: this module is only
 * loaded by `wks serve` and `wks metrics`, never by `--help`.
 */
import { Registry, Counter, Gauge, Histogram, Summary, collectDefaultMetrics } from 'prom-client';

/** Bucket layouts of the platform's metrics (docs/platform-schema.md, docs/metrics.md). */
export const PLATFORM_BUCKETS = {
  http_request_duration_seconds: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  workflow_execution_duration_seconds: [1, 5, 10, 30, 60, 120, 300, 600],
  database_query_duration_seconds: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
} as const;

/**
 * The platform's summary objectives {0.5: 0.05, 0.9: 0.01, 0.99: 0.001}. prom-client
 * estimates quantiles with a t-digest and has no per-quantile error setting,
 * so the quantiles are honoured and the error targets are documented only.
 */
export const PLATFORM_SUMMARY_OBJECTIVES = { 0.5: 0.05, 0.9: 0.01, 0.99: 0.001 } as const;

/** Buckets for wks's job and backup durations (seconds: sub-second jobs up to hour-long backups). */
export const JOB_BUCKETS = [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600];

export interface WksMetrics {
  readonly registry: Registry;
  // --- the platform's: counters
  readonly httpRequestsTotal: Counter<'method' | 'endpoint' | 'status_code'>;
  readonly workflowExecutionsTotal: Counter<'workflow_name' | 'status'>;
  readonly agentInvocationsTotal: Counter<'agent_name' | 'status'>;
  readonly databaseQueriesTotal: Counter<'query_type' | 'table'>;
  // --- the platform's: gauges
  readonly activeWorkflows: Gauge<string>;
  readonly databaseConnections: Gauge<'pool_name'>;
  readonly agentHealthStatus: Gauge<'agent_name'>;
  // --- the platform's: histograms
  readonly httpRequestDuration: Histogram<'method' | 'endpoint'>;
  readonly workflowExecutionDuration: Histogram<'workflow_name'>;
  readonly databaseQueryDuration: Histogram<'query_type'>;
  // --- the platform's: summary
  readonly workflowQueueWait: Summary<'priority'>;
  // --- wks's own
  readonly backupLastSuccess: Gauge<'engine' | 'type'>;
  readonly backupLastDuration: Gauge<string>;
  readonly backupLastSize: Gauge<string>;
  readonly backupFailuresTotal: Counter<string>;
  readonly backups: Gauge<'state'>;
  readonly backupsByLocation: Gauge<'location'>;
  readonly backupsOffHostPending: Gauge<string>;
  readonly backupVerifyLastSuccess: Gauge<string>;
  readonly backupCatalogRead: Gauge<string>;
  readonly drillLastSuccess: Gauge<string>;
  readonly drillLastDuration: Gauge<string>;
  readonly drillLastFailed: Gauge<string>;
  readonly drillRtoTarget: Gauge<string>;
  readonly jobRunsTotal: Counter<'job_name' | 'result'>;
  readonly jobLastSuccess: Gauge<'job_name'>;
  readonly jobDuration: Histogram<'job_name'>;
  readonly locksHeld: Gauge<string>;
  readonly workflowsStuck: Gauge<string>;
  readonly leader: Gauge<'wks_instance' | 'mechanism'>;
  readonly up: Gauge<'dependency'>;
  readonly scrapeErrorsTotal: Counter<'collector'>;
  readonly alertsFiring: Gauge<'alert'>;
  readonly notificationsTotal: Counter<'channel' | 'result'>;
  readonly longestRunning: Gauge<string>;
  readonly backupLastFailure: Gauge<string>;
  readonly diskFree: Gauge<'volume'>;
  readonly unexpectedErrorsTotal: Counter<'source'>;
}

export interface CreateMetricsOptions {
  /** Register prom-client's process_* and nodejs_* defaults (default true). */
  processDefaults?: boolean;
}

/** Build a fresh registry with every wks metric registered. Never throws. */
export function createMetrics(opts: CreateMetricsOptions = {}): WksMetrics {
  const registry = new Registry();
  const r = [registry];
  if (opts.processDefaults !== false) {
    collectDefaultMetrics({ register: registry });
    // Gauges named *_total fail `promtool check metrics`; the same values are
    // exported without the suffix (nodejs_active_handles, ...), so drop these.
    for (const n of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'])
      registry.removeSingleMetric(n);
  }

  return { registry, ...platformMetrics(r), ...backupMetrics(r), ...jobMetrics(r), ...stateMetrics(r) };
}

/** The platform's own metrics (docs/platform-schema.md), with its bucket layouts. */
function platformMetrics(r: Registry[]) {
  return {
    httpRequestsTotal: new Counter({
      name: 'http_requests_total',
      help: 'Total HTTP requests',
      labelNames: ['method', 'endpoint', 'status_code'],
      registers: r,
    }),
    workflowExecutionsTotal: new Counter({
      name: 'workflow_executions_total',
      help: 'Total workflow executions',
      labelNames: ['workflow_name', 'status'],
      registers: r,
    }),
    agentInvocationsTotal: new Counter({
      name: 'agent_invocations_total',
      help: 'Total agent invocations',
      labelNames: ['agent_name', 'status'],
      registers: r,
    }),
    databaseQueriesTotal: new Counter({
      name: 'database_queries_total',
      help: 'Total database queries',
      labelNames: ['query_type', 'table'],
      registers: r,
    }),

    activeWorkflows: new Gauge({
      name: 'active_workflows',
      help: 'Currently active workflow executions',
      registers: r,
    }),
    databaseConnections: new Gauge({
      name: 'database_connections',
      help: 'Current database connections',
      labelNames: ['pool_name'],
      registers: r,
    }),
    agentHealthStatus: new Gauge({
      name: 'agent_health_status',
      help: 'Agent health status (1=healthy, 0=unhealthy)',
      labelNames: ['agent_name'],
      registers: r,
    }),

    httpRequestDuration: new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request duration',
      labelNames: ['method', 'endpoint'],
      buckets: [...PLATFORM_BUCKETS.http_request_duration_seconds],
      registers: r,
    }),
    workflowExecutionDuration: new Histogram({
      name: 'workflow_execution_duration_seconds',
      help: 'Workflow execution duration',
      labelNames: ['workflow_name'],
      buckets: [...PLATFORM_BUCKETS.workflow_execution_duration_seconds],
      registers: r,
    }),
    databaseQueryDuration: new Histogram({
      name: 'database_query_duration_seconds',
      help: 'Database query duration',
      labelNames: ['query_type'],
      buckets: [...PLATFORM_BUCKETS.database_query_duration_seconds],
      registers: r,
    }),

    workflowQueueWait: new Summary({
      name: 'workflow_queue_wait_seconds',
      help: 'Time workflows wait in queue',
      labelNames: ['priority'],
      percentiles: Object.keys(PLATFORM_SUMMARY_OBJECTIVES).map(Number),
      registers: r,
    }),
  };
}

/** wks's backup, verification and restore-drill metrics. */
function backupMetrics(r: Registry[]) {
  return {
    backupLastSuccess: new Gauge({
      name: 'wks_backup_last_success_timestamp_seconds',
      help: 'Unix time of the newest completed backup, per engine and type',
      labelNames: ['engine', 'type'],
      registers: r,
    }),
    backupLastDuration: new Gauge({
      name: 'wks_backup_last_duration_seconds',
      help: 'Duration of the newest completed backup',
      registers: r,
    }),
    backupLastSize: new Gauge({
      name: 'wks_backup_last_size_bytes',
      help: 'Size on disk of the newest completed backup',
      registers: r,
    }),
    backupFailuresTotal: new Counter({
      name: 'wks_backup_failures_total',
      help: 'Backups that failed in this process (scheduled backup job)',
      registers: r,
    }),
    backups: new Gauge({
      name: 'wks_backups',
      help: 'Backups in the catalog by state',
      labelNames: ['state'],
      registers: r,
    }),
    backupsByLocation: new Gauge({
      name: 'wks_backups_location',
      help: 'Backups in the catalog by where they are: local, s3, or local+s3 (a local copy plus the bucket)',
      labelNames: ['location'],
      registers: r,
    }),
    backupsOffHostPending: new Gauge({
      name: 'wks_backups_offhost_pending',
      help: 'With a local copy and a bucket: backups kept on this host only, not copied to the bucket yet (else 0)',
      registers: r,
    }),
    backupCatalogRead: new Gauge({
      name: 'wks_backup_catalog_read_timestamp_seconds',
      help: 'Unix time of the last successful backup-catalog read: the wks_backup_* values are as of then (0 before the first)',
      registers: r,
    }),
    backupVerifyLastSuccess: new Gauge({
      name: 'wks_backup_verify_last_success_timestamp_seconds',
      help: 'Unix time of the last successful backup verification',
      registers: r,
    }),
    drillLastSuccess: new Gauge({
      name: 'wks_backup_drill_last_success_timestamp_seconds',
      help: "Unix time of the last restore drill that passed within the RTO target (before the first: the oldest backup's creation, when the drill window starts; 0 without backups)",
      registers: r,
    }),
    drillLastDuration: new Gauge({
      name: 'wks_backup_drill_last_duration_seconds',
      help: 'Measured RTO of the last restore drill (fetch + decode + load + check)',
      registers: r,
    }),
    drillLastFailed: new Gauge({
      name: 'wks_backup_drill_last_failed',
      help: '1 when the last restore drill failed a check (the backup did not restore), else 0',
      registers: r,
    }),
    drillRtoTarget: new Gauge({
      name: 'wks_backup_drill_rto_target_seconds',
      help: 'The RTO target restore drills are measured against (database.backup.drill.rto_target)',
      registers: r,
    }),
  };
}

/** wks's scheduled jobs. */
function jobMetrics(r: Registry[]) {
  return {
    jobRunsTotal: new Counter({
      name: 'wks_job_runs_total',
      help: 'Scheduled job runs by result (success, failure, skipped_overlap)',
      labelNames: ['job_name', 'result'],
      registers: r,
    }),
    jobLastSuccess: new Gauge({
      name: 'wks_job_last_success_timestamp_seconds',
      help: 'Unix time of the last successful run of a scheduled job',
      labelNames: ['job_name'],
      registers: r,
    }),
    jobDuration: new Histogram({
      name: 'wks_job_duration_seconds',
      help: 'Duration of scheduled job runs',
      labelNames: ['job_name'],
      buckets: JOB_BUCKETS,
      registers: r,
    }),
  };
}

/** wks's view of the platform's state and of itself: locks, stuck work, leadership, dependencies, alerts, disk, errors. */
function stateMetrics(r: Registry[]) {
  return {
    locksHeld: new Gauge({ name: 'wks_locks_held', help: 'Execution locks currently held in Redis', registers: r }),
    workflowsStuck: new Gauge({
      name: 'wks_workflows_stuck',
      help: 'Executions pending or running for longer than the workflow timeout',
      registers: r,
    }),
    leader: new Gauge({
      name: 'wks_leader',
      help: '1 when this instance holds the scheduler leader lease, else 0',
      labelNames: ['wks_instance', 'mechanism'],
      registers: r,
    }),
    up: new Gauge({
      name: 'wks_up',
      help: '1 when a dependency answered at the last scrape, else 0',
      labelNames: ['dependency'],
      registers: r,
    }),
    scrapeErrorsTotal: new Counter({
      name: 'wks_scrape_errors_total',
      help: 'Collector failures while computing metrics at scrape time',
      labelNames: ['collector'],
      registers: r,
    }),
    alertsFiring: new Gauge({
      name: 'wks_alerts_firing',
      help: '1 when a built-in alert rule is firing, else 0',
      labelNames: ['alert'],
      registers: r,
    }),
    notificationsTotal: new Counter({
      name: 'wks_alert_notifications_total',
      help: 'Alert notifications sent by channel and result',
      labelNames: ['channel', 'result'],
      registers: r,
    }),
    longestRunning: new Gauge({
      name: 'wks_workflow_longest_running_seconds',
      help: 'How long the oldest running execution has been running (0 when none)',
      registers: r,
    }),
    backupLastFailure: new Gauge({
      name: 'wks_backup_last_failure_timestamp_seconds',
      help: 'Unix time of the last failed scheduled backup in this process',
      registers: r,
    }),
    diskFree: new Gauge({
      name: 'wks_disk_free_bytes',
      help: 'Free bytes for unprivileged users on the filesystem of the database or the backups',
      labelNames: ['volume'],
      registers: r,
    }),
    unexpectedErrorsTotal: new Counter({
      name: 'wks_unexpected_errors_total',
      help: 'Errors that escaped their handler in wks serve (a bug), logged and survived; source: http, uncaught_exception, unhandled_rejection',
      labelNames: ['source'],
      registers: r,
    }),
  };
}
