/**
 * The one place where defaults live. Values follow the platform's schema
 * (docs/platform-schema.md); keys it does not have are wks's own and say why in
 * docs/configuration.md. Commands reuse these as their flag defaults.
 *
 * This module is light on purpose (type-only import of the schema) so that
 * `--help` can show defaults without loading zod.
 */
import type { Config } from './schema.js';

export const DEFAULTS: Config = {
  version: '4.0.0',
  app: {
    node_env: 'development',
    port: 3000,
    jwt_secret: null,
    jwt_expiration: '24h',
    mcp: { host: 'localhost', port: 8082 },
    log_level: 'info',
    log_file: './logs/app.log',
  },
  database: {
    type: 'sqlite',
    path: './workstation.db',
    busy_timeout_ms: 5000,
    query_timeout_ms: 10000,
    pooling: { enabled: true, min: 2, max: 10, idle_timeout_ms: 30000, connection_timeout_ms: 5000 },
    transactions: { enabled: true, isolation_level: 'READ_COMMITTED' },
    postgresql: {
      enabled: false,
      url: null,
      host: 'localhost',
      port: 5432,
      database: 'workstation',
      user: null,
      password: null,
      ssl: false,
      // null: follows PG_SSL (true -> verify-full, false -> disable). See docs/configuration.md.
      ssl_mode: null,
      ssl_ca_file: null,
      pg_dump_path: null,
      pg_restore_path: null,
    },
    migrations: { directory: null, lock_timeout_ms: 60000 },
    backup: {
      enabled: true,
      // Every 30 minutes: the newest backup is at most ~30 min old, inside the
      // 1 h RPO (health.backup_rpo) even when one run is late. See docs/backup-and-recovery.md.
      schedule: '*/30 * * * *',
      interval_hours: 1, // the platform's BACKUP_INTERVAL_HOURS; wks schedules by `schedule`
      retention_days: 30,
      compression: 'gzip',
      storage_path: './backups',
      encryption: { enabled: false, key: null, key_file: null },
      keep_last: 3,
      keep_hourly: 24,
      keep_daily: 7,
      keep_weekly: 4,
      keep_monthly: 6,
      pre_migration_min_age: '7d',
      lock_timeout_ms: 120000,
      rotate_after_create: false,
      // The backup directory must be owned by the user wks runs as or root (a foreign owner could plant backups).
      allow_foreign_owner: false,
      // Restore drills: the platform's RTO target (15 min), and how old the last successful drill may be
      // before health and the alert rule complain (the weekly drill job plus a day of slack).
      drill: { rto_target: '15m', max_age: '8d' },
      // With an S3 repository: also keep every backup in storage_path (restores from it are fast), and rotate
      // that copy by local_retention (each unset key: the repository's value above).
      local_copy: false,
      local_retention: {
        retention_days: null,
        keep_last: null,
        keep_hourly: null,
        keep_daily: null,
        keep_weekly: null,
        keep_monthly: null,
      },
      repository: null,
      s3: {
        endpoint: null,
        region: null,
        force_path_style: false,
        storage_class: null,
        sse: null,
        sse_kms_key_id: null,
        part_size_mb: 16,
        max_attempts: 6,
        retry_budget_ms: 60000,
        request_timeout_ms: 60000,
        local_fallback_ms: 5000,
        stale_upload_minutes: 1440,
      },
    },
  },
  redis: {
    enabled: false,
    namespace: 'wks',
    ttl_seconds: 3600,
    connection: { host: 'localhost', port: 6379, db: 0, password: null, connect_timeout_ms: 2000 },
    features: { sessions: true, rate_limiting: true, caching: true, workflow_state: true },
  },
  monitoring: {
    prometheus: {
      enabled: true,
      host: '127.0.0.1',
      port: 9090,
      path: '/metrics',
      pushgateway_url: null,
      bearer_token: null,
      scrape_cache_ms: 1000,
      // workflow_name label values: the busiest N workflows by name, the rest as "other" (docs/metrics.md).
      workflow_label_limit: 50,
    },
    grafana: { enabled: false, dashboards: ['system_overview', 'workflow_performance', 'agent_health'] },
    alerts: {
      enabled: false,
      rules: [
        { name: 'high_error_rate', condition: 'error_rate > 0.05', duration: '5m' },
        { name: 'workflow_timeout', condition: 'workflow_duration > 600s', duration: '1m' },
      ],
      email: { enabled: false, to: null, from: 'wks@localhost', smtp_url: null },
      slack_webhook: null,
      pagerduty_key: null,
      pagerduty_url: 'https://events.pagerduty.com/v2/enqueue',
    },
  },
  execution: {
    concurrency: { max_concurrent: 50, queue_strategy: 'priority' },
    timeouts: { default_workflow_timeout_ms: 300000, agent_invocation_timeout_ms: 30000 },
    retries: { max_retries: 3, backoff_strategy: 'exponential', initial_delay_ms: 1000 },
  },
  performance: {
    clustering: { enabled: false, worker_count: 'auto' },
    rate_limiting: { enabled: true, window_ms: 900000, max_requests: 100, strategy: 'sliding_window' },
  },
  features: {
    experimental: { distributed_tracing: false, auto_scaling_agents: false, ml_workflow_optimization: false },
  },
  health: {
    timeout_ms: 5000,
    check_timeout_ms: 3000,
    backup_rpo: '1h',
    min_free_bytes: 1024 * 1024 * 1024,
    agent_stale_after: '15m',
    redis_latency_warn_ms: 100,
    redis_memory_warn_percent: 90,
    pool_usage_warn_percent: 80,
  },
  serve: {
    shutdown_grace_ms: 60000,
    leader_lease_ms: 15000,
    metrics_sample_retention: '7d',
    log_repeat_interval: '1m',
    jobs: {
      backup: { enabled: true }, // schedule: database.backup.schedule
      rotate: { enabled: true, schedule: '30 2 * * *' },
      verify: { enabled: true, schedule: '0 4 * * 0' },
      reap: { enabled: true, schedule: '*/5 * * * *' },
      agent_health: { enabled: true, schedule: '* * * * *' },
      alerts: { enabled: true, schedule: '* * * * *' },
      metrics_sample: { enabled: true, schedule: '* * * * *' },
      drill: { enabled: true, schedule: '0 5 * * 0' },
    },
  },
};

