/**
 * Security: with encryption enabled, decisions over the catalog trust only
 * authenticated manifests. `rotate` never deletes, nor counts as kept, a
 * backup whose manifest does not authenticate (a re-dated real backup would
 * otherwise fall out of the policy), and `health` never counts a planted
 * manifest with a forged "ok" sidecar as the verified backup; nor do the
 * daemon's backup age (the backup_stale alert) and backup gauges.
 */
import { describe, it, expect, beforeEach } from 'vitest';
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { runWks } from '../helpers/cli.js';
import { tmpDir } from '../helpers/tmp.js';
import { eventually, startServe } from '../helpers/serve.js';

let dir: string;
let backups: string;
let env: Record<string, string>;
let cfg: string[];

const manifestPath = (id: string) => path.join(backups, `${id}.json`);
const manifestOf = (id: string) => JSON.parse(readFileSync(manifestPath(id), 'utf8'));
const create = async (): Promise<string> => {
  const r = await runWks([...cfg, 'backup', 'create', '--json'], { env });
  expect(r.code, r.stderr).toBe(0);
  return r.json().backup.id;
};

/** The attacker copies backup `real` under a new id dated in the future, with a sidecar saying it verified. */
function plantFutureCopy(real: string): string {
  const m = manifestOf(real);
  const fake = '20991231T000000Z-beef';
  const file = m.file.replace(real, fake);
  copyFileSync(path.join(backups, m.file), path.join(backups, file));
  const at = '2099-12-31T00:00:00.000Z';
  writeFileSync(manifestPath(fake), JSON.stringify({ ...m, id: fake, file, created_at: at, completed_at: at }));
  const sidecar = JSON.parse(readFileSync(path.join(backups, `${real}.verify.json`), 'utf8'));
  writeFileSync(path.join(backups, `${fake}.verify.json`), JSON.stringify({ ...sidecar, id: fake }));
  return fake;
}

beforeEach(async () => {
  dir = tmpDir('e2e-sec-catalog');
  backups = path.join(dir, 'backups');
  env = {
    DATABASE_PATH: path.join(dir, 'w.db'),
    BACKUP_STORAGE_PATH: backups,
    BACKUP_ENCRYPTION_KEY: randomBytes(32).toString('hex'),
  };
  const file = path.join(dir, 'phase4-config.yml');
  writeFileSync(
    file,
    [
      'phase4:',
      '  database:',
      '    backup:',
      '      retention_days: 7',
      '      keep_last: 1',
      '      encryption:',
      '        enabled: true',
      '  health:',
      '    backup_rpo: 1s',
      '',
    ].join('\n'),
  );
  cfg = ['-c', file];
  const m = await runWks([...cfg, 'migrate', 'up', '--no-backup'], { env });
  expect(m.code, m.stderr).toBe(0);
});

describe('with encryption enabled, catalog decisions trust only authenticated manifests', () => {
  it('rotate does not delete a real backup whose manifest was re-dated out of the policy; it lists it as broken', async () => {
    const old = await create();
    const newest = await create();
    const m = manifestOf(old);
    m.created_at = '2020-01-01T00:00:00.000Z';
    writeFileSync(manifestPath(old), JSON.stringify(m));
    for (const dry of [true, false]) {
      const r = await runWks([...cfg, 'backup', 'rotate', '--yes', '--json', ...(dry ? ['--dry-run'] : [])], { env });
      expect(r.code, r.stderr).toBe(0);
      const d = r.json();
      expect(d.deleted).toEqual([]);
      expect(d.kept.map((k: { id: string }) => k.id)).toEqual([newest]);
      expect(d.broken).toEqual([
        expect.objectContaining({ id: old, problem: expect.stringMatching(/^manifest not authenticated: .*edited/) }),
      ]);
    }
    expect(existsSync(manifestPath(old))).toBe(true);
    expect(existsSync(path.join(backups, m.file))).toBe(true);
  });

  it('health does not count a planted, future-dated manifest with a forged ok sidecar as the verified backup', async () => {
    const real = await create();
    const v = await runWks([...cfg, 'backup', 'verify', real], { env });
    expect(v.code, v.stderr).toBe(0);
    const fake = plantFutureCopy(real);
    // The real backup is older than the 1 s RPO once a second has passed; the fake is dated in the future.
    await new Promise((r) => setTimeout(r, 1100));
    const h = await runWks([...cfg, 'health', '--check', 'backups', '--json'], { env });
    const check = h.json().checks.find((c: { name: string }) => c.name === 'backups');
    expect(check.status, JSON.stringify(check)).toBe('critical');
    expect(check.detail).toMatch(/newest verified backup is .* old \(RPO 1s\)/);
    expect(check.detail).toContain(`backup ${fake}'s manifest is not authenticated`);
    expect(check.data.newestVerifiedId).toBe(real);
  });

  it('the daemon: a planted future-dated backup does not reset the backup age (backup_stale fires) nor the backup gauges', async () => {
    const real = await create();
    expect((await runWks([...cfg, 'backup', 'verify', real], { env })).code).toBe(0);
    plantFutureCopy(real);
    const serveCfg = path.join(dir, 'serve.yml');
    writeFileSync(
      serveCfg,
      [
        'phase4:',
        '  version: "4.0.0"',
        '  database:',
        '    backup:',
        '      encryption:',
        '        enabled: true',
        '  monitoring:',
        '    alerts:',
        '      enabled: true',
        '      rules:',
        '        - { name: backup_stale, condition: "backup_age > 2s", duration: "0s" }',
        '  serve:',
        '    jobs:',
        '      backup: { enabled: false }',
        '      alerts: { enabled: true, schedule: "* * * * * *" }',
        '',
      ].join('\n'),
    );
    const s = await startServe(['-c', serveCfg], { ...env, METRICS_SCRAPE_CACHE_MS: '0' }, dir);
    try {
      const firing = /^wks_alerts_firing\{alert="backup_stale"\} 1$/m;
      const text = await eventually(
        async () => (await fetch(`${s.url}/metrics`)).text(),
        (t) => firing.test(t),
        20_000,
      );
      expect(text).toMatch(firing);
      // The gauges count the real backup only: its completion, not 2099.
      const ts = Number(/^wks_backup_last_success_timestamp_seconds\{[^}]*\} (\S+)$/m.exec(text)?.[1]);
      expect(ts).toBeGreaterThan(0);
      expect(ts).toBeLessThanOrEqual(Date.now() / 1000);
      expect(text).toMatch(/^wks_backups\{state="verified"\} 1$/m);
    } finally {
      expect((await s.stop()).code, s.stderr()).toBe(0);
    }
  });
});
