/**
 * The zod schema of wks configuration: the platform's `phase4:` document, extended
 * with the keys that carry the platform's environment variables and wks's own
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
// Named imports rather than the `z` namespace: the build bundles zod down to
// what this file uses (src/build/vendor.mjs), which is most of wks's start-up cost.
import {
  array,
  boolean,
  config as zodConfig,
  enum as oneOf,
  literal,
  number,
  preprocess,
  strictObject,
  string,
  union,
  type input,
  type output,
} from 'zod';
import { Cron } from 'croner';
import { parseDuration } from '../util/duration.js';

// A CLI validates one document per process: zod's JIT (new Function per object
// schema) costs more on that first parse than it could ever save. Measured:
// first parse 23-49 ms with JIT, 6-8 ms without.
zodConfig({ jitless: true });

/** Strings read as true (case-insensitive) in YAML and environment values; the loader's cross-field rules use it too. */
export const TRUE = new Set(['true', '1', 'yes', 'on']);
const FALSE = new Set(['false', '0', 'no', 'off']);

/**
 * One instance per distinct leaf schema: zod schemas are immutable, so the ~90
 * fields that share `bool()`, `int(0)`, `optStr()`... share one object instead of
 * each building its own (preprocess + checks): building the schema is a
 * measurable part of every command's start-up.
 */
const built = new Map<string, unknown>();
function shared<T>(key: string, make: () => T): T {
  let s = built.get(key) as T | undefined;
  if (s === undefined) {
    s = make();
    built.set(key, s);
  }
  return s;
}

function fromString(v: unknown, f: (s: string) => unknown): unknown {
  return typeof v === 'string' ? f(v.trim()) : v;
}

export const bool = () =>
  shared('bool', () =>
    preprocess(
      (v) => fromString(v, (s) => (TRUE.has(s.toLowerCase()) ? true : FALSE.has(s.toLowerCase()) ? false : s)),
      boolean({ error: 'expected a boolean (true/false)' }),
    ),
  );

export const int = (min = 0, max = Number.MAX_SAFE_INTEGER) =>
  shared(`int:${min}:${max}`, () =>
    preprocess(
      (v) => fromString(v, (s) => (/^-?\d+$/.test(s) ? Number(s) : s)),
      number({ error: 'expected an integer' })
        .int({ error: 'expected an integer' })
        .min(min, { error: `must be >= ${min}` })
        .max(max, { error: `must be <= ${max}` }),
    ),
  );

export const num = (min = 0) =>
  shared(`num:${min}`, () =>
    preprocess(
      (v) => fromString(v, (s) => (s !== '' && Number.isFinite(Number(s)) ? Number(s) : s)),
      number({ error: 'expected a number' }).min(min, { error: `must be >= ${min}` }),
    ),
  );

export const port = () => shared('port', () => int(1, 65535).describe('TCP port 1-65535'));

export const str = () => shared('str', () => string({ error: 'expected a string' }));
export const optStr = () => shared('optStr', () => str().nullable());

/** A duration such as `90s`, `5m`, `1h`, `7d`, or a number of milliseconds. Kept as written. */
export const duration = () =>
  shared('duration', () =>
    union([string(), number()], { error: 'expected a duration such as 30s, 5m, 1h, 7d' }).refine(
      (v) => parseDuration(v) !== undefined,
      { error: 'expected a duration such as 30s, 5m, 1h, 7d' },
    ),
  );

/** A cron expression (5 or 6 fields), checked by croner itself. */
export const cron = () =>
  shared('cron', () =>
    str().superRefine((expr, ctx) => {
      try {
        new Cron(expr, { paused: true });
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: `invalid cron expression: ${(err as Error).message}` });
      }
    }),
  );

/**
 * Why `s` is not a usable URL with one of `schemes` (e.g. `postgres:`), or null.
 * Parsed fully: the scheme, a numeric port in range (the WHATWG parser rejects
 * `:abc` and `:99999`), and a host unless `hostOptional` (libpq's `?host=`).
 * Exported so that flags carrying URLs (`db copy --to`) are checked the same way.
 */