/** Paths (under `phase4.`) whose values are secrets: masked in `config show`, --json, logs and errors. */
export const SECRET_PATHS: readonly string[] = [
  'app.jwt_secret',
  'database.postgresql.password',
  'database.backup.encryption.key',
  'redis.connection.password',
  'monitoring.prometheus.bearer_token',
  'monitoring.alerts.slack_webhook',
  'monitoring.alerts.pagerduty_key',
  'monitoring.alerts.email.smtp_url',
];

/** Paths whose values are URLs: shown with the userinfo password masked. */
export const URL_PATHS: readonly string[] = ['database.postgresql.url', 'monitoring.prometheus.pushgateway_url'];

export type EnvKind = 'string' | 'int' | 'bool';

/**
 * Every environment variable of the platform's schema (Phase 1-3 and Phase 4) plus wks's
 * own, mapped onto a config key path. Values stay strings here; the schema
 * coerces and validates them, and errors name the variable.
 */
export const ENV_MAP: Readonly<Record<string, string>> = {
  // Phase 1-3
  NODE_ENV: 'app.node_env',
  PORT: 'app.port',
  JWT_SECRET: 'app.jwt_secret',
  JWT_EXPIRATION: 'app.jwt_expiration',
  DATABASE_PATH: 'database.path',
  MCP_PORT: 'app.mcp.port',
  MCP_HOST: 'app.mcp.host',
  LOG_LEVEL: 'app.log_level',
  LOG_FILE: 'app.log_file',
  // Phase 4: pooling
  DB_POOL_MIN: 'database.pooling.min',
  DB_POOL_MAX: 'database.pooling.max',
  DB_POOL_IDLE_TIMEOUT_MS: 'database.pooling.idle_timeout_ms',
  DB_CONNECTION_TIMEOUT_MS: 'database.pooling.connection_timeout_ms',
  DB_QUERY_TIMEOUT_MS: 'database.query_timeout_ms',
  // Redis
  REDIS_ENABLED: 'redis.enabled',
  REDIS_HOST: 'redis.connection.host',
  REDIS_PORT: 'redis.connection.port',
  REDIS_PASSWORD: 'redis.connection.password',
  REDIS_DB: 'redis.connection.db',
  REDIS_TTL_SECONDS: 'redis.ttl_seconds',
  REDIS_NAMESPACE: 'redis.namespace',
  REDIS_CONNECT_TIMEOUT_MS: 'redis.connection.connect_timeout_ms',
  // Execution limits
  MAX_CONCURRENT_WORKFLOWS: 'execution.concurrency.max_concurrent',
  WORKFLOW_TIMEOUT_MS: 'execution.timeouts.default_workflow_timeout_ms',
  MAX_WORKFLOW_RETRIES: 'execution.retries.max_retries',
  // Monitoring
  METRICS_ENABLED: 'monitoring.prometheus.enabled',
  METRICS_PORT: 'monitoring.prometheus.port',
  METRICS_HOST: 'monitoring.prometheus.host',
  METRICS_BEARER_TOKEN: 'monitoring.prometheus.bearer_token',
  METRICS_SCRAPE_CACHE_MS: 'monitoring.prometheus.scrape_cache_ms',
  METRICS_WORKFLOW_LABEL_LIMIT: 'monitoring.prometheus.workflow_label_limit',
  PROMETHEUS_PUSHGATEWAY_URL: 'monitoring.prometheus.pushgateway_url',
  // Backup
  BACKUP_ENABLED: 'database.backup.enabled',
  BACKUP_INTERVAL_HOURS: 'database.backup.interval_hours',
  BACKUP_RETENTION_DAYS: 'database.backup.retention_days',
  BACKUP_STORAGE_PATH: 'database.backup.storage_path',
  BACKUP_SCHEDULE: 'database.backup.schedule',
  BACKUP_COMPRESSION: 'database.backup.compression',
  BACKUP_ENCRYPTION_KEY: 'database.backup.encryption.key',
  BACKUP_ENCRYPTION_KEY_FILE: 'database.backup.encryption.key_file',
  BACKUP_DRILL_RTO_TARGET: 'database.backup.drill.rto_target',
  BACKUP_DRILL_MAX_AGE: 'database.backup.drill.max_age',
  BACKUP_REPOSITORY: 'database.backup.repository',
  BACKUP_LOCAL_COPY: 'database.backup.local_copy',
  BACKUP_LOCAL_RETENTION_DAYS: 'database.backup.local_retention.retention_days',
  BACKUP_S3_ENDPOINT: 'database.backup.s3.endpoint',
  BACKUP_S3_REGION: 'database.backup.s3.region',
  BACKUP_S3_FORCE_PATH_STYLE: 'database.backup.s3.force_path_style',
  BACKUP_S3_STORAGE_CLASS: 'database.backup.s3.storage_class',
  BACKUP_S3_SSE: 'database.backup.s3.sse',
  BACKUP_S3_SSE_KMS_KEY_ID: 'database.backup.s3.sse_kms_key_id',
  BACKUP_S3_PART_SIZE_MB: 'database.backup.s3.part_size_mb',
  BACKUP_S3_MAX_ATTEMPTS: 'database.backup.s3.max_attempts',
  BACKUP_S3_RETRY_BUDGET_MS: 'database.backup.s3.retry_budget_ms',
  BACKUP_S3_REQUEST_TIMEOUT_MS: 'database.backup.s3.request_timeout_ms',
  BACKUP_S3_LOCAL_FALLBACK_MS: 'database.backup.s3.local_fallback_ms',
  BACKUP_S3_STALE_UPLOAD_MINUTES: 'database.backup.s3.stale_upload_minutes',
  // Performance
  ENABLE_CLUSTERING: 'performance.clustering.enabled',
  CLUSTER_WORKERS: 'performance.clustering.worker_count',
  RATE_LIMIT_WINDOW_MS: 'performance.rate_limiting.window_ms',
  RATE_LIMIT_MAX_REQUESTS: 'performance.rate_limiting.max_requests',
  // PostgreSQL
  PG_ENABLED: 'database.postgresql.enabled',
  PG_URL: 'database.postgresql.url',
  PG_HOST: 'database.postgresql.host',
  PG_PORT: 'database.postgresql.port',
  PG_DATABASE: 'database.postgresql.database',
  PG_USER: 'database.postgresql.user',
  PG_PASSWORD: 'database.postgresql.password',
  PG_SSL: 'database.postgresql.ssl',
  PG_SSL_MODE: 'database.postgresql.ssl_mode',
  PG_SSL_CA_FILE: 'database.postgresql.ssl_ca_file',
  PG_DUMP_PATH: 'database.postgresql.pg_dump_path',
  PG_RESTORE_PATH: 'database.postgresql.pg_restore_path',
  // Migrations (wks's own)
  WKS_MIGRATIONS_DIR: 'database.migrations.directory',
  WKS_MIGRATIONS_LOCK_TIMEOUT_MS: 'database.migrations.lock_timeout_ms',
  WKS_LOG_REPEAT_INTERVAL: 'serve.log_repeat_interval',
  // Alerting
  ALERT_EMAIL_ENABLED: 'monitoring.alerts.email.enabled',
  ALERT_EMAIL_TO: 'monitoring.alerts.email.to',
  ALERT_EMAIL_FROM: 'monitoring.alerts.email.from',
  ALERT_SMTP_URL: 'monitoring.alerts.email.smtp_url',
  ALERT_SLACK_WEBHOOK: 'monitoring.alerts.slack_webhook',
  ALERT_PAGERDUTY_KEY: 'monitoring.alerts.pagerduty_key',
  ALERT_PAGERDUTY_URL: 'monitoring.alerts.pagerduty_url',
};
