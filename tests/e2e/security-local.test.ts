/**
 * Security of what wks reads and starts on the local host: the key file's
 * owner and mode, and the environment child processes get.
 */
import { describe, it, expect, beforeAll } from 'vitest';
import {
  chmodSync,
  chownSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createHash } from 'node:crypto';
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

describe('links and owners around the repository and restore targets', () => {
  const sha = (f: string): string => createHash('sha256').update(readFileSync(f)).digest('hex');

  it('restore --to a symbolic link is refused (2), even with --force; the file it points at is untouched', async () => {
    const c = await runWks(['backup', 'create'], { env });
    expect(c.code, c.stderr).toBe(0);
    const d = tmpDir('e2e-sec-link');
    const victim = path.join(d, 'precious.db');
    writeFileSync(victim, 'not yours to overwrite');
    const link = path.join(d, 'drill.db');
    symlinkSync(victim, link);
    const before = sha(victim);
    const r = await runWks(['-y', 'backup', 'restore', '--latest', '--to', link, '--force'], { env });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/is a symbolic link/);
    expect(sha(victim)).toBe(before);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
  });

  it('a symlinked backup directory is refused (78) and the directory it points at is not chmod-ed', async () => {
    const d = tmpDir('e2e-sec-dirlink');
    const real = path.join(d, 'real');
    mkdirSync(real, { mode: 0o755 });
    chmodSync(real, 0o755);
    const link = path.join(d, 'backups');
    symlinkSync(real, link);
    const r = await runWks(['backup', 'create'], { env: { ...env, BACKUP_STORAGE_PATH: link } });
    expect(r.code, r.stderr).toBe(78);
    expect(r.stderr).toMatch(/backup directory .* is a symbolic link/);
    expect(statSync(real).mode & 0o777).toBe(0o755);
  });

  it.runIf(process.getuid?.() === 0)(
    'a backup directory owned by another user is refused (78) unless allow_foreign_owner is set',
    async () => {
      const d = tmpDir('e2e-sec-owner');
      const dir = path.join(d, 'backups');
      mkdirSync(dir, { mode: 0o700 });
      chownSync(dir, 65534, 65534);
      const r = await runWks(['backup', 'create'], { env: { ...env, BACKUP_STORAGE_PATH: dir } });
      expect(r.code, r.stderr).toBe(78);
      expect(r.stderr).toMatch(/owned by uid 65534/);
      const cfg = path.join(d, 'phase4-config.yml');
      writeFileSync(cfg, 'phase4:\n  database:\n    backup:\n      allow_foreign_owner: true\n');
      const ok = await runWks(['-c', cfg, 'backup', 'create'], { env: { ...env, BACKUP_STORAGE_PATH: dir } });
      expect(ok.code, ok.stderr).toBe(0);
    },
  );
});
