/**
 * The zod schema of wks configuration: the seed's `phase4:` document, extended
 * with the keys that carry the seed's environment variables and wks's own
 * settings. Keys are snake_case so that a key path in an error is exactly
 * what the operator types in phase4-config.yml.
 *
 * Objects are strict: an unknown key is reported (with a "did you mean").
 * Numbers and booleans also accept their string forms, because environment
 * variables and `${VAR}` expansions arrive as strings.
 *
 * Defaults are NOT declared here; they live in defaults.ts and are merged
 * before validation, so there is exactly one place that says what they are.
 */
import { z } from 'zod';
import { Cron } from 'croner';
import { parseDuration } from '../util/duration.js';

// A CLI validates one document per process: zod's JIT (new Function per object
// schema) costs more on that first parse than it could ever save. Measured:
// first parse 23-49 ms with JIT, 6-8 ms without.
z.config({ jitless: true });

const TRUE = new Set(['true', '1', 'yes', 'on']);
const FALSE = new Set(['false', '0', 'no', 'off']);

function fromString(v: unknown, f: (s: string) => unknown): unknown {
  return typeof v === 'string' ? f(v.trim()) : v;
}

export const bool = () =>
  z.preprocess(
    (v) => fromString(v, (s) => (TRUE.has(s.toLowerCase()) ? true : FALSE.has(s.toLowerCase()) ? false : s)),
    z.boolean({ error: 'expected a boolean (true/false)' }),
  );

export const int = (min = 0, max = Number.MAX_SAFE_INTEGER) =>
  z.preprocess(
    (v) => fromString(v, (s) => (/^-?\d+$/.test(s) ? Number(s) : s)),
    z
      .number({ error: 'expected an integer' })
      .int({ error: 'expected an integer' })
      .min(min, { error: `must be >= ${min}` })
      .max(max, { error: `must be <= ${max}` }),
  );

export const num = (min = 0) =>
  z.preprocess(
    (v) => fromString(v, (s) => (s !== '' && Number.isFinite(Number(s)) ? Number(s) : s)),
    z.number({ error: 'expected a number' }).min(min, { error: `must be >= ${min}` }),
  );

export const port = () => int(1, 65535).describe('TCP port 1-65535');

export const str = () => z.string({ error: 'expected a string' });
export const optStr = () => z.string({ error: 'expected a string' }).nullable();

/** A duration such as `90s`, `5m`, `1h`, `7d`, or a number of milliseconds. Kept as written. */
export const duration = () =>
  z.union([z.string(), z.number()], { error: 'expected a duration such as 30s, 5m, 1h, 7d' }).refine(
    (v) => parseDuration(v) !== undefined,
    { error: 'expected a duration such as 30s, 5m, 1h, 7d' },
  );

/** A cron expression (5 or 6 fields), checked by croner itself. */
export const cron = () =>
  str().superRefine((expr, ctx) => {
    try {
      new Cron(expr, { paused: true });
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: `invalid cron expression: ${(err as Error).message}` });
    }
  });

const url = () =>
  str().refine((s) => {
    try {
      new URL(s);
      return true;
    } catch {
      return false;
    }
  }, { error: 'expected a URL' });

const compression = z.preprocess(
  (v) => (v === true || v === 'true' ? 'gzip' : v === false || v === 'false' ? 'none' : v),
  z.enum(['none', 'gzip', 'zstd'], { error: 'expected none, gzip or zstd (or true/false)' }),
);

const job = () => z.strictObject({ enabled: bool(), schedule: cron() });