export function urlProblem(s: string, schemes: readonly string[] = [], hostOptional = false): string | null {
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    return /:\/\/[^/]*:[^/@]*[^\d/@][^/@]*(?:\/|$)/.test(s.replace(/\/\/[^@/]*@/, '//'))
      ? 'not a valid URL: the port must be a number from 1 to 65535'
      : 'not a valid URL';
  }
  if (schemes.length && !schemes.includes(u.protocol))
    return `unsupported scheme "${u.protocol.replace(/:$/, '')}" (expected ${schemes.map((x) => x.replace(/:$/, '')).join(' or ')})`;
  if (u.port && (Number(u.port) < 1 || Number(u.port) > 65535)) return 'the port must be a number from 1 to 65535';
  if (!u.hostname && !(hostOptional && u.searchParams.get('host'))) return 'the URL names no host';
  return null;
}

const url = (schemes: readonly string[] = [], hostOptional = false) =>
  shared(`url:${schemes.join(',')}:${hostOptional}`, () =>
    str().superRefine((s, ctx) => {
      const p = urlProblem(s, schemes, hostOptional);
      if (p) ctx.addIssue({ code: 'custom', message: p });
    }),
  );

/** The PostgreSQL URL schemes libpq accepts. */
export const PG_SCHEMES = ['postgres:', 'postgresql:'] as const;

const compression = preprocess(
  (v) => (v === true || v === 'true' ? 'gzip' : v === false || v === 'false' ? 'none' : v),
  oneOf(['none', 'gzip', 'zstd'], { error: 'expected none, gzip or zstd (or true/false)' }),
);

const job = () => shared('job', () => strictObject({ enabled: bool(), schedule: cron() }));

