/**
 * Secret masking: URL passwords with a raw `@` or `/` are masked whole, a
 * URL-valued key is masked by position, and masking never rewrites wks's own
 * words (secrets too short to mask safely are refused or masked by key only).
 */
import { describe, it, expect, afterEach } from 'vitest';
import { clearSecrets, maskUrlPassword, redactText, registerSecret } from '../../src/redact.js';
import { loadConfig } from '../../src/config/loader.js';
import { redactedConfig } from '../../src/config/show.js';

afterEach(() => clearSecrets());

describe('URL passwords', () => {
  it('masks everything between user: and the last @ before the host', () => {
    for (const [url, want] of [
      ['postgres://wks:p@ss@db.example:5432/app', 'postgres://wks:****@db.example:5432/app'],
      ['postgres://wks:a/b@c/d@db:5432/app', 'postgres://wks:****@db:5432/app'],
      ['redis://:s3cr@t@cache:6379/0', 'redis://:****@cache:6379/0'],
      ['postgres://wks:plain@db/app', 'postgres://wks:****@db/app'],
    ]) {
      expect(redactText(`connecting to ${url} failed`)).toBe(`connecting to ${want} failed`);
      expect(maskUrlPassword(url!)).toBe(want);
    }
    expect(redactText('no userinfo: http://host:8080/path')).toBe('no userinfo: http://host:8080/path');
  });

  it('registered secrets are masked longest first, also when registered after text was redacted', () => {
    expect(redactText('worker-7 password=hunter22 x')).toBe('worker-7 password=**** x');
    registerSecret('abcdefgh');
    expect(redactText('key abcdefgh and abcdefghijkl')).toBe('key **** and ****ijkl');
    registerSecret('abcdefghijkl');
    expect(redactText('key abcdefgh and abcdefghijkl')).toBe('key **** and ****');
    clearSecrets();
    expect(redactText('key abcdefgh')).toBe('key abcdefgh');
  });

  it('PG_URL is secret-bearing by key: config show masks its password and it is masked in free text', () => {
    const env = { PG_URL: 'postgres://wks:Xy@z/9_long_pw@db.example:5432/app' };
    const { config } = loadConfig({ env, cwd: '/tmp' });
    expect(redactedConfig(config).database.postgresql.url).toBe('postgres://wks:****@db.example:5432/app');
    expect(redactText('driver said: bad password Xy@z/9_long_pw')).toBe('driver said: bad password ****');
  });
});

describe("masking does not rewrite wks's own words", () => {
  it('a short secret is not masked by value (it would rewrite sentences)', () => {
    registerSecret('short');
    expect(redactText('the backup encryption key is too short')).toBe('the backup encryption key is too short');
    registerSecret('a-long-enough-secret');
    expect(redactText('value a-long-enough-secret leaked')).toBe('value **** leaked');
  });

  it('a too-short encryption passphrase or bearer token is refused at validation (78), without its value', () => {
    for (const [k, v] of [
      ['BACKUP_ENCRYPTION_KEY', 'short'],
      ['METRICS_BEARER_TOKEN', 'tok'],
    ]) {
      let err: any;
      try {
        loadConfig({ env: { [k!]: v }, cwd: '/tmp' });
      } catch (e) {
        err = e;
      }
      expect(err?.exitCode, k).toBe(78);
      const text = JSON.stringify(err.issues);
      expect(text).toMatch(/shorter than 8 characters/);
      expect(err.issues[0].key).toBe(k);
      expect(text).not.toContain(`"${v}"`);
      expect(text).not.toContain('****');
    }
  });

  it('a short third-party password is accepted with a warning that it is masked by key only', () => {
    const { warnings } = loadConfig({ env: { PG_PASSWORD: 'hunter2', PG_ENABLED: 'true', PG_USER: 'x' }, cwd: '/tmp' });
    expect(warnings.join('\n')).toMatch(/PG_PASSWORD is shorter than 8 characters.*masks it by key/);
  });
});