export const configSchema = z.strictObject({
  version: z.union([str(), z.number()]).transform(String),
  app: z.strictObject({
    node_env: z.enum(['development', 'production', 'test']),
    port: port(),
    jwt_secret: optStr(),
    jwt_expiration: str(),
    mcp: z.strictObject({ host: str(), port: port() }),
    log_level: z.enum(['error', 'warn', 'info', 'debug']),
    log_file: str(),
  }),
  database: z.strictObject({
    type: z.enum(['sqlite', 'postgresql']),
    path: str().min(1),
    busy_timeout_ms: int(0),
    query_timeout_ms: int(0),
    pooling: z.strictObject({
      enabled: bool(),
      min: int(0),
      max: int(1),
      idle_timeout_ms: int(0),
      connection_timeout_ms: int(0),
    }),
    transactions: z.strictObject({
      enabled: bool(),
      isolation_level: z.enum(['READ_UNCOMMITTED', 'READ_COMMITTED', 'REPEATABLE_READ', 'SERIALIZABLE']),
    }),
    postgresql: z.strictObject({
      enabled: bool(),
      url: optStr(),
      host: str(),
      port: port(),
      database: str(),
      user: optStr(),
      password: optStr(),
      ssl: bool(),
      pg_dump_path: optStr(),
      pg_restore_path: optStr(),
    }),
    migrations: z.strictObject({
      directory: optStr(),
      lock_timeout_ms: int(0),
    }),
    backup: z.strictObject({
      enabled: bool(),
      schedule: cron(),
      interval_hours: int(1),
      retention_days: int(0),
      compression,
      storage_path: str().min(1),
      encryption: z.strictObject({
        enabled: bool(),
        key: optStr(),
        key_file: optStr(),
      }),
      keep_last: int(0),
      keep_hourly: int(0),
      keep_daily: int(0),
      keep_weekly: int(0),
      keep_monthly: int(0),
      pre_migration_min_age: duration(),
      lock_timeout_ms: int(0),
      rotate_after_create: bool(),
    }),
  }),
  redis: z.strictObject({
    enabled: bool(),
    namespace: str().regex(/^[A-Za-z0-9_.-]+$/, { error: 'namespace may contain letters, digits, _ . -' }),
    ttl_seconds: int(1),
    connection: z.strictObject({
      host: str(),
      port: port(),
      db: int(0, 15),
      password: optStr(),
      connect_timeout_ms: int(1),
    }),
    features: z.strictObject({
      sessions: bool(),
      rate_limiting: bool(),
      caching: bool(),
      workflow_state: bool(),
    }),
  }),
  monitoring: z.strictObject({
    prometheus: z.strictObject({
      enabled: bool(),
      host: str(),
      port: port(),
      path: str().startsWith('/', { error: 'must start with /' }),
      pushgateway_url: url().nullable(),
      bearer_token: optStr(),
      scrape_cache_ms: int(0),
    }),
    grafana: z.strictObject({
      enabled: bool(),
      dashboards: z.array(str()),
    }),
    alerts: z.strictObject({
      enabled: bool(),
      rules: z.array(z.strictObject({ name: str(), condition: str(), duration: duration() })),
      email: z.strictObject({
        enabled: bool(),
        to: optStr(),
        from: str(),
        smtp_url: optStr(),
      }),
      slack_webhook: url().nullable(),
      pagerduty_key: optStr(),
      pagerduty_url: url(),
    }),
  }),
  execution: z.strictObject({
    concurrency: z.strictObject({
      max_concurrent: int(1),
      queue_strategy: z.enum(['priority', 'fifo']),
    }),
    timeouts: z.strictObject({
      default_workflow_timeout_ms: int(1),
      agent_invocation_timeout_ms: int(1),
    }),
    retries: z.strictObject({
      max_retries: int(0),
      backoff_strategy: z.enum(['exponential', 'linear', 'fixed']),
      initial_delay_ms: int(0),
    }),
  }),
  performance: z.strictObject({
    clustering: z.strictObject({
      enabled: bool(),
      worker_count: z.union([z.literal('auto'), int(1)], { error: 'expected "auto" or a positive integer' }),
    }),
    rate_limiting: z.strictObject({
      enabled: bool(),
      window_ms: int(1),
      max_requests: int(1),
      strategy: z.enum(['sliding_window', 'fixed_window', 'token_bucket']),
    }),
  }),
  features: z.strictObject({
    experimental: z.strictObject({
      distributed_tracing: bool(),
      auto_scaling_agents: bool(),
      ml_workflow_optimization: bool(),
    }),
  }),
  health: z.strictObject({
    timeout_ms: int(1),
    check_timeout_ms: int(1),
    backup_rpo: duration(),
    min_free_bytes: int(0),
    agent_stale_after: duration(),
    redis_latency_warn_ms: int(1),
    redis_memory_warn_percent: int(1, 100),
    pool_usage_warn_percent: int(1, 100),
  }),
  serve: z.strictObject({
    shutdown_grace_ms: int(0),
    leader_lease_ms: int(1000),
    metrics_sample_retention: duration(),
    jobs: z.strictObject({
      // The backup job's schedule is the seed's database.backup.schedule (BACKUP_SCHEDULE): one key, not two.
      backup: z.strictObject({ enabled: bool() }),
      rotate: job(),
      verify: job(),
      reap: job(),
      agent_health: job(),
      alerts: job(),
      metrics_sample: job(),
    }),
  }),
});

/** The validated configuration. */
export type Config = z.output<typeof configSchema>;
/** Input shape (what YAML/env may contain before coercion). */
export type RawConfig = z.input<typeof configSchema>;
