/**
 * Health checks against real stores: SQLite files in a temp dir, the local
 * PostgreSQL and Redis (each with its own database / namespace).
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import {
  chmodSync,
  writeFileSync,
  mkdirSync,
  openSync,
  writeSync,
  closeSync,
  statSync,
  truncateSync,
  rmSync,
} from 'node:fs';
import { execFileSync } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import Database from 'better-sqlite3';
import { DEFAULTS } from '../../src/config/defaults.js';
import type { Config } from '../../src/config/schema.js';
import { runHealthChecks, runReadinessChecks } from '../../src/health/index.js';
import { migrateUp } from '../../src/migrate/index.js';
import { createBackup, verifyBackup } from '../../src/backup/index.js';
import { openDatabase } from '../../src/db/index.js';
import { tmpDir } from '../helpers/tmp.js';
import { createTestDatabase, createTestRedis, type TestDatabase, type TestRedis } from '../helpers/services.js';

const NOW = new Date('2026-03-01T12:00:00Z');
const sqliteTime = (d: Date) => d.toISOString().slice(0, 19).replace('T', ' ');
const minutesAgo = (m: number) => sqliteTime(new Date(NOW.getTime() - m * 60_000));

function sqliteConfig(dir = tmpDir('health-int')): Config {
  const c = structuredClone(DEFAULTS);
  c.database.path = path.join(dir, 'workstation.db');
  c.database.backup.storage_path = path.join(dir, 'backups');
  c.health.min_free_bytes = 0;
  return c;
}

const byName = (r: Awaited<ReturnType<typeof runHealthChecks>>, name: string) => r.checks.find((c) => c.name === name)!;

describe('health on SQLite', () => {
  it('a missing database file is critical for `database`, and dependants are skipped (unknown), not failed', async () => {
    const r = await runHealthChecks(sqliteConfig(), { checks: ['database', 'migrations', 'workflows'], now: NOW });
    expect(byName(r, 'database')).toMatchObject({ status: 'critical' });
    expect(byName(r, 'database').detail).toMatch(/not found/);
    expect(byName(r, 'database').hint).toMatch(/migrate up/);
    expect(byName(r, 'migrations').status).toBe('unknown');
    expect(byName(r, 'migrations').detail).toMatch(/^skipped: database unavailable/);
    expect(r.exitCode).toBe(2);
  });

  it('a freshly migrated database is ok for database, migrations, workflows and agents', async () => {
    const config = sqliteConfig();
    await migrateUp(config);
    const r = await runHealthChecks(config, {
      checks: ['config', 'database', 'migrations', 'workflows', 'agents'],
      now: NOW,
    });
    for (const c of r.checks) expect(c, `${c.name}: ${c.detail}`).toMatchObject({ status: 'ok' });
    expect(byName(r, 'database').detail).toMatch(/^header, schema and table roots ok \(.*, \d+ tables\)/);
    expect(byName(r, 'migrations').detail).toMatch(/^up to date at 0005/);
    expect(r).toMatchObject({ status: 'ok', ok: true, exitCode: 0 });
    const deep = await runHealthChecks(config, { checks: ['database'], deep: true, now: NOW });
    expect(deep.checks[0]!.detail).toMatch(/^integrity_check ok/);
  });

  it('an unmigrated database: migrations pending (warn), data checks say the schema is missing (warn)', async () => {
    const config = sqliteConfig();
    new Database(config.database.path).close();
    const r = await runHealthChecks(config, { checks: ['database', 'migrations', 'workflows', 'agents'], now: NOW });
    expect(byName(r, 'database').status).toBe('ok');
    expect(byName(r, 'migrations')).toMatchObject({ status: 'warn', hint: expect.stringMatching(/migrate up/) });
    expect(byName(r, 'migrations').detail).toMatch(/5 pending migrations/);
    expect(byName(r, 'workflows').detail).toMatch(/table workflow_executions does not exist/);
    expect(byName(r, 'agents').status).toBe('warn');
    expect(r.exitCode).toBe(1);
  });

  it('pending user migration is warn; an applied migration edited afterwards is critical (drift)', async () => {
    const dir = tmpDir('health-int');
    const config = sqliteConfig(dir);
    const mdir = path.join(dir, 'migrations');
    mkdirSync(mdir);
    config.database.migrations.directory = mdir;
    const file = path.join(mdir, '20260101000000_add_notes.sql');
    writeFileSync(
      file,
      '-- migrate:up\nCREATE TABLE notes (id INTEGER PRIMARY KEY);\n-- migrate:down\nDROP TABLE notes;\n',
    );
    await migrateUp(config);
    writeFileSync(
      path.join(mdir, '20260102000000_more.sql'),
      '-- migrate:up\nCREATE TABLE more (id INTEGER PRIMARY KEY);\n-- migrate:down\nDROP TABLE more;\n',
    );
    let r = await runHealthChecks(config, { checks: ['migrations'], now: NOW });
    expect(r.checks[0]).toMatchObject({ status: 'warn' });
    expect(r.checks[0]!.detail).toMatch(/1 pending migration: 20260102000000_more/);
    writeFileSync(
      file,
      '-- migrate:up\nCREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);\n-- migrate:down\nDROP TABLE notes;\n',
    );
    r = await runHealthChecks(config, { checks: ['migrations'], now: NOW });
    expect(r.checks[0]).toMatchObject({ status: 'critical' });
    expect(r.checks[0]!.detail).toMatch(/checksum drift.*20260101000000_add_notes/);
    expect(r.exitCode).toBe(2);
  });

  it('a corrupted page in the middle of the file makes --deep (integrity_check) critical', async () => {
    const config = sqliteConfig();
    const db = new Database(config.database.path);
    db.pragma('journal_mode = DELETE');
    db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); CREATE INDEX t_v ON t(v);');
    const ins = db.prepare('INSERT INTO t (v) VALUES (?)');
    db.transaction(() => {
      for (let i = 0; i < 3000; i++) ins.run(`value-${i}-${'x'.repeat(50)}`);
    })();
    db.close();
    const size = statSync(config.database.path).size;
    const fd = openSync(config.database.path, 'r+');
    // Scribble over a page in the middle (index/table b-tree pages), leaving the header intact.
    writeSync(fd, Buffer.alloc(4096, 0x5a), 0, 4096, Math.floor(size / 4096 / 2) * 4096);
    closeSync(fd);
    const r = await runHealthChecks(config, { checks: ['database'], deep: true, now: NOW });
    expect(r.checks[0]!.status).toBe('critical');
    expect(r.checks[0]!.hint).toMatch(/restore/);
  });

  it('workflows: an execution running past WORKFLOW_TIMEOUT_MS and the concurrency limit are warn', async () => {
    const config = sqliteConfig();
    await migrateUp(config);
    const db = new Database(config.database.path);
    db.exec("INSERT INTO workflows (id, name, status) VALUES (1, 'etl', 'active')");
    const ins = db.prepare('INSERT INTO workflow_executions (id, workflow_id, status, started_at) VALUES (?, 1, ?, ?)');
    ins.run(10, 'running', minutesAgo(2));
    ins.run(11, 'completed', minutesAgo(60));
    ins.run(12, 'pending', null);
    db.close();
    let r = await runHealthChecks(config, { checks: ['workflows'], now: NOW });
    expect(r.checks[0]).toMatchObject({ status: 'ok', detail: '2 active (1 running, 1 pending) of max 50' });

    const db2 = new Database(config.database.path);
    db2
      .prepare('INSERT INTO workflow_executions (id, workflow_id, status, started_at) VALUES (?, 1, ?, ?)')
      .run(13, 'running', minutesAgo(7));
    db2.close();
    config.execution.concurrency.max_concurrent = 3;
    r = await runHealthChecks(config, { checks: ['workflows'], now: NOW });
    expect(r.checks[0]!.status).toBe('warn');
    expect(r.checks[0]!.detail).toMatch(/1 execution running longer than 5m \(13\)/);
    expect(r.checks[0]!.detail).toMatch(/3 active executions at or above MAX_CONCURRENT_WORKFLOWS \(3\)/);
    expect(r.checks[0]!.data).toMatchObject({ overdue: ['13'], active: 3 });
  });

  it('agents: unhealthy and stale agents are warn; inactive agents are ignored', async () => {
    const config = sqliteConfig();
    await migrateUp(config);
    const db = new Database(config.database.path);
    db.exec(
      `INSERT INTO agents (id, name, type, status) VALUES (1, 'alpha', 'x', 'active'), (2, 'beta', 'x', 'active'), (3, 'gamma', 'x', 'inactive')`,
    );
    const ins = db.prepare('INSERT INTO agent_health_checks (agent_id, check_time, status) VALUES (?, ?, ?)');
    ins.run(1, minutesAgo(30), 'unhealthy');
    ins.run(1, minutesAgo(1), 'healthy');
    ins.run(2, minutesAgo(3), 'healthy');
    db.close();
    let r = await runHealthChecks(config, { checks: ['agents'], now: NOW });
    expect(r.checks[0]).toMatchObject({ status: 'ok', detail: '2/2 agents healthy' });

    const db2 = new Database(config.database.path);
    db2
      .prepare('INSERT INTO agent_health_checks (agent_id, check_time, status) VALUES (?, ?, ?)')
      .run(2, minutesAgo(0), 'degraded');
    db2.prepare("INSERT INTO agents (id, name, type, status) VALUES (4, 'delta', 'x', 'active')").run();
    db2.close();
    r = await runHealthChecks(config, { checks: ['agents'], now: NOW });
    expect(r.checks[0]!.status).toBe('warn');
    expect(r.checks[0]!.detail).toMatch(/1 agent unhealthy: beta \(degraded\)/);
    expect(r.checks[0]!.detail).toMatch(/1 agent stale .*delta \(never checked\)/);
    // Stale by time: alpha's last check is 1 minute old; 30 s staleness makes it stale.
    config.health.agent_stale_after = '30s';
    r = await runHealthChecks(config, { checks: ['agents'], now: NOW });
    expect(r.checks[0]!.detail).toMatch(/alpha \(1m ago\)/);
  });

  it('the default check finds a truncated file (the header names pages the file does not have)', async () => {
    const config = sqliteConfig();
    await migrateUp(config);
    const db = new Database(config.database.path);
    db.pragma('journal_mode = DELETE');
    db.exec('CREATE TABLE filler (v TEXT)');
    db.prepare('INSERT INTO filler VALUES (?)').run('x'.repeat(200_000));
    db.close();
    truncateSync(config.database.path, statSync(config.database.path).size - 8192);
    const r = await runHealthChecks(config, { checks: ['database'], now: NOW });
    expect(r.checks[0]).toMatchObject({ status: 'critical', hint: expect.stringMatching(/restore/) });
    expect(r.checks[0]!.detail).toMatch(/malformed/);
  });

  it('a SQLite file locked by a writer cannot hold the check past its budget', async () => {
    const config = sqliteConfig();
    await migrateUp(config);
    const writer = new Database(config.database.path);
    writer.pragma('journal_mode = DELETE');
    writer.exec('BEGIN EXCLUSIVE');
    try {
      const t0 = Date.now();
      const r = await runHealthChecks(config, { checks: ['database'], timeoutMs: 1500, checkTimeoutMs: 500, now: NOW });
      expect(Date.now() - t0).toBeLessThan(1500);
      expect(r.checks[0]!.status).not.toBe('ok');
    } finally {
      writer.exec('ROLLBACK');
      writer.close();
    }
  });
});

describe('health on a SQLite file too large to check in time', () => {
  // ~90 MB with two secondary indexes: integrity_check needs seconds here (and well over the 300 ms budget on a quiet machine).
  const dir = tmpDir('health-big');
  const config = sqliteConfig(dir);
  beforeAll(() => {
    const db = new Database(config.database.path);
    db.pragma('journal_mode = OFF'); // a fixture: built as fast as SQLite can, then switched to WAL like a live database
    db.pragma('synchronous = OFF');
    db.exec(
      'CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT, b INTEGER); CREATE INDEX t_a ON t(a); CREATE INDEX t_b ON t(b, a);',
    );
    db.exec(
      'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 600000) INSERT INTO t (a, b) SELECT hex(randomblob(16)), random() FROM c',
    );
    db.pragma('journal_mode = WAL');
    db.close();
  }, 180_000);

  const childAlive = () => {
    try {
      return execFileSync('pgrep', ['-f', config.database.path], { encoding: 'utf8' }).trim() !== '';
    } catch {
      return false; // pgrep exits 1 when nothing matches
    }
  };

  it('--deep returns `unknown: timed out` within its timeout + 0.5 s, and the integrity_check process is gone', async () => {
    const t0 = Date.now();
    const r = await runHealthChecks(config, {
      checks: ['database'],
      deep: true,
      timeoutMs: 2000,
      checkTimeoutMs: 300,
      now: NOW,
    });
    const wall = Date.now() - t0;
    expect(r.checks[0]).toMatchObject({ status: 'unknown', detail: 'timed out after 300 ms' });
    expect(r.checks[0]!.durationMs).toBeLessThan(300 + 500);
    expect(wall).toBeLessThan(300 + 500);
    expect(r.exitCode).toBe(2);
    // SIGKILL was sent when the time was up; the kernel needs a moment to take the process down.
    const until = Date.now() + 3000;
    while (childAlive() && Date.now() < until) await new Promise((res) => setTimeout(res, 50));
    expect(childAlive()).toBe(false);
  });

  it('the event loop stays free while --deep runs: a timer set beside it fires on time', async () => {
    const lags: number[] = [];
    let last = Date.now();
    const tick = setInterval(() => {
      const now = Date.now();
      lags.push(now - last);
      last = now;
    }, 20);
    try {
      await runHealthChecks(config, {
        checks: ['database'],
        deep: true,
        timeoutMs: 3000,
        checkTimeoutMs: 800,
        now: NOW,
      });
    } finally {
      clearInterval(tick);
    }
    expect(lags.length).toBeGreaterThan(10);
    expect(Math.max(...lags)).toBeLessThan(400);
  });

  it('the default check answers without reading the whole file', async () => {
    const r = await runHealthChecks(config, { checks: ['database'], timeoutMs: 3000, checkTimeoutMs: 2000, now: NOW });
    expect(r.checks[0]!.status, r.checks[0]!.detail).toBe('ok');
    expect(r.checks[0]!.data).toMatchObject({ check: 'header, schema and table roots', tables: 1 });
    expect(r.checks[0]!.data!.sizeBytes as number).toBeGreaterThan(50_000_000);
  });
});

describe('config check', () => {
  it('ok for a usable config; warn for loader warnings; critical for an unusable backup path or key file', async () => {
    const dir = tmpDir('health-int');
    const config = sqliteConfig(dir);
    let r = await runHealthChecks(config, { checks: ['config'], now: NOW, configFile: null });
    expect(r.checks[0]).toMatchObject({ status: 'ok', detail: 'valid (defaults and environment); backup RPO 1h' });

    r = await runHealthChecks(config, {
      checks: ['config'],
      now: NOW,
      configWarnings: ['environment variable REDIS_PROT is not used by wks (did you mean REDIS_PORT?)'],
    });
    expect(r.checks[0]).toMatchObject({ status: 'warn' });
    expect(r.checks[0]!.detail).toMatch(/REDIS_PROT/);

    writeFileSync(path.join(dir, 'not-a-dir'), 'x');
    config.database.backup.storage_path = path.join(dir, 'not-a-dir');
    config.database.backup.encryption.enabled = true;
    config.database.backup.encryption.key_file = path.join(dir, 'missing.key');
    r = await runHealthChecks(config, { checks: ['config'], now: NOW });
    expect(r.checks[0]!.status).toBe('critical');
    expect(r.checks[0]!.detail).toMatch(/cannot read the backup key file .*missing\.key: ENOENT/);
    expect(r.checks[0]!.detail).toMatch(/backup path .*not-a-dir is not a directory/);
    expect(r.exitCode).toBe(2);
    // A key file others can write is as unusable as a missing one (whoever replaces it chooses the key).
    writeFileSync(path.join(dir, 'loose.key'), 'a passphrase long enough', { mode: 0o666 });
    chmodSync(path.join(dir, 'loose.key'), 0o666);
    config.database.backup.encryption.key_file = path.join(dir, 'loose.key');
    r = await runHealthChecks(config, { checks: ['config'], now: NOW });
    expect(r.checks[0]!.detail).toMatch(/loose\.key is writable by others/);
  });
});

describe('backups check', () => {
  const HOUR = 3_600_000;
  const at = (base: Date, ms: number) => new Date(base.getTime() + ms);

  it('grades the catalog against the RPO: none -> critical, unverified -> critical, verified -> ok, stale -> critical', async () => {
    const config = sqliteConfig();
    await migrateUp(config);
    const check = async (now: Date) => (await runHealthChecks(config, { checks: ['backups'], now })).checks[0]!;
    let c = await check(NOW);
    expect(c).toMatchObject({ status: 'critical', hint: expect.stringMatching(/wks backup create/) });
    expect(c.detail).toMatch(/^no backups in /);

    const first = await createBackup(config, { now: NOW });
    c = await check(at(NOW, 60_000));
    expect(c.status).toBe('critical');
    expect(c.detail).toMatch(/no verified backup \(1 backup, none verified ok\)/);

    await verifyBackup(config, first.manifest.id, { now: at(NOW, 60_000) });
    c = await check(at(NOW, 30 * 60_000));
    expect(c).toMatchObject({
      status: 'ok',
      data: { newestVerifiedId: first.manifest.id, newestVerifiedAgeMs: 30 * 60_000, rpoMs: HOUR },
    });
    expect(c.detail).toMatch(/^newest verified backup 30m old \(RPO 1h\); 1 in catalog; /);

    c = await check(at(NOW, 2 * HOUR));
    expect(c.status).toBe('critical');
    expect(c.detail).toMatch(/newest verified backup is 2h old \(RPO 1h\)/);
    config.health.backup_rpo = '25h';
    expect((await check(at(NOW, 2 * HOUR))).status).toBe('ok');
  });

  it('a newer backup that was never verified, or failed verification, is warn while an older verified one is within the RPO', async () => {
    const config = sqliteConfig();
    await migrateUp(config);
    const first = await createBackup(config, { now: NOW, compression: 'none' });
    await verifyBackup(config, first.manifest.id, { now: NOW });
    const second = await createBackup(config, { now: at(NOW, 10 * 60_000), compression: 'none' });
    let c = (await runHealthChecks(config, { checks: ['backups'], now: at(NOW, 20 * 60_000) })).checks[0]!;
    expect(c).toMatchObject({ status: 'warn', hint: 'run `wks backup verify --latest`' });
    expect(c.detail).toBe(`newest backup ${second.manifest.id} was never verified`);

    // Corrupt the newest backup's data file, then verify it: the verification fails and is recorded.
    const fd = openSync(second.path, 'r+');
    writeSync(fd, Buffer.from('garbage!'), 0, 8, 200);
    closeSync(fd);
    await expect(verifyBackup(config, second.manifest.id, { now: at(NOW, 15 * 60_000) })).rejects.toThrow();
    c = (await runHealthChecks(config, { checks: ['backups'], now: at(NOW, 20 * 60_000) })).checks[0]!;
    expect(c.status).toBe('warn');
    expect(c.detail).toMatch(new RegExp(`newest backup ${second.manifest.id} failed verification \\(checksum\\)`));
  });

  it('a failed last attempt in backup_log is warn; free space below min_free_bytes is warn', async () => {
    const config = sqliteConfig();
    await migrateUp(config);
    const b = await createBackup(config, { now: NOW });
    await verifyBackup(config, b.manifest.id, { now: NOW });
    const db = new Database(config.database.path);
    // backup_log rows carry real time (the mirror is written by the engine), so the failed attempt is "later" in real time too.
    db.prepare(
      "INSERT INTO backup_log (backup_type, file_path, started_at, status, error_message) VALUES ('scheduled', '-', datetime('now', '+1 minute'), 'failed', 'disk full')",
    ).run();
    db.close();
    config.health.min_free_bytes = Number.MAX_SAFE_INTEGER;
    const c = (await runHealthChecks(config, { checks: ['backups'], now: at(NOW, 10 * 60_000) })).checks[0]!;
    expect(c.status).toBe('warn');
    expect(c.detail).toMatch(/last backup attempt failed: disk full/);
    expect(c.detail).toMatch(/free in .* \(< /);
    expect(c.data).toMatchObject({ lastAttempt: { status: 'failed' } });
  });

  it('works when the database is gone (the catalog is the directory)', async () => {
    const config = sqliteConfig();
    await migrateUp(config);
    const notes: string[] = [];
    const b = await createBackup(config, { now: NOW, log: (_l, t) => notes.push(t) });
    expect(b.manifest.source_identity?.key).toMatch(/^sqlite:/);
    await verifyBackup(config, b.manifest.id, { now: NOW });
    for (const s of ['', '-wal', '-shm']) rmSync(`${config.database.path}${s}`, { force: true });
    const r = await runHealthChecks(config, { checks: ['database', 'backups'], now: at(NOW, 60_000) });
    expect(byName(r, 'database').status).toBe('critical');
    // the backups of the missing database are still its own (attributed by path and host)
    expect(byName(r, 'backups').status).toBe('ok');
    // another (existing, never backed up) database at another path has no backups, though the
    // directory holds this one's: it is not their successor (only a missing database may be)
    config.database.path = path.join(path.dirname(config.database.path), 'other.db');
    new Database(config.database.path).exec('CREATE TABLE t (x)');
    const o = byName(await runHealthChecks(config, { checks: ['backups'], now: at(NOW, 60_000) }), 'backups');
    expect(o.status).toBe('critical');
    expect(o.detail).toMatch(/^no backups of this database .* \(1 backup of other sources: sqlite:[0-9a-f]{8}\)/);
  });
});

describe('health with Redis', () => {
  let redis: TestRedis | null;
  beforeAll(async () => {
    redis = await createTestRedis('health');
  });
  afterAll(async () => {
    await redis?.cleanup();
  });

  function redisConfig(): Config {
    const c = sqliteConfig();
    c.redis.enabled = true;
    c.redis.namespace = redis!.namespace;
    c.redis.connection.host = redis!.host;
    c.redis.connection.port = redis!.port;
    c.redis.connection.db = redis!.db;
    return c;
  }

  it('disabled Redis is ok and says so; locks are skipped', async () => {
    const r = await runHealthChecks(sqliteConfig(), { checks: ['redis', 'locks'], now: NOW });
    expect(r.checks.map((c) => [c.name, c.status, c.detail])).toEqual([
      ['redis', 'ok', 'disabled (REDIS_ENABLED=false)'],
      ['locks', 'ok', 'skipped: Redis disabled (REDIS_ENABLED=false)'],
    ]);
  });

  it('reachable Redis: PING latency and memory; readiness subset ok', async () => {
    if (!redis) return;
    const config = redisConfig();
    await migrateUp(config);
    const r = await runHealthChecks(config, { checks: ['redis'], now: NOW });
    expect(r.checks[0]!.status).toBe('ok');
    expect(r.checks[0]!.detail).toMatch(/^PING [\d.]+ ms at /);
    expect(r.checks[0]!.data).toMatchObject({ enabled: true });
    const ready = await runReadinessChecks(config, { now: NOW });
    expect(ready.checks.map((c) => c.name)).toEqual(['config', 'database', 'redis']);
    expect(ready.status).toBe('ok');
  });

  it('locks held for finished or unknown executions are warn; a lock on a running execution is fine', async () => {
    if (!redis) return;
    const config = redisConfig();
    await migrateUp(config);
    const db = new Database(config.database.path);
    db.exec("INSERT INTO workflows (id, name, status) VALUES (1, 'etl', 'active')");
    db.exec(
      `INSERT INTO workflow_executions (id, workflow_id, status, started_at) VALUES (21, 1, 'running', '${minutesAgo(1)}'), (22, 1, 'completed', '${minutesAgo(9)}')`,
    );
    db.close();
    const ns = redis.namespace;
    await redis.client.set(`${ns}:lock:execution:21`, 'worker-a', 'PX', 300_000);
    let r = await runHealthChecks(config, { checks: ['locks'], now: NOW });
    expect(r.checks[0]).toMatchObject({ status: 'ok', detail: '1 lock held, all for unfinished executions' });

    await redis.client.set(`${ns}:lock:execution:22`, 'worker-b', 'PX', 300_000);
    await redis.client.set(`${ns}:lock:execution:999`, 'worker-c');
    r = await runHealthChecks(config, { checks: ['locks'], now: NOW });
    expect(r.checks[0]!.status).toBe('warn');
    expect(r.checks[0]!.detail).toMatch(/1 lock held for finished executions \(22\)/);
    expect(r.checks[0]!.detail).toMatch(/1 lock for executions not in the database \(999\)/);
    expect(r.checks[0]!.detail).toMatch(/1 lock without a TTL \(999\)/);
    expect(r.checks[0]!.hint).toMatch(/wks lock release/);
  });

  it('Redis on a closed port is critical at once, naming host:port', async () => {
    const srv = net.createServer();
    await new Promise<void>((res) => srv.listen(0, '127.0.0.1', res));
    const port = (srv.address() as net.AddressInfo).port;
    await new Promise<void>((res) => srv.close(() => res()));
    const config = sqliteConfig();
    config.redis.enabled = true;
    config.redis.connection.host = '127.0.0.1';
    config.redis.connection.port = port;
    const t0 = Date.now();
    const r = await runHealthChecks(config, { checks: ['config', 'redis'], now: NOW });
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(byName(r, 'redis')).toMatchObject({
      status: 'critical',
      detail: `Redis at 127.0.0.1:${port} is unreachable (connection refused)`,
    });
    expect(byName(r, 'config').status).toBe('ok');
  });

  it('a Redis that accepts but never answers times out as unknown, and the socket is destroyed', async () => {
    const sockets: net.Socket[] = [];
    let closed = 0;
    const srv = net.createServer((s) => {
      sockets.push(s);
      s.resume(); // read (and ignore) everything, answer nothing
      s.on('close', () => closed++);
    });
    await new Promise<void>((res) => srv.listen(0, '127.0.0.1', res));
    const port = (srv.address() as net.AddressInfo).port;
    try {
      const config = sqliteConfig();
      config.redis.enabled = true;
      config.redis.connection.host = '127.0.0.1';
      config.redis.connection.port = port;
      const r = await runHealthChecks(config, { checks: ['redis'], timeoutMs: 2000, checkTimeoutMs: 600, now: NOW });
      expect(r.checks[0]).toMatchObject({ status: 'unknown', detail: 'timed out after 600 ms' });
      // Our side closed the connection: the server sees the socket end.
      await new Promise((res) => setTimeout(res, 200));
      expect(sockets.length).toBe(1);
      expect(closed).toBe(1);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((res) => srv.close(() => res()));
    }
  });
});

describe('health on PostgreSQL', () => {
  let pg: TestDatabase | null;
  beforeAll(async () => {
    pg = await createTestDatabase('health');
  });
  afterAll(async () => {
    await pg?.drop();
  });

  it('SELECT 1, server connections, migrations and workflows', async () => {
    if (!pg) return;
    const config = sqliteConfig();
    config.database.type = 'postgresql';
    config.database.postgresql.enabled = true;
    config.database.postgresql.url = pg.url;
    let r = await runHealthChecks(config, { checks: ['database', 'migrations'], now: NOW });
    expect(byName(r, 'database').status).toBe('ok');
    expect(byName(r, 'database').detail).toMatch(/^SELECT 1 in \d+ ms; server connections \d+\/\d+/);
    expect(byName(r, 'migrations').status).toBe('warn');
    await migrateUp(config);
    r = await runHealthChecks(config, { checks: ['database', 'migrations', 'workflows', 'agents'], now: NOW });
    for (const c of r.checks) expect(c, `${c.name}: ${c.detail}`).toMatchObject({ status: 'ok' });
  });

  it('with a long-lived pool (wks serve), pool usage at or above pool_usage_warn_percent of DB_POOL_MAX is warn', async () => {
    if (!pg) return;
    const config = sqliteConfig();
    config.database.type = 'postgresql';
    config.database.postgresql.enabled = true;
    config.database.postgresql.url = pg.url;
    config.database.pooling.max = 3;
    const db = await openDatabase(config);
    let release!: () => void;
    const held = new Promise<void>((res) => (release = res));
    try {
      // Hold two of the three connections (67%), then ask with a 60% threshold.
      const busy = [0, 1].map(() => (db as any).pinned(async () => held));
      await new Promise((res) => setTimeout(res, 200));
      config.health.pool_usage_warn_percent = 60;
      const r = await runHealthChecks(config, { checks: ['database'], db, now: NOW });
      expect(r.checks[0]!.status).toBe('warn');
      expect(r.checks[0]!.detail).toMatch(/pool \d\/3 connections in use \(>= 60% of DB_POOL_MAX\)/);
      release();
      await Promise.all(busy);
      config.health.pool_usage_warn_percent = 80;
      const again = await runHealthChecks(config, { checks: ['database'], db, now: NOW });
      expect(again.checks[0]!.status).toBe('ok');
    } finally {
      release();
      await db.close();
    }
  });

  it('an unreachable server is critical within the budget', async () => {
    const config = sqliteConfig();
    config.database.type = 'postgresql';
    config.database.postgresql.enabled = true;
    config.database.postgresql.url = 'postgres://postgres:secretpw@127.0.0.1:1/none';
    const r = await runHealthChecks(config, { checks: ['database', 'workflows'], now: NOW, timeoutMs: 3000 });
    expect(byName(r, 'database').status).toBe('critical');
    expect(JSON.stringify(r)).not.toContain('secretpw');
    expect(byName(r, 'workflows').status).toBe('unknown');
  });
});
