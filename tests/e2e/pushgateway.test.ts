/**
 * Cron-style runs push their outcome to Debian's real prometheus-pushgateway
 * (started on a free 127.0.0.1 port): `wks -q backup create` as cron runs it,
 * a failed verify, migrate up, PUT replacing the group, and a push to a closed
 * port that only warns.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { hostname } from 'node:os';
import { readdirSync, writeFileSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { runWks } from '../helpers/cli.js';
import { freePort } from '../helpers/net.js';
import { needBinary, startPushgateway, PUSHGATEWAY_BIN, type RunningService } from '../helpers/prometheus.js';
import { tmpDir } from '../helpers/tmp.js';

let gw: RunningService | null = null;
let dir: string;
let env: Record<string, string>;
const host = hostname();

beforeAll(async () => {
  dir = tmpDir('wks-push');
  env = { DATABASE_PATH: path.join(dir, 'w.db'), BACKUP_STORAGE_PATH: path.join(dir, 'backups') };
  expect((await runWks(['migrate', 'up', '--no-backup'], { env, cwd: dir })).code).toBe(0);
});
afterAll(async () => {
  await gw?.stop();
});

async function gateway(ctx: { skip: () => void }): Promise<RunningService | null> {
  if (!needBinary(PUSHGATEWAY_BIN, 'prometheus-pushgateway', ctx)) return null;
  gw ??= await startPushgateway();
  return gw;
}

/** The value of `name` in the group command=<command> (job="wks", instance=<host>), or null. */
function sample(text: string, name: string, command: string): number | null {
  const re = new RegExp(`^${name}\\{([^}]*)\\} (\\S+)$`, 'gm');
  for (const m of text.matchAll(re)) {
    const labels = m[1]!;
    if (
      labels.includes(`command="${command}"`) &&
      labels.includes('job="wks"') &&
      labels.includes(`instance="${host}"`)
    )
      return Number(m[2]);
  }
  return null;
}

