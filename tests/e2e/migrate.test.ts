/**
 * `wks migrate` as a user runs it: spawned bin/wks.js (build first), real
 * SQLite files in temp dirs and the real local PostgreSQL.
 */
import { describe, it, expect, afterAll } from 'vitest';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { loadConfig } from '../../src/config/loader.js';
import { withMigrationMutex } from '../../src/migrate/index.js';
import { withDb } from '../../src/db/index.js';
import { runWks } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/services.js';
import { tmpDir } from '../helpers/tmp.js';

const PLATFORM_TABLES = [
  'agent_health_checks',
  'agents',
  'backup_log',
  'metrics',
  'rate_limits',
  'users',
  'workflow_execution_tracking',
  'workflow_executions',
  'workflows',
];
const PLATFORM_INDEXES = [
  'idx_agent_health_recent',
  'idx_metrics_timestamp',
  'idx_rate_limits_lookup',
  'idx_workflow_execution_status',
];

const dbs: TestDatabase[] = [];
afterAll(async () => {
  for (const d of dbs) await d.drop();
});

function sqliteNames(file: string, type: 'table' | 'index'): string[] {
  const db = new Database(file, { readonly: true });
  try {
    return (db.prepare(`SELECT name FROM sqlite_master WHERE type = ?`).all(type) as Array<{ name: string }>).map(
      (r) => r.name,
    );
  } finally {
    db.close();
  }
}

