/**
 * Security of what wks reads and starts on the local host: the key file's
 * owner and mode, and the environment child processes get.
 */
import { describe, it, expect, beforeAll } from 'vitest';
import { chmodSync, chownSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { runWks } from '../helpers/cli.js';
import { tmpDir } from '../helpers/tmp.js';

let dir: string;
let env: Record<string, string>;
beforeAll(async () => {
  dir = tmpDir('e2e-sec-local');
  env = { DATABASE_PATH: path.join(dir, 'w.db'), BACKUP_STORAGE_PATH: path.join(dir, 'backups') };
  const m = await runWks(['migrate', 'up', '--no-backup'], { env });
  expect(m.code, m.stderr).toBe(0);
});

describe('the backup key file', () => {
  const keyFile = (mode: number): string => {
    const f = path.join(tmpDir('e2e-sec-key'), 'backup.key');
    writeFileSync(f, randomBytes(32).toString('hex'));
    chmodSync(f, mode);
    return f;
  };

  it('is refused (78) when group or others can write it', async () => {
    for (const mode of [0o620, 0o602, 0o666]) {
      const r = await runWks(['backup', 'create', '--encrypt'], {
        env: { ...env, BACKUP_ENCRYPTION_KEY_FILE: keyFile(mode) },
      });
      expect(r.code, r.stderr).toBe(78);
      expect(r.stderr).toMatch(/is writable by (others|its group)/);
      expect(r.stderr).toMatch(/Try: chmod 600/);
    }
  });

  it.runIf(process.getuid?.() === 0)('is refused (78) when owned by another user (not root)', async () => {
    const f = keyFile(0o600);
    chownSync(f, 65534, 65534);
    const r = await runWks(['backup', 'create', '--encrypt'], { env: { ...env, BACKUP_ENCRYPTION_KEY_FILE: f } });
    expect(r.code, r.stderr).toBe(78);
    expect(r.stderr).toMatch(/owned by uid 65534/);
  });

  it('is used with a warning when group or others can read it; silently when 0600', async () => {
    const loose = await runWks(['backup', 'create', '--encrypt'], {
      env: { ...env, BACKUP_ENCRYPTION_KEY_FILE: keyFile(0o644) },
    });
    expect(loose.code, loose.stderr).toBe(0);
    expect(loose.stderr).toMatch(/readable by its group or others \(mode 644\)/);
    const tight = await runWks(['backup', 'create', '--encrypt'], {
      env: { ...env, BACKUP_ENCRYPTION_KEY_FILE: keyFile(0o600) },
    });
    expect(tight.code, tight.stderr).toBe(0);
    expect(tight.stderr).not.toMatch(/readable by/);
  });
});

describe('child processes', () => {
  it('zstd gets a minimal environment: no encryption key, no database password, no cloud keys', async () => {
    const d = tmpDir('e2e-sec-zstd');
    const dump = path.join(d, 'env.txt');
    const fake = path.join(d, 'zstd');
    // A zstd that records its environment, then does the real work.
    writeFileSync(fake, `#!/bin/sh\nenv > '${dump}'\nexec zstd "$@"\n`, { mode: 0o755 });
    const key = randomBytes(32).toString('hex');
    const r = await runWks(['backup', 'create', '--compress', 'zstd', '--encrypt'], {
      env: {
        ...env,
        WKS_ZSTD_PATH: fake,
        BACKUP_ENCRYPTION_KEY: key,
        PG_PASSWORD: 'pg-secret-for-zstd-test',
        AWS_SECRET_ACCESS_KEY: 'aws-secret-for-zstd-test',
      },
    });
    expect(r.code, r.stderr).toBe(0);
    const seen = readFileSync(dump, 'utf8');
    expect(seen).toMatch(/^PATH=/m);
    expect(seen).not.toContain(key);
    expect(seen).not.toContain('pg-secret-for-zstd-test');
    expect(seen).not.toContain('aws-secret-for-zstd-test');
    expect(seen).not.toMatch(/^(BACKUP_|PG_|AWS_|WKS_)/m);
  });
});
