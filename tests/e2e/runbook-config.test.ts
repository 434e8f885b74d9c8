/**
 * Runbook (#18) item 7 as a user meets it: a configuration error names where
 * each bad value came from (an environment variable, or the file and line),
 * and `wks migrate new` needs nothing but the migrations directory setting.
 */
import { describe, it, expect } from 'vitest';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { runWks } from '../helpers/cli.js';
import { tmpDir } from '../helpers/tmp.js';

/** A config file whose Redis port (line 4) is not a number and whose migrations directory is db/migrations. */
const BAD_REDIS_FILE = `phase4:
  redis:
    connection:
      port: not-a-port
  database:
    migrations:
      directory: db/migrations
`;

describe('configuration errors say where they came from', () => {
  it('a bad value in the environment names the variable', async () => {
    const cwd = tmpDir('e2e-cfg');
    const r = await runWks(['config', 'validate'], { cwd, env: { REDIS_PORT: 'abc' } });
    expect(r.code, r.stderr).toBe(78);
    expect(r.stderr).toMatch(/^ {2}REDIS_PORT: expected an integer \(got "abc"\) {2}\[env\]$/m);
    expect(r.stderr).not.toMatch(/phase4-config\.yml/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('a bad value in the file names the key, the file and the line', async () => {
    const cwd = tmpDir('e2e-cfg');
    writeFileSync(path.join(cwd, 'phase4-config.yml'), BAD_REDIS_FILE);
    const r = await runWks(['config', 'validate'], { cwd });
    expect(r.code, r.stderr).toBe(78);
    expect(r.stderr).toMatch(
      /^ {2}phase4\.redis\.connection\.port: expected an integer \(got "not-a-port"\) {2}\[phase4-config\.yml:4\]$/m,
    );
  });

  it('the same key set in both: the environment wins, and the error names the variable, not the file', async () => {
    const cwd = tmpDir('e2e-cfg');
    writeFileSync(path.join(cwd, 'phase4-config.yml'), BAD_REDIS_FILE);
    const r = await runWks(['config', 'validate'], { cwd, env: { REDIS_PORT: 'xyz' } });
    expect(r.code, r.stderr).toBe(78);
    expect(r.stderr).toMatch(/REDIS_PORT: expected an integer \(got "xyz"\) {2}\[env\]/);
    expect(r.stderr).not.toMatch(/not-a-port/);
  });
});

describe('wks migrate new needs only the migrations directory', () => {
  it('creates the file while PostgreSQL and Redis settings are invalid, and opens no database', async () => {
    const cwd = tmpDir('e2e-cfg');
    writeFileSync(path.join(cwd, 'phase4-config.yml'), BAD_REDIS_FILE);
    // PostgreSQL on with no user and an unreachable port: any connection attempt would fail.
    const env = { PG_ENABLED: 'true', PG_PORT: '1', REDIS_ENABLED: 'maybe' };
    const invalid = await runWks(['config', 'validate'], { cwd, env });
    expect(invalid.code, 'the configuration really is invalid').toBe(78);
    expect(invalid.stderr).toMatch(/PG_USER/);
    expect(invalid.stderr).toMatch(/REDIS_ENABLED/);

    const r = await runWks(['migrate', 'new', 'add widgets', '--json'], { cwd, env });
    expect(r.code, r.stderr).toBe(0);
    const file = r.json().file as string;
    expect(path.dirname(file)).toBe(path.join(cwd, 'db/migrations'));
    expect(path.basename(file)).toMatch(/^\d{14}_add_widgets\.sql$/);
    expect(r.json().unconfigured).toBe(false);
    expect(readdirSync(cwd).sort()).toEqual(['db', 'phase4-config.yml']);
    expect(existsSync(path.join(cwd, 'workstation.db'))).toBe(false);
  });

  it('with the directory from WKS_MIGRATIONS_DIR and no file at all', async () => {
    const cwd = tmpDir('e2e-cfg');
    const env = { WKS_MIGRATIONS_DIR: 'm', DB_TYPE: 'oracle', METRICS_PORT: '70000' };
    const r = await runWks(['migrate', 'new', 'first'], { cwd, env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/created .*m\/\d{14}_first\.sql/);
    expect(readdirSync(path.join(cwd, 'm'))).toHaveLength(1);
  });

  it('an invalid migrations directory setting is still refused (78), naming its key and line', async () => {
    const cwd = tmpDir('e2e-cfg');
    writeFileSync(
      path.join(cwd, 'phase4-config.yml'),
      'phase4:\n  database:\n    migrations:\n      directory: [a, b]\n  redis:\n    connection:\n      port: nope\n',
    );
    const r = await runWks(['migrate', 'new', 'x'], { cwd });
    expect(r.code, r.stderr).toBe(78);
    expect(r.stderr).toMatch(/phase4\.database\.migrations\.directory: .* \[phase4-config\.yml:4\]/);
    expect(r.stderr, 'only the key migrate new reads is reported').not.toMatch(/redis/);
  });

  it('an unset ${VAR} elsewhere in the file does not stop it; one in the directory does', async () => {
    const cwd = tmpDir('e2e-cfg');
    const cfg = path.join(cwd, 'phase4-config.yml');
    writeFileSync(
      cfg,
      'phase4:\n  database:\n    postgresql:\n      url: ${PG_SECRET_URL}\n    migrations:\n      directory: ${MIG_DIR:-mig}\n',
    );
    const ok = await runWks(['migrate', 'new', 'y'], { cwd });
    expect(ok.code, ok.stderr).toBe(0);
    expect(readdirSync(path.join(cwd, 'mig'))).toHaveLength(1);

    writeFileSync(cfg, 'phase4:\n  database:\n    migrations:\n      directory: ${MIG_DIR}\n');
    const bad = await runWks(['migrate', 'new', 'z'], { cwd });
    expect(bad.code, bad.stderr).toBe(78);
    expect(bad.stderr).toMatch(/MIG_DIR: referenced as \$\{MIG_DIR\} but not set .*\[phase4-config\.yml:4\]/);
  });
});