describe('wks migrate (SQLite)', () => {
  it("fresh `migrate up` creates ./workstation.db with the platform's 9 tables and indexes; a second up is a no-op", async () => {
    const cwd = tmpDir('e2e-mig');
    const r = await runWks(['migrate', 'up'], { cwd });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/applied \d+ migration/);
    const file = path.join(cwd, 'workstation.db');
    expect(existsSync(file)).toBe(true);
    expect(sqliteNames(file, 'table')).toEqual(expect.arrayContaining(PLATFORM_TABLES));
    expect(sqliteNames(file, 'index')).toEqual(expect.arrayContaining(PLATFORM_INDEXES));

    const again = await runWks(['migrate', 'up', '--json'], { cwd });
    expect(again.code).toBe(0);
    expect(again.json().applied).toEqual([]);

    const st = await runWks(['migrate', 'status', '--json'], { cwd });
    expect(st.code).toBe(0);
    const doc = st.json();
    expect(doc.pending).toEqual([]);
    expect(doc.drift).toEqual([]);
    expect(doc.applied.map((a: { version: string }) => a.version)).toEqual(expect.arrayContaining(['0001', '0002']));
    expect((await runWks(['migrate', 'status', '--exit-code'], { cwd })).code).toBe(0);
  });

  it('status does not create the database, and --exit-code fails CI while migrations are pending', async () => {
    const cwd = tmpDir('e2e-mig');
    const st = await runWks(['migrate', 'status', '--exit-code', '--json'], { cwd });
    expect(st.code).toBe(1);
    expect(st.json().exists).toBe(false);
    expect(st.json().pending.length).toBeGreaterThanOrEqual(2);
    expect(existsSync(path.join(cwd, 'workstation.db'))).toBe(false);
    const dry = await runWks(['migrate', 'up', '--dry-run'], { cwd });
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain('CREATE TABLE users');
    expect(existsSync(path.join(cwd, 'workstation.db'))).toBe(false);
  });

  it('user migrations: new, up, then validate exits 3 on an edit and 0 on a CRLF-only change', async () => {
    const cwd = tmpDir('e2e-mig');
    const env = { WKS_MIGRATIONS_DIR: 'db/migrations' };
    const n = await runWks(['migrate', 'new', 'add widgets', '--json'], { cwd, env });
    expect(n.code, n.stderr).toBe(0);
    const file = n.json().file as string;
    expect(path.basename(file)).toMatch(/^\d{14}_add_widgets\.sql$/);
    expect(readFileSync(file, 'utf8')).toContain('-- migrate:up');
    writeFileSync(
      file,
      '-- migrate:up\nCREATE TABLE widgets (id INTEGER PRIMARY KEY, name TEXT);\n\n-- migrate:down\nDROP TABLE widgets;\n',
    );
    const pending = await runWks(['migrate', 'status', '--exit-code'], { cwd, env });
    expect(pending.code).toBe(1);
    expect(pending.stderr).toMatch(/pending/);
    expect((await runWks(['migrate', 'up'], { cwd, env })).code).toBe(0);
    expect((await runWks(['migrate', 'validate'], { cwd, env })).code).toBe(0);

    const original = readFileSync(file, 'utf8');
    writeFileSync(file, original.replace(/\n/g, '\r\n'));
    const crlf = await runWks(['migrate', 'validate'], { cwd, env });
    expect(crlf.code, crlf.stdout + crlf.stderr).toBe(0);

    writeFileSync(file, original.replace('name TEXT', 'name TEXT NOT NULL'));
    const edited = await runWks(['migrate', 'validate', '--json'], { cwd, env });
    expect(edited.code).toBe(3);
    const doc = edited.json();
    expect(doc.drift[0]).toMatchObject({ kind: 'changed', name: 'add_widgets' });
    const st = await runWks(['migrate', 'status', '--exit-code'], { cwd, env });
    expect(st.code).toBe(3);
  });

  it('a failing migration exits 1 naming the file, line and database message, and changes nothing', async () => {
    const cwd = tmpDir('e2e-mig');
    mkdirSync(path.join(cwd, 'm'));
    writeFileSync(
      path.join(cwd, 'm', '20260101000000_bad.sql'),
      '-- migrate:up\nCREATE TABLE ok_part (x INTEGER);\nCREATE TABLE bad_part (x INTEGER REFERENCES);\n',
    );
    const env = { WKS_MIGRATIONS_DIR: 'm' };
    expect((await runWks(['migrate', 'up', '--to', '0002'], { cwd, env })).code).toBe(0);
    const r = await runWks(['migrate', 'up'], { cwd, env });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/20260101000000_bad\.sql:3/);
    expect(r.stderr).toMatch(/syntax error/);
    expect(r.stderr).toMatch(/rolled back completely/);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(sqliteNames(path.join(cwd, 'workstation.db'), 'table')).not.toContain('ok_part');
    const j = await runWks(['migrate', 'up', '--json'], { cwd, env });
    expect(j.json()).toMatchObject({ ok: false, error: { exitCode: 1, statement: { line: 3 } } });
  });

  it('down refuses without --yes off a TTY (exit 2) and rolls back with it', async () => {
    const cwd = tmpDir('e2e-mig');
    expect((await runWks(['migrate', 'up'], { cwd })).code).toBe(0);
    const no = await runWks(['migrate', 'down'], { cwd });
    expect(no.code).toBe(2);
    expect(no.stderr).toMatch(/--yes/);
    const yes = await runWks(['migrate', 'down', '--yes', '--to', '0001', '--json'], { cwd });
    expect(yes.code, yes.stderr).toBe(0);
    expect(yes.json().current).toBe('0001');
    expect(sqliteNames(path.join(cwd, 'workstation.db'), 'table')).not.toContain('metrics');
  });

  it("baseline adopts a database made with the platform's statements, and refuses (exit 3) one that does not match", async () => {
    const cwd = tmpDir('e2e-mig');
    const platformSql = readFileSync(
      path.resolve(__dirname, '../../src/migrate/sql/sqlite/0001_phase1_3_tables.sql'),
      'utf8',
    )
      .split('-- migrate:down')[0]!
      .split('-- migrate:up')[1]!
      .replace(/CREATE TABLE /g, 'CREATE TABLE IF NOT EXISTS ');
    const db = new Database(path.join(cwd, 'workstation.db'));
    db.exec(platformSql);
    db.close();
    const b = await runWks(['migrate', 'baseline'], { cwd });
    expect(b.code, b.stderr).toBe(0);
    expect(b.stdout).toMatch(/marked 0001_phase1_3_tables as applied/);
    const up = await runWks(['migrate', 'up', '--json'], { cwd });
    expect(up.json().applied[0].version).toBe('0002');

    const cwd2 = tmpDir('e2e-mig');
    const db2 = new Database(path.join(cwd2, 'workstation.db'));
    db2.exec(platformSql.replace('  email TEXT UNIQUE NOT NULL,\n', ''));
    db2.close();
    const refused = await runWks(['migrate', 'baseline'], { cwd: cwd2 });
    expect(refused.code).toBe(3);
    expect(refused.stderr).toMatch(/users\.email is missing/);
  });

  it('a second runner gives up with exit 4 and names the holder when the lock stays held', async () => {
    const cwd = tmpDir('e2e-mig');
    const config = loadConfig({ env: {}, cwd }).config;
    let release!: () => void;
    let locked!: () => void;
    const isLocked = new Promise<void>((r) => (locked = r));
    const holder = withMigrationMutex(config, {}, () => {
      locked();
      return new Promise<void>((r) => (release = r));
    });
    await isLocked;
    try {
      const r = await runWks(['migrate', 'up', '--lock-timeout', '400'], { cwd });
      expect(r.code).toBe(4);
      expect(r.stderr).toContain(`pid ${process.pid}`);
      expect(r.stderr).toMatch(/waiting for the migration mutex/);
    } finally {
      release();
      await holder;
    }
    expect((await runWks(['migrate', 'up'], { cwd })).code).toBe(0);
  });
});