describe('Pushgateway', () => {
  it('a cron-style `wks -q backup create` pushes its outcome, replacing the group (PUT)', async (ctx) => {
    const g = await gateway(ctx);
    if (!g) return;
    // A stale series in the same group: a PUT must remove it.
    const stale = await fetch(`${g.url}/metrics/job/wks/command/backup_create/instance/${host}`, {
      method: 'PUT',
      body: 'wks_something_old 1\n',
    });
    expect(stale.status).toBe(200);
    const t0 = Date.now() / 1000;
    const r = await runWks(['-q', 'backup', 'create', '--type', 'scheduled'], {
      env: { ...env, PROMETHEUS_PUSHGATEWAY_URL: g.url },
      cwd: dir,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    const text = await (await fetch(`${g.url}/metrics`)).text();
    const ok = sample(text, 'wks_run_last_success_timestamp_seconds', 'backup_create');
    expect(ok, text).not.toBeNull();
    expect(ok!).toBeGreaterThanOrEqual(Math.floor(t0));
    expect(sample(text, 'wks_run_last_timestamp_seconds', 'backup_create')).toBe(ok);
    expect(sample(text, 'wks_run_exit_code', 'backup_create')).toBe(0);
    expect(sample(text, 'wks_run_duration_seconds', 'backup_create')).toBeGreaterThan(0);
    const manifest = readdirSync(env.BACKUP_STORAGE_PATH!).find((f) => /\.json$/.test(f) && !/verify/.test(f))!;
    const size = JSON.parse(readFileSync(path.join(env.BACKUP_STORAGE_PATH!, manifest), 'utf8')).stored_size;
    expect(sample(text, 'wks_run_bytes', 'backup_create')).toBe(size);
    expect(sample(text, 'push_time_seconds', 'backup_create')).toBeGreaterThanOrEqual(Math.floor(t0));
    expect(text).not.toMatch(/wks_something_old/);
  });

  it('a failed verify pushes exit code 3 and keeps the last success; the exit code is unchanged', async (ctx) => {
    const g = await gateway(ctx);
    if (!g) return;
    const penv = { ...env, PROMETHEUS_PUSHGATEWAY_URL: g.url };
    const good = await runWks(['-q', 'backup', 'verify', '--latest'], { env: penv, cwd: dir });
    expect(good.code, good.stderr).toBe(0);
    let text = await (await fetch(`${g.url}/metrics`)).text();
    const lastOk = sample(text, 'wks_run_last_success_timestamp_seconds', 'backup_verify');
    expect(lastOk).not.toBeNull();
    // Corrupt the backup's data file.
    const data = readdirSync(env.BACKUP_STORAGE_PATH!).find((f) => !f.endsWith('.json') && !f.startsWith('.'))!;
    const file = path.join(env.BACKUP_STORAGE_PATH!, data);
    const buf = readFileSync(file);
    buf[Math.floor(buf.length / 2)]! ^= 0xff;
    writeFileSync(file, buf);
    await new Promise((r) => setTimeout(r, 1100)); // a later second for the failed run's timestamp
    const bad = await runWks(['-q', 'backup', 'verify', '--latest'], { env: penv, cwd: dir });
    expect(bad.code, bad.stderr).toBe(3);
    text = await (await fetch(`${g.url}/metrics`)).text();
    expect(sample(text, 'wks_run_exit_code', 'backup_verify')).toBe(3);
    expect(sample(text, 'wks_run_last_success_timestamp_seconds', 'backup_verify')).toBe(lastOk);
    expect(sample(text, 'wks_run_last_timestamp_seconds', 'backup_verify')!).toBeGreaterThan(lastOk!);
  });

  it('migrate up pushes as migrate_up', async (ctx) => {
    const g = await gateway(ctx);
    if (!g) return;
    const r = await runWks(['-q', 'migrate', 'up', '--no-backup'], {
      env: { ...env, PROMETHEUS_PUSHGATEWAY_URL: g.url },
      cwd: dir,
    });
    expect(r.code, r.stderr).toBe(0);
    const text = await (await fetch(`${g.url}/metrics`)).text();
    expect(sample(text, 'wks_run_exit_code', 'migrate_up')).toBe(0);
  });

  it('backup drill pushes as backup_drill: bytes drilled, and exit 3 for a missed RTO', async (ctx) => {
    const g = await gateway(ctx);
    if (!g) return;
    const pushEnv = { ...env, PROMETHEUS_PUSHGATEWAY_URL: g.url };
    const created = await runWks(['--json', 'backup', 'create'], { env, cwd: dir });
    expect(created.code, created.stderr).toBe(0);
    const { id, stored_size: size } = created.json().backup;
    const ok = await runWks(['-q', 'backup', 'drill', id], { env: pushEnv, cwd: dir });
    expect(ok.code, ok.stderr).toBe(0);
    let text = await (await fetch(`${g.url}/metrics`)).text();
    expect(sample(text, 'wks_run_exit_code', 'backup_drill')).toBe(0);
    expect(sample(text, 'wks_run_bytes', 'backup_drill')).toBe(size);
    const lastOk = sample(text, 'wks_run_last_success_timestamp_seconds', 'backup_drill');
    expect(lastOk).toBeGreaterThan(0);
    const slow = await runWks(['-q', 'backup', 'drill', id, '--rto-target', '1ms'], { env: pushEnv, cwd: dir });
    expect(slow.code, slow.stderr).toBe(3);
    text = await (await fetch(`${g.url}/metrics`)).text();
    expect(sample(text, 'wks_run_exit_code', 'backup_drill')).toBe(3);
    expect(sample(text, 'wks_run_last_success_timestamp_seconds', 'backup_drill')).toBe(lastOk);
  });

  it('a push to a closed port only warns: the exit code is unchanged', async () => {
    const closed = `http://127.0.0.1:${await freePort()}`;
    const r = await runWks(['-q', 'backup', 'create'], {
      env: { ...env, PROMETHEUS_PUSHGATEWAY_URL: closed },
      cwd: dir,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^warning: could not push the backup_create outcome to the Pushgateway .*ECONNREFUSED/m);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    const v = await runWks(['backup', 'verify', 'nope-no-such-id'], {
      env: { ...env, PROMETHEUS_PUSHGATEWAY_URL: closed },
      cwd: dir,
    });
    expect(v.code, v.stderr).toBe(5);
    expect(v.stderr).toMatch(/could not push the backup_verify outcome/);
  });
});