export const configSchema = strictObject({
  version: union([str(), number()]).transform(String),
  app: strictObject({
    node_env: oneOf(['development', 'production', 'test']),
    port: port(),
    jwt_secret: optStr(),
    jwt_expiration: str(),
    mcp: strictObject({ host: str(), port: port() }),
    log_level: oneOf(['error', 'warn', 'info', 'debug']),
    log_file: str(),
  }),
  database: strictObject({
    type: oneOf(['sqlite', 'postgresql']),
    path: str().min(1),
    busy_timeout_ms: int(0),
    query_timeout_ms: int(0),
    pooling: strictObject({
      enabled: bool(),
      min: int(0),
      max: int(1),
      idle_timeout_ms: int(0),
      connection_timeout_ms: int(0),
    }),
    transactions: strictObject({
      enabled: bool(),
      isolation_level: oneOf(['READ_UNCOMMITTED', 'READ_COMMITTED', 'REPEATABLE_READ', 'SERIALIZABLE']),
    }),
    postgresql: strictObject({
      enabled: bool(),
      url: url(PG_SCHEMES, true).nullable(),
      host: str(),
      port: port(),
      database: str(),
      user: optStr(),
      password: optStr(),
      ssl: bool(),
      ssl_mode: oneOf(['disable', 'require', 'verify-ca', 'verify-full'], {
        error: 'expected disable, require, verify-ca or verify-full',
      }).nullable(),
      ssl_ca_file: optStr(),
      pg_dump_path: optStr(),
      pg_restore_path: optStr(),
    }),
    migrations: strictObject({
      directory: optStr(),
      lock_timeout_ms: int(0),
    }),
    backup: strictObject({
      enabled: bool(),
      schedule: cron(),
      interval_hours: int(1),
      retention_days: int(0),
      compression,
      storage_path: str().min(1),
      encryption: strictObject({
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
      allow_foreign_owner: bool(),
      drill: strictObject({
        rto_target: duration(),
        max_age: duration(),
      }),
      // Local plus remote (docs/backup-and-recovery.md): keep each backup in storage_path too, with its own retention.
      local_copy: bool(),
      local_retention: strictObject({
        retention_days: int(0).nullable(),
        keep_last: int(0).nullable(),
        keep_hourly: int(0).nullable(),
        keep_daily: int(0).nullable(),
        keep_weekly: int(0).nullable(),
        keep_monthly: int(0).nullable(),
      }),
      repository: optStr().refine(
        (v) => v === null || v === '' || /^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/.*)?$/.test(v),
        {
          error: 'expected s3://bucket or s3://bucket/prefix (bucket: 3-63 lower-case letters, digits, dots, hyphens)',
        },
      ),
      s3: strictObject({
        endpoint: url().nullable(),
        region: optStr(),
        force_path_style: bool(),
        storage_class: optStr(),
        sse: oneOf(['AES256', 'aws:kms', 'aws:kms:dsse'], {
          error: 'expected AES256, aws:kms or aws:kms:dsse',
        }).nullable(),
        sse_kms_key_id: optStr(),
        part_size_mb: int(5, 5120),
        max_attempts: int(1, 50),
        retry_budget_ms: int(0),
        request_timeout_ms: int(100),
        local_fallback_ms: int(0),
        stale_upload_minutes: int(0),
      }),
    }),
  }),
  redis: strictObject({
    enabled: bool(),
    namespace: str().regex(/^[A-Za-z0-9_.-]+$/, { error: 'namespace may contain letters, digits, _ . -' }),
    ttl_seconds: int(1),
    connection: strictObject({
      host: str(),
      port: port(),
      db: int(0, 15),
      password: optStr(),
      connect_timeout_ms: int(1),
    }),
    features: strictObject({
      sessions: bool(),
      rate_limiting: bool(),
      caching: bool(),
      workflow_state: bool(),
    }),
  }),
  monitoring: strictObject({
    prometheus: strictObject({
      enabled: bool(),
      host: str(),
      port: port(),
      path: str().startsWith('/', { error: 'must start with /' }),
      pushgateway_url: url().nullable(),
      bearer_token: optStr(),
      scrape_cache_ms: int(0),
      workflow_label_limit: int(0),
    }),
    grafana: strictObject({
      enabled: bool(),
      dashboards: array(str()),
    }),
    alerts: strictObject({
      enabled: bool(),
      rules: array(strictObject({ name: str(), condition: str(), duration: duration() })),
      email: strictObject({
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
  execution: strictObject({
    concurrency: strictObject({
      max_concurrent: int(1),
      queue_strategy: oneOf(['priority', 'fifo']),
    }),
    timeouts: strictObject({
      default_workflow_timeout_ms: int(1),
      agent_invocation_timeout_ms: int(1),
    }),
    retries: strictObject({
      max_retries: int(0),
      backoff_strategy: oneOf(['exponential', 'linear', 'fixed']),
      initial_delay_ms: int(0),
    }),
  }),
  performance: strictObject({
    clustering: strictObject({
      enabled: bool(),
      worker_count: union([literal('auto'), int(1)], { error: 'expected "auto" or a positive integer' }),
    }),
    rate_limiting: strictObject({
      enabled: bool(),
      window_ms: int(1),
      max_requests: int(1),
      strategy: oneOf(['sliding_window', 'fixed_window', 'token_bucket']),
    }),
  }),
  features: strictObject({
    experimental: strictObject({
      distributed_tracing: bool(),
      auto_scaling_agents: bool(),
      ml_workflow_optimization: bool(),
    }),
  }),
  health: strictObject({
    timeout_ms: int(1),
    check_timeout_ms: int(1),
    backup_rpo: duration(),
    min_free_bytes: int(0),
    agent_stale_after: duration(),
    redis_latency_warn_ms: int(1),
    redis_memory_warn_percent: int(1, 100),
    pool_usage_warn_percent: int(1, 100),
  }),
  serve: strictObject({
    shutdown_grace_ms: int(0),
    leader_lease_ms: int(1000),
    metrics_sample_retention: duration(),
    log_repeat_interval: duration(),
    jobs: strictObject({
      // The backup job's schedule is the platform's database.backup.schedule (BACKUP_SCHEDULE): one key, not two.
      backup: strictObject({ enabled: bool() }),
      rotate: job(),
      verify: job(),
      reap: job(),
      agent_health: job(),
      alerts: job(),
      metrics_sample: job(),
      drill: job(),
    }),
  }),
});

/** The validated configuration. */
export type Config = output<typeof configSchema>;
/** Input shape (what YAML/env may contain before coercion). */
export type RawConfig = input<typeof configSchema>;
