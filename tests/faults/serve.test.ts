/**
 * wks serve under faults: a missing database, Redis unreachable, a backup job
 * that keeps failing. The daemon must keep serving probes and metrics, report
 * what is wrong, recover when the dependency returns, and never crash.
 */
import { describe, it, expect } from 'vitest';
import { spawn } from 'node:child_process';
import { writeFileSync, existsSync, renameSync, rmSync } from 'node:fs';
import Database from 'better-sqlite3';
import path from 'node:path';
import { runWks, baseEnv, WKS_BIN } from '../helpers/cli.js';
import { freePort } from '../helpers/net.js';
import { tmpDir } from '../helpers/tmp.js';

async function serve(args: string[], env: Record<string, string>, cwd: string) {
  const port = await freePort();
  const child = spawn(process.execPath, [WKS_BIN, ...args, 'serve', '--port', String(port)], {
    cwd,
    env: baseEnv({ METRICS_SCRAPE_CACHE_MS: '0', ...env }),
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (d) => (err += d));
  const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  const t0 = Date.now();
  while (!/serving http:\/\//.test(err)) {
    if (child.exitCode !== null || Date.now() - t0 > 15_000) throw new Error(`did not start:\n${err}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    child.kill('SIGTERM');
    return exited;
  };
  return { url, stop, stderr: () => err, startedIn: Date.now() - t0 };
}

async function eventually<T>(fn: () => Promise<T>, ok: (v: T) => boolean, ms: number): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await fn();
    if (ok(v)) return v;
    if (Date.now() - t0 > ms) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('wks serve under faults', () => {
  it('a missing database: alive, not ready, wks_up 0, the file is not created; ready once it exists', async () => {
    const dir = tmpDir('wks-fault-db');
    const env = { DATABASE_PATH: path.join(dir, 'w.db'), BACKUP_STORAGE_PATH: path.join(dir, 'b') };
    const s = await serve([], env, dir);
    try {
      expect((await fetch(`${s.url}/health`)).status).toBe(200);
      const r = await fetch(`${s.url}/ready`);
      expect(r.status).toBe(503);
      const doc = (await r.json()) as any;
      expect(doc.checks.find((c: any) => c.name === 'database').status).toBe('critical');
      const m = await (await fetch(`${s.url}/metrics`)).text();
      expect(m).toMatch(/^wks_up\{dependency="database"\} 0$/m);
      expect(m).toMatch(/^wks_scrape_errors_total\{collector="database"\} [1-9]/m);
      expect(existsSync(env.DATABASE_PATH)).toBe(false);
      // The operator creates it: readiness follows without a restart.
      expect((await runWks(['migrate', 'up'], { env, cwd: dir })).code).toBe(0);
      const after = await eventually(
        () => fetch(`${s.url}/ready`).then((x) => x.status),
        (st) => st === 200,
        5000,
      );
      expect(after).toBe(200);
      expect(await (await fetch(`${s.url}/metrics`)).text()).toMatch(/^wks_up\{dependency="database"\} 1$/m);
    } finally {
      expect(await s.stop()).toBe(0);
    }
  });

  it('Redis unreachable: starts quickly, still leads (the lease lives with the database), reports redis down, exits 0', async () => {
    const dir = tmpDir('wks-fault-redis');
    const env = {
      DATABASE_PATH: path.join(dir, 'w.db'),
      BACKUP_STORAGE_PATH: path.join(dir, 'b'),
      REDIS_ENABLED: 'true',
      REDIS_HOST: '127.0.0.1',
      REDIS_PORT: String(await freePort()),
      REDIS_CONNECT_TIMEOUT_MS: '300',
    };
    expect((await runWks(['migrate', 'up'], { env: { DATABASE_PATH: env.DATABASE_PATH }, cwd: dir })).code).toBe(0);
    const s = await serve([], env, dir);
    try {
      expect(s.startedIn).toBeLessThan(4000);
      const m = await (await fetch(`${s.url}/metrics`)).text();
      expect(m).toMatch(/^wks_up\{dependency="redis"\} 0$/m);
      expect(m).toMatch(/^wks_up\{dependency="database"\} 1$/m);
      // The lease lives with the database (docs/serve.md), so Redis being down does not stop the jobs.
      expect(m).toMatch(/^wks_leader\{wks_instance="[^"]+",mechanism="file"\} 1$/m);
      const r = await fetch(`${s.url}/ready`);
      expect(r.status).toBe(503);
      expect(((await r.json()) as any).leader).toMatchObject({ leader: true, role: 'leader' });
    } finally {
      expect(await s.stop()).toBe(0);
    }
  });

  it('a backup job that fails every time is counted, alerts, and never stops the daemon', async () => {
    const dir = tmpDir('wks-fault-backup');
    const blocker = path.join(dir, 'not-a-dir');
    writeFileSync(blocker, 'x'); // the backup directory path is a file: every backup fails
    const env = { DATABASE_PATH: path.join(dir, 'w.db'), BACKUP_STORAGE_PATH: path.join(blocker, 'backups') };
    expect((await runWks(['migrate', 'up'], { env, cwd: dir })).code).toBe(0);
    const cfg = path.join(dir, 'c.yml');
    writeFileSync(
      cfg,
      // The built-in backup_failed rule holds for 1m (as the Prometheus rule does); a configured rule of the same name replaces it.
      'phase4:\n  version: "4.0.0"\n  monitoring:\n    alerts:\n      enabled: true\n      rules:\n        - { name: backup_failed, condition: "backup_failed > 0", duration: "1s" }\n  database:\n    backup:\n      schedule: "* * * * * *"\n  serve:\n    jobs:\n      backup: { enabled: true }\n      alerts: { enabled: true, schedule: "* * * * * *" }\n',
    );
    const s = await serve(['-c', cfg], env, dir);
    try {
      const m = await eventually(
        () => fetch(`${s.url}/metrics`).then((x) => x.text()),
        (t) =>
          /^wks_job_runs_total\{job_name="backup",result="failure"\} [2-9]/m.test(t) &&
          /^wks_alerts_firing\{alert="backup_failed"\} 1$/m.test(t),
        8000,
      );
      expect(m).toMatch(/^wks_job_runs_total\{job_name="backup",result="failure"\} [2-9]/m);
      expect(m).toMatch(/^wks_backup_failures_total [2-9]/m);
      expect(m).toMatch(/^wks_backup_last_failure_timestamp_seconds \d/m);
      expect(m).toMatch(/^wks_alerts_firing\{alert="backup_failed"\} 1$/m);
      expect(s.stderr()).toMatch(/ERROR:? job backup failed: /);
      expect((await fetch(`${s.url}/health`)).status).toBe(200);
    } finally {
      expect(await s.stop()).toBe(0);
    }
  });

  it('a SQLite file replaced under it (a forced restore) is reopened, not read stale', async () => {
    const dir = tmpDir('wks-fault-replace');
    const env = { DATABASE_PATH: path.join(dir, 'w.db'), BACKUP_STORAGE_PATH: path.join(dir, 'b') };
    const other = path.join(dir, 'other.db');
    expect((await runWks(['migrate', 'up'], { env, cwd: dir })).code).toBe(0);
    expect((await runWks(['migrate', 'up'], { env: { ...env, DATABASE_PATH: other }, cwd: dir })).code).toBe(0);
    const db = new Database(other);
    db.exec(
      `INSERT INTO workflows (name, status) VALUES ('w', 'active'); INSERT INTO workflow_executions (workflow_id, status, started_at) VALUES (1, 'running', '2026-01-01 00:00:00'), (1, 'pending', NULL)`,
    );
    db.pragma('wal_checkpoint(TRUNCATE)');
    db.close();
    const first = new Database(env.DATABASE_PATH);
    first.exec(
      `INSERT INTO workflows (name, status) VALUES ('a', 'active'); INSERT INTO workflow_executions (workflow_id, status, started_at, completed_at) VALUES (1, 'completed', '2026-01-01 00:00:00', '2026-01-01 00:00:05')`,
    );
    first.close();
    let db2: Database.Database | null = null;
    const s = await serve([], env, dir);
    try {
      const before = await (await fetch(`${s.url}/metrics`)).text();
      expect(before).toMatch(/^active_workflows 0$/m);
      expect(before).toMatch(/^workflow_executions_total\{workflow_name="a",status="completed"\} 1$/m);
      renameSync(other, env.DATABASE_PATH);
      for (const x of ['-wal', '-shm']) rmSync(`${env.DATABASE_PATH}${x}`, { force: true });
      db2 = new Database(env.DATABASE_PATH);
      const m = await (await fetch(`${s.url}/metrics`)).text();
      expect(m).toMatch(/^active_workflows 2$/m);
      expect(m).not.toMatch(/^workflow_executions_total\{/m); // counters restart with the new file
      db2.exec(
        `UPDATE workflow_executions SET status = 'completed', completed_at = '2026-01-01 00:01:00' WHERE status = 'running'`,
      );
      expect(await (await fetch(`${s.url}/metrics`)).text()).toMatch(
        /^workflow_executions_total\{workflow_name="w",status="completed"\} 1$/m,
      );
      expect(s.stderr()).toMatch(/was replaced \(restore\?\); reopening it/);
    } finally {
      db2?.close();
      expect(await s.stop()).toBe(0);
    }
  });
});
