import { describe, it, expect, beforeEach } from 'vitest';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../../src/config/loader.js';
import { redactedConfig, configWithSources, DEFAULTS } from '../../src/config/index.js';
import { ConfigError } from '../../src/errors.js';
import { clearSecrets, redactText } from '../../src/redact.js';
import { tmpDir } from '../helpers/tmp.js';

function expectConfigError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).exitCode).toBe(78);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  let dir: string;
  beforeEach(() => {
    dir = tmpDir('cfg');
    clearSecrets();
  });

  it('runs on defaults when no file exists', () => {
    const { config, file } = loadConfig({ env: {}, cwd: dir });
    expect(file).toBeNull();
    expect(config.database.type).toBe('sqlite');
    expect(config.database.path).toBe(path.join(dir, 'workstation.db'));
    expect(config.redis.connection.port).toBe(6379);
    expect(config.execution.concurrency.max_concurrent).toBe(50);
    // Every 30 minutes: inside the 1 h RPO (docs/backup-and-recovery.md).
    expect(config.database.backup.schedule).toBe('*/30 * * * *');
    expect(config.health.backup_rpo).toBe('1h');
  });

  it("reads the committed phase4-config.yml (the platform's file) unchanged", () => {
    const committed = path.resolve(__dirname, '../../phase4-config.yml');
    const { config } = loadConfig({ env: {}, cwd: dir, configPath: committed });
    expect(config.database.backup.compression).toBe('gzip'); // the file says `compression: true`
    expect(config.monitoring.alerts.rules.map((r) => r.name)).toEqual(['high_error_rate', 'workflow_timeout']);
  });

  it('applies precedence flag > env > file > default and records sources', () => {
    writeFileSync(
      path.join(dir, 'phase4-config.yml'),
      'phase4:\n  redis:\n    connection:\n      port: 7000\n      host: filehost\n  database:\n    backup:\n      retention_days: 10\n',
    );
    const loaded = loadConfig({
      env: { REDIS_PORT: '7001', BACKUP_RETENTION_DAYS: '12' },
      cwd: dir,
      overrides: { 'database.backup.retention_days': { value: 14, flag: '--retention-days' } },
    });
    expect(loaded.config.redis.connection.port).toBe(7001);
    expect(loaded.config.redis.connection.host).toBe('filehost');
    expect(loaded.config.database.backup.retention_days).toBe(14);
    expect(loaded.sources['redis.connection.port']).toEqual({ layer: 'env', origin: 'REDIS_PORT' });
    expect(loaded.sources['redis.connection.host']).toEqual({ layer: 'file', origin: 'phase4-config.yml:5' });
    expect(loaded.sources['database.backup.retention_days']).toEqual({ layer: 'flag', origin: '--retention-days' });
    expect(loaded.sources['database.pooling.max']).toEqual({ layer: 'default', origin: 'default' });
  });

  it("maps every variable of the platform's schema onto the config", () => {
    const { config } = loadConfig({
      cwd: dir,
      env: {
        NODE_ENV: 'production',
        PORT: '3001',
        JWT_SECRET: 'jwt-secret-value',
        JWT_EXPIRATION: '1h',
        DATABASE_PATH: './x.db',
        MCP_PORT: '8083',
        MCP_HOST: 'mcp',
        LOG_LEVEL: 'debug',
        LOG_FILE: '/var/log/x.log',
        DB_POOL_MIN: '1',
        DB_POOL_MAX: '4',
        DB_POOL_IDLE_TIMEOUT_MS: '1000',
        DB_CONNECTION_TIMEOUT_MS: '2000',
        REDIS_ENABLED: 'true',
        REDIS_HOST: 'r',
        REDIS_PORT: '6380',
        REDIS_PASSWORD: 'redispw',
        REDIS_DB: '2',
        REDIS_TTL_SECONDS: '60',
        MAX_CONCURRENT_WORKFLOWS: '7',
        WORKFLOW_TIMEOUT_MS: '1000',
        MAX_WORKFLOW_RETRIES: '5',
        METRICS_ENABLED: 'false',
        METRICS_PORT: '9191',
        PROMETHEUS_PUSHGATEWAY_URL: 'http://pg:9091',
        BACKUP_ENABLED: 'false',
        BACKUP_INTERVAL_HOURS: '6',
        BACKUP_RETENTION_DAYS: '3',
        BACKUP_STORAGE_PATH: '/srv/b',
        ENABLE_CLUSTERING: 'true',
        CLUSTER_WORKERS: '4',
        RATE_LIMIT_WINDOW_MS: '1000',
        RATE_LIMIT_MAX_REQUESTS: '9',
        PG_ENABLED: 'true',
        PG_HOST: 'db',
        PG_PORT: '5433',
        PG_DATABASE: 'w',
        PG_USER: 'u',
        PG_PASSWORD: 'p4ss',
        PG_SSL: 'true',
        ALERT_EMAIL_ENABLED: 'true',
        ALERT_EMAIL_TO: 'ops@example.com',
        ALERT_SLACK_WEBHOOK: 'https://hooks.example/T/B/x',
        ALERT_PAGERDUTY_KEY: 'pdkey',
      },
    });
    expect(config.app).toMatchObject({
      node_env: 'production',
      port: 3001,
      jwt_secret: 'jwt-secret-value',
      log_level: 'debug',
    });
    expect(config.database.path).toBe(path.join(dir, 'x.db'));
    expect(config.database.pooling).toMatchObject({
      min: 1,
      max: 4,
      idle_timeout_ms: 1000,
      connection_timeout_ms: 2000,
    });
    expect(config.redis).toMatchObject({
      enabled: true,
      ttl_seconds: 60,
      connection: { host: 'r', port: 6380, db: 2, password: 'redispw' },
    });
    expect(config.execution.concurrency.max_concurrent).toBe(7);
    expect(config.execution.timeouts.default_workflow_timeout_ms).toBe(1000);
    expect(config.execution.retries.max_retries).toBe(5);
    expect(config.monitoring.prometheus).toMatchObject({
      enabled: false,
      port: 9191,
      pushgateway_url: 'http://pg:9091',
    });
    expect(config.database.backup).toMatchObject({
      enabled: false,
      interval_hours: 6,
      retention_days: 3,
      storage_path: '/srv/b',
    });
    expect(config.performance.clustering).toEqual({ enabled: true, worker_count: 4 });
    expect(config.performance.rate_limiting).toMatchObject({ window_ms: 1000, max_requests: 9 });
    expect(config.database.type).toBe('postgresql');
    expect(config.database.postgresql).toMatchObject({
      host: 'db',
      port: 5433,
      database: 'w',
      user: 'u',
      password: 'p4ss',
      ssl: true,
    });
    expect(config.monitoring.alerts.email).toMatchObject({ enabled: true, to: 'ops@example.com' });
  });

  it('reports every problem at once with key, value and source', () => {
    writeFileSync(
      path.join(dir, 'phase4-config.yml'),
      [
        'phase4:',
        '  databse:',
        '    x: 1',
        '  database:',
        '    pooling:',
        '      min: 20',
        '      max: 10',
        '    backup:',
        '      schedule: "61 * * * *"',
        '',
      ].join('\n'),
    );
    const err = expectConfigError(() => loadConfig({ cwd: dir, env: { REDIS_PORT: 'abc', METRICS_PORT: '70000' } }));
    const byKey = Object.fromEntries(err.issues.map((i) => [i.key, i]));
    expect(byKey.REDIS_PORT).toMatchObject({ source: 'env', value: '"abc"' });
    expect(byKey.METRICS_PORT!.message).toMatch(/65535/);
    expect(byKey['phase4.databse']).toMatchObject({ source: 'phase4-config.yml:2' });
    expect(byKey['phase4.databse']!.message).toMatch(/did you mean database/);
    expect(byKey['phase4.database.backup.schedule']!.message).toMatch(/cron/);
    expect(byKey['phase4.database.backup.schedule']!.source).toBe('phase4-config.yml:9');
    expect(byKey['phase4.database.pooling.min']!.message).toMatch(/<= pool max/);
    expect(err.issues.length).toBe(5);
  });

  it('reports a YAML syntax error with its line', () => {
    writeFileSync(path.join(dir, 'phase4-config.yml'), 'phase4:\n  redis:\n    enabled: true\n   bad: [\n');
    const err = expectConfigError(() => loadConfig({ cwd: dir, env: {} }));
    expect(err.message).toMatch(/phase4-config\.yml:4/);
  });

  it("enforces the platform's cross-field rules", () => {
    const err = expectConfigError(() =>
      loadConfig({ cwd: dir, env: { PG_ENABLED: 'true', ALERT_EMAIL_ENABLED: 'true' } }),
    );
    // PG_PASSWORD is not required: the server decides (trust, peer and certificate auth need none)
    expect(err.issues.map((i) => i.key).sort()).toEqual(['ALERT_EMAIL_TO', 'PG_USER']);
    // database.type: postgresql is the same switch as PG_ENABLED
    writeFileSync(path.join(dir, 'phase4-config.yml'), 'phase4:\n  database:\n    type: postgresql\n');
    const err2 = expectConfigError(() => loadConfig({ cwd: dir, env: {} }));
    expect(err2.issues.map((i) => i.key).sort()).toEqual(['PG_USER']);
    expect(loadConfig({ cwd: dir, env: { PG_USER: 'postgres' } }).config.database.postgresql.password).toBeNull();
  });

  it('expands ${VAR} and ${VAR:-default} in values, and reports unset references', () => {
    writeFileSync(
      path.join(dir, 'phase4-config.yml'),
      'phase4:\n  redis:\n    connection:\n      host: ${RHOST}\n      port: ${RPORT:-6390}\n',
    );
    const { config } = loadConfig({ cwd: dir, env: { RHOST: 'cache.internal' } });
    expect(config.redis.connection).toMatchObject({ host: 'cache.internal', port: 6390 });
    writeFileSync(
      path.join(dir, 'phase4-config.yml'),
      'phase4:\n  redis:\n    connection:\n      host: ${MISSING_HOST}\n',
    );
    const err = expectConfigError(() => loadConfig({ cwd: dir, env: {} }));
    expect(err.issues[0]).toMatchObject({ key: 'MISSING_HOST', source: 'phase4-config.yml:4' });
  });

  it('uses WKS_CONFIG and fails clearly when an explicit file is missing', () => {
    writeFileSync(path.join(dir, 'other.yml'), 'phase4:\n  redis:\n    namespace: other\n');
    expect(loadConfig({ cwd: dir, env: { WKS_CONFIG: 'other.yml' } }).config.redis.namespace).toBe('other');
    const err = expectConfigError(() => loadConfig({ cwd: dir, env: { WKS_CONFIG: 'nope.yml' } }));
    expect(err.message).toMatch(/not found: nope\.yml/);
  });

  it('never shows secrets: errors, show and sources are redacted', () => {
    const env = {
      PG_ENABLED: 'true',
      PG_USER: 'u',
      PG_PASSWORD: 'hunter2-long',
      JWT_SECRET: 'jwt-very-secret',
      PG_PORT: 'x',
    };
    const err = expectConfigError(() => loadConfig({ cwd: dir, env }));
    expect(JSON.stringify(err.issues)).not.toContain('hunter2');
    expect(redactText(`connect failed with password hunter2-long`)).not.toContain('hunter2');
    const ok = loadConfig({ cwd: dir, env: { ...env, PG_PORT: '5432', PG_URL: 'postgres://a:topsecret@h/db' } });
    const shown = JSON.stringify(redactedConfig(ok.config)) + JSON.stringify(configWithSources(ok));
    for (const s of ['hunter2-long', 'jwt-very-secret', 'topsecret']) expect(shown).not.toContain(s);
    expect(shown).toContain('postgres://a:****@h/db');
  });

  it('warns about a likely misspelt variable', () => {
    const { warnings } = loadConfig({ cwd: dir, env: { REDIS_POTR: '1' } });
    expect(warnings[0]).toMatch(/REDIS_POTR.*REDIS_PORT/);
  });

  it('keeps defaults in one place and valid', () => {
    expect(DEFAULTS.redis.connection.port).toBe(6379);
    expect(() => loadConfig({ cwd: dir, env: {} })).not.toThrow();
  });
});