describe('wks migrate up: pre-migration backup', () => {
  it('takes a pre-migration backup when the database has tables and something is pending; not with --no-backup, not on a fresh file', async () => {
    const cwd = tmpDir('e2e-mig');
    const manifests = () =>
      existsSync(path.join(cwd, 'backups'))
        ? readdirSync(path.join(cwd, 'backups')).filter((f) => f.endsWith('.json'))
        : [];
    expect((await runWks(['migrate', 'up', '--to', '0001'], { cwd })).code).toBe(0);
    expect(manifests()).toEqual([]); // fresh database: nothing to back up
    expect((await runWks(['migrate', 'up', '--to', '0002', '--no-backup'], { cwd })).code).toBe(0);
    expect(manifests()).toEqual([]);
    const r = await runWks(['migrate', 'up', '--json'], { cwd });
    expect(r.code, r.stderr).toBe(0);
    expect(r.json().backup).toMatchObject({ id: expect.any(String) });
    const m = manifests();
    expect(m).toHaveLength(1);
    const manifest = JSON.parse(readFileSync(path.join(cwd, 'backups', m[0]!), 'utf8'));
    expect(manifest.type).toBe('pre-migration');
    expect(manifest.schema_version).toBe('0002');
    expect((await runWks(['migrate', 'up'], { cwd })).code).toBe(0); // nothing pending: no backup
    expect(manifests()).toHaveLength(1);
  });

  it('a failed pre-migration backup aborts before anything is applied, with one error and the --no-backup way on', async () => {
    const cwd = tmpDir('e2e-mig');
    expect((await runWks(['migrate', 'up', '--to', '0001'], { cwd })).code).toBe(0);
    writeFileSync(path.join(cwd, 'not-a-dir'), 'x'); // the backup directory cannot be created
    const r = await runWks(['migrate', 'up'], { cwd, env: { BACKUP_STORAGE_PATH: path.join(cwd, 'not-a-dir', 'b') } });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^Error: pre-migration backup failed: .*; nothing was migrated$/m);
    expect(r.stderr).toMatch(/^Try: .*or re-run with --no-backup to migrate without one$/m);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    const s = await runWks(['migrate', 'status', '--json'], { cwd });
    expect(s.json().current).toBe('0001');
  });
});

describe('wks migrate (PostgreSQL)', () => {
  it('creates the same 9 tables through PG_* variables; second up is a no-op', async (ctx) => {
    const d = await createTestDatabase('e2e_migrate');
    if (!d) return ctx.skip();
    dbs.push(d);
    const cwd = tmpDir('e2e-mig');
    const r = await runWks(['migrate', 'up', '--no-backup'], { cwd, env: d.env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`postgres://${d.user}:****@`);
    expect(r.stdout + r.stderr).not.toContain(d.env.PG_PASSWORD);
    expect(existsSync(path.join(cwd, 'workstation.db'))).toBe(false);
    await withDb(loadConfig({ env: d.env, cwd }).config, async (db) => {
      const t = (
        await db.query<{ n: string }>(
          `SELECT table_name AS n FROM information_schema.tables WHERE table_schema = 'public'`,
        )
      ).map((x) => x.n);
      expect(t).toEqual(expect.arrayContaining(PLATFORM_TABLES));
      const i = (
        await db.query<{ n: string }>(`SELECT indexname AS n FROM pg_indexes WHERE schemaname = 'public'`)
      ).map((x) => x.n);
      expect(i).toEqual(expect.arrayContaining(PLATFORM_INDEXES));
      const types = await db.query<{ column_name: string; data_type: string }>(
        `SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'agents' AND column_name IN ('id', 'config_json', 'created_at') ORDER BY column_name`,
      );
      expect(types).toEqual([
        { column_name: 'config_json', data_type: 'jsonb' },
        { column_name: 'created_at', data_type: 'timestamp with time zone' },
        { column_name: 'id', data_type: 'bigint' },
      ]);
    });
    const again = await runWks(['migrate', 'up', '--json'], { cwd, env: d.env });
    expect(again.code).toBe(0);
    expect(again.json().applied).toEqual([]);
    const st = await runWks(['migrate', 'status', '--json', '--exit-code'], { cwd, env: d.env });
    expect(st.code).toBe(0);
    expect(st.json().pending).toEqual([]);
  });

  it('an unreachable server exits 1 with a redacted target and a hint', async () => {
    const cwd = tmpDir('e2e-mig');
    const r = await runWks(['migrate', 'status', '--json'], {
      cwd,
      env: {
        PG_ENABLED: 'true',
        PG_HOST: '127.0.0.1',
        PG_PORT: '1',
        PG_USER: 'u',
        PG_PASSWORD: 'hunter2-secret',
        DB_CONNECTION_TIMEOUT_MS: '1000',
      },
    });
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).not.toContain('hunter2-secret');
    expect(r.json().error.message).toContain('postgres://u:****@127.0.0.1:1/workstation');
    expect(readdirSync(cwd)).toEqual([]);
  });
});
