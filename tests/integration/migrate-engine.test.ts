/**
 * The migration engine on real SQLite files and the real local PostgreSQL:
 * fresh schema, idempotence, user migrations, failures (rolled back, or dirty
 * for transaction:false), down, validate, baseline and the lock.
 */
import { describe, it, expect, afterAll } from 'vitest';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../../src/config/loader.js';
import type { Config } from '../../src/config/schema.js';
import { withDb, type DatabaseAdapter } from '../../src/db/index.js';
import {
  migrateUp,
  migrateDown,
  migrationStatus,
  validateMigrations,
  currentSchemaVersion,
  resolveDirty,
  withMigrationMutex,
  baselineDatabase,
  newMigration,
  MigrationFailedError,
  DirtyDatabaseError,
} from '../../src/migrate/index.js';
import { ConflictError, NotFoundError, VerificationError } from '../../src/errors.js';
import { createTestDatabase, type TestDatabase } from '../helpers/services.js';
import { tmpDir } from '../helpers/tmp.js';

const PLATFORM_TABLES = [
  'users',
  'workflows',
  'workflow_executions',
  'agents',
  'workflow_execution_tracking',
  'metrics',
  'backup_log',
  'agent_health_checks',
  'rate_limits',
];
const PLATFORM_INDEXES = [
  'idx_workflow_execution_status',
  'idx_metrics_timestamp',
  'idx_agent_health_recent',
  'idx_rate_limits_lookup',
];

const dbs: TestDatabase[] = [];
afterAll(async () => {
  for (const d of dbs) await d.drop();
});

type Dialect = 'sqlite' | 'postgres';
let pgAvailable: boolean | undefined;

/** A fresh database of the dialect plus a user migrations directory; null when PostgreSQL is unavailable. */
async function fresh(
  dialect: Dialect,
  extraEnv: Record<string, string> = {},
): Promise<{ config: Config; dir: string } | null> {
  const cwd = tmpDir('wks-mig');
  const dir = path.join(cwd, 'migrations');
  mkdirSync(dir);
  let env: Record<string, string> = { WKS_MIGRATIONS_DIR: dir, ...extraEnv };
  if (dialect === 'postgres') {
    if (pgAvailable === false) return null;
    const d = await createTestDatabase('migrate_engine');
    pgAvailable = !!d;
    if (!d) return null;
    dbs.push(d);
    env = { ...d.env, ...env };
  }
  return { config: loadConfig({ env, cwd }).config, dir };
}

async function tables(db: DatabaseAdapter): Promise<string[]> {
  const rows =
    db.dialect === 'sqlite'
      ? await db.query<{ n: string }>(
          `SELECT name AS n FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`,
        )
      : await db.query<{ n: string }>(
          `SELECT table_name AS n FROM information_schema.tables WHERE table_schema = current_schema()`,
        );
  return rows.map((r) => r.n).sort();
}
async function indexes(db: DatabaseAdapter): Promise<string[]> {
  const rows =
    db.dialect === 'sqlite'
      ? await db.query<{ n: string }>(`SELECT name AS n FROM sqlite_master WHERE type = 'index'`)
      : await db.query<{ n: string }>(`SELECT indexname AS n FROM pg_indexes WHERE schemaname = current_schema()`);
  return rows.map((r) => r.n);
}

const write = (dir: string, file: string, text: string) => writeFileSync(path.join(dir, file), text);

for (const dialect of ['sqlite', 'postgres'] as const) {
  describe(`migrations on ${dialect}`, () => {
    it("creates every table and index of the platform's schema, records them, and is a no-op the second time", async (ctx) => {
      const f = await fresh(dialect);
      if (!f) return ctx.skip();
      const first = await migrateUp(f.config);
      expect(first.applied.map((a) => a.version).slice(0, 2)).toEqual(['0001', '0002']);
      await withDb(f.config, async (db) => {
        expect(await tables(db)).toEqual(expect.arrayContaining([...PLATFORM_TABLES, 'schema_migrations']));
        expect(await indexes(db)).toEqual(expect.arrayContaining(PLATFORM_INDEXES));
        expect(await currentSchemaVersion(db)).toBe(first.current);
        const rows = await db.query<{ version: string; checksum: string; duration_ms: number; applied_at: unknown }>(
          `SELECT version, checksum, duration_ms, applied_at FROM schema_migrations ORDER BY version`,
        );
        expect(rows.length).toBe(first.applied.length);
        for (const r of rows) {
          expect(r.checksum).toMatch(/^[0-9a-f]{64}$/);
          expect(r.duration_ms).toBeGreaterThanOrEqual(0);
          expect(r.applied_at).toBeTruthy();
        }
      });
      const second = await migrateUp(f.config);
      expect(second.applied).toEqual([]);
      const st = await migrationStatus(f.config);
      expect(st.pending).toEqual([]);
      expect(st.drift).toEqual([]);
      expect(st.current).toBe(first.current);
    });

    it('applies user migrations after the built-ins, honours --to, and validates checksums (CRLF is not a change)', async (ctx) => {
      const f = await fresh(dialect);
      if (!f) return ctx.skip();
      const a = newMigration(f.config.database.migrations.directory, 'add notes', {
        now: new Date('2026-05-01T10:00:00Z'),
      });
      expect(path.basename(a.file)).toBe('20260501100000_add_notes.sql');
      write(
        f.dir,
        path.basename(a.file),
        '-- migrate:up\nCREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);\n-- migrate:down\nDROP TABLE notes;\n',
      );
      write(
        f.dir,
        '20260502000000_more.sql',
        '-- migrate:up\nALTER TABLE notes ADD COLUMN extra TEXT;\n-- migrate:down\nALTER TABLE notes DROP COLUMN extra;\n',
      );
      const r1 = await migrateUp(f.config, { to: '20260501100000' });
      expect(r1.applied.map((x) => x.version).slice(-1)).toEqual(['20260501100000']);
      expect(r1.applied.find((x) => x.version === '20260501100000')?.source).toBe('user');
      expect((await migrationStatus(f.config)).pending.map((p) => p.version)).toEqual(['20260502000000']);
      await migrateUp(f.config);
      expect((await validateMigrations(f.config)).ok).toBe(true);

      const file = path.join(f.dir, '20260502000000_more.sql');
      const original = readFileSync(file, 'utf8');
      writeFileSync(file, original.replace(/\n/g, '\r\n').replace('TEXT;', 'TEXT;   '));
      expect((await validateMigrations(f.config)).ok).toBe(true);

      writeFileSync(file, original.replace('extra TEXT', 'extra INTEGER'));
      const v = await validateMigrations(f.config);
      expect(v.ok).toBe(false);
      expect(v.drift).toEqual([expect.objectContaining({ version: '20260502000000', kind: 'changed' })]);

      await expect(migrateUp(f.config, { to: '99999' })).rejects.toBeInstanceOf(NotFoundError);
    });

    it('rolls a failing migration back completely and reports file, line, statement and the database message', async (ctx) => {
      const f = await fresh(dialect);
      if (!f) return ctx.skip();
      await migrateUp(f.config);
      write(
        f.dir,
        '20260601000000_bad.sql',
        '-- migrate:up\nCREATE TABLE half (id INTEGER);\n\nINSERT INTO half VALUES (1);\nINSERT INTO no_such_table VALUES (1);\n-- migrate:down\nDROP TABLE half;\n',
      );
      const err = await migrateUp(f.config).catch((e) => e);
      expect(err).toBeInstanceOf(MigrationFailedError);
      expect(err.exitCode).toBe(1);
      expect(err.message).toContain('20260601000000_bad.sql:5');
      expect(err.message).toContain('statement 3 of 3');
      expect(err.message).toMatch(/no_such_table/);
      expect(err.details.statement.line).toBe(5);
      expect(err.details.rolledBack).toBe(true);
      expect(err.hint).toMatch(/rolled back completely/);
      await withDb(f.config, async (db) => expect(await tables(db)).not.toContain('half'));
      const st = await migrationStatus(f.config);
      expect(st.pending.map((p) => p.version)).toEqual(['20260601000000']);
      expect(st.dirty).toEqual([]);
    });

    it('leaves a failed transaction:false migration dirty with exact recovery steps, until resolved', async (ctx) => {
      const f = await fresh(dialect);
      if (!f) return ctx.skip();
      await migrateUp(f.config);
      const file = '20260701000000_nontx.sql';
      write(
        f.dir,
        file,
        '-- migrate:up transaction:false\nCREATE TABLE nt_a (id INTEGER);\nCREATE TABLE nt_b (id INTEGER, oops);\n-- migrate:down\nDROP TABLE nt_a;\n',
      );
      if (dialect === 'sqlite')
        write(
          f.dir,
          file,
          '-- migrate:up transaction:false\nCREATE TABLE nt_a (id INTEGER);\nINSERT INTO missing_table VALUES (1);\n-- migrate:down\nDROP TABLE nt_a;\n',
        );
      const err = await migrateUp(f.config).catch((e) => e);
      expect(err).toBeInstanceOf(MigrationFailedError);
      expect(err.details.dirty).toBe(true);
      expect(err.hint).toMatch(/statements 1-1 were applied/);
      expect(err.hint).toMatch(/wks migrate resolve 20260701000000 --applied/);
      expect(err.hint).toMatch(/--rolled-back/);
      await withDb(f.config, async (db) => expect(await tables(db)).toContain('nt_a'));

      const st = await migrationStatus(f.config);
      expect(st.dirty).toHaveLength(1);
      expect(st.dirty[0]!.recovery).toContain(`${file}:3`);
      const again = await migrateUp(f.config).catch((e) => e);
      expect(again).toBeInstanceOf(DirtyDatabaseError);
      expect(again.hint).toMatch(/resolve 20260701000000/);

      // Operator undoes statement 1 by hand, fixes the file, resolves, re-runs.
      await withDb(f.config, (db) => db.exec('DROP TABLE nt_a'));
      await resolveDirty(f.config, '20260701000000', 'rolled-back');
      write(
        f.dir,
        file,
        '-- migrate:up transaction:false\nCREATE TABLE nt_a (id INTEGER);\nCREATE TABLE nt_b (id INTEGER);\n-- migrate:down\nDROP TABLE nt_b;\nDROP TABLE nt_a;\n',
      );
      const ok = await migrateUp(f.config);
      expect(ok.applied.map((a) => a.version)).toEqual(['20260701000000']);
      expect((await migrationStatus(f.config)).dirty).toEqual([]);
    });

    it('rolls back with --steps and --to, newest first', async (ctx) => {
      const f = await fresh(dialect);
      if (!f) return ctx.skip();
      const up = await migrateUp(f.config);
      const all = up.applied.map((a) => a.version);
      const plan = await migrateDown(f.config, { steps: 1, dryRun: true });
      expect(plan.plan.map((p) => p.version)).toEqual([all[all.length - 1]]);
      expect(plan.plan[0]!.statements!.length).toBeGreaterThan(0);
      expect((await migrationStatus(f.config)).pending).toEqual([]);
      const d = await migrateDown(f.config, { to: '0001' });
      expect(d.rolledBack.map((r) => r.version)).toEqual(all.slice(1).reverse());
      expect(d.current).toBe('0001');
      await withDb(f.config, async (db) => {
        const t = await tables(db);
        expect(t).toContain('users');
        expect(t).not.toContain('metrics');
      });
      await migrateDown(f.config, { to: '0' });
      await withDb(f.config, async (db) => expect(await tables(db)).not.toContain('users'));
      const re = await migrateUp(f.config);
      expect(re.applied.map((a) => a.version)).toEqual(all);
    });

    it('waits for the lock holder, names it, and gives up with exit 4 after the timeout', async (ctx) => {
      const f = await fresh(dialect);
      if (!f) return ctx.skip();
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      let locked!: () => void;
      const isLocked = new Promise<void>((r) => (locked = r));
      const holder = withMigrationMutex(f.config, {}, async () => {
        locked();
        await held;
      });
      await isLocked;
      let seen: unknown;
      const err = await migrateUp(f.config, { lockTimeoutMs: 300, onLockWait: (h) => (seen = h) }).catch((e) => e);
      expect(err).toBeInstanceOf(ConflictError);
      expect(err.exitCode).toBe(4);
      expect(err.message).toContain(`pid ${process.pid}`);
      expect(seen).toMatchObject({ pid: process.pid });
      // A waiter with enough patience proceeds once the holder is done.
      const waiting = migrateUp(f.config, { lockTimeoutMs: 10_000 });
      setTimeout(release, 300);
      const r = await waiting;
      expect(r.applied.length).toBeGreaterThanOrEqual(2);
      await holder;
    });
  });
}

describe('baseline', () => {
  // The old application's own statements (the platform's schema, Phase 1-3), IF NOT EXISTS and all.
  const PLATFORM_0001_SQLITE = `
CREATE TABLE IF NOT EXISTS users (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  username TEXT UNIQUE NOT NULL,
  email TEXT UNIQUE NOT NULL,
  password_hash TEXT NOT NULL,
  created_at DATETIME DEFAULT CURRENT_TIMESTAMP,
  updated_at DATETIME DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE IF NOT EXISTS workflows (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL,
  description TEXT,
  user_id INTEGER,
  status TEXT CHECK(status IN ('active', 'paused', 'archived')),
  created_at DATETIME DEFAULT CURRENT_TIMESTAMP,
  updated_at DATETIME DEFAULT CURRENT_TIMESTAMP,
  FOREIGN KEY (user_id) REFERENCES users(id)
);
CREATE TABLE IF NOT EXISTS workflow_executions (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  workflow_id INTEGER NOT NULL,
  status TEXT CHECK(status IN ('pending', 'running', 'completed', 'failed')),
  started_at DATETIME,
  completed_at DATETIME,
  error_message TEXT,
  FOREIGN KEY (workflow_id) REFERENCES workflows(id)
);
CREATE TABLE IF NOT EXISTS agents (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT UNIQUE NOT NULL,
  type TEXT NOT NULL,
  status TEXT CHECK(status IN ('active', 'inactive', 'error')),
  config_json TEXT,
  created_at DATETIME DEFAULT CURRENT_TIMESTAMP,
  updated_at DATETIME DEFAULT CURRENT_TIMESTAMP
);`;

  it('marks a database the old application created as 0001, keeps its data, then up applies the rest (SQLite)', async () => {
    const f = (await fresh('sqlite'))!;
    await withDb(f.config, async (db) => {
      await db.exec(PLATFORM_0001_SQLITE);
      await db.run(`INSERT INTO users (username, email, password_hash) VALUES ('old', 'old@x', 'h')`);
    });
    const b = await baselineDatabase(f.config);
    expect(b.marked).toEqual([{ version: '0001', name: 'phase1_3_tables' }]);
    const st = await migrationStatus(f.config);
    expect(st.current).toBe('0001');
    expect(st.applied[0]!.baseline).toBe(true);
    const up = await migrateUp(f.config);
    expect(up.applied[0]!.version).toBe('0002');
    await withDb(f.config, async (db) =>
      expect(await db.query(`SELECT username FROM users`)).toEqual([{ username: 'old' }]),
    );
    await expect(baselineDatabase(f.config)).rejects.toThrow(/already has migration history/);
  });

  it('up on such a database fails cleanly and points to baseline', async () => {
    const f = (await fresh('sqlite'))!;
    await withDb(f.config, (db) => db.exec(PLATFORM_0001_SQLITE));
    const err = await migrateUp(f.config).catch((e) => e);
    expect(err).toBeInstanceOf(MigrationFailedError);
    expect(err.message).toMatch(/already exists/);
    expect(err.hint).toMatch(/wks migrate baseline/);
    expect((await migrationStatus(f.config)).applied).toEqual([]);
  });

  it('refuses, listing every difference, when the tables do not match (SQLite)', async () => {
    const f = (await fresh('sqlite'))!;
    await withDb(f.config, (db) =>
      db.exec(
        PLATFORM_0001_SQLITE.replace('  password_hash TEXT NOT NULL,\n', '').replace(
          'config_json TEXT',
          'config_json BLOB',
        ),
      ),
    );
    const err = await baselineDatabase(f.config).catch((e) => e);
    expect(err).toBeInstanceOf(VerificationError);
    expect(err.exitCode).toBe(3);
    expect(err.message).toContain('column users.password_hash is missing');
    expect(err.message).toContain('column agents.config_json has type BLOB, expected TEXT');
    expect((await migrationStatus(f.config)).applied).toEqual([]);
    const empty = (await fresh('sqlite'))!;
    await expect(baselineDatabase(empty.config)).rejects.toThrow(/table users is missing/);
  });

  it('checks PostgreSQL tables the same way (scratch schema, rolled back)', async (ctx) => {
    const f = await fresh('postgres');
    if (!f) return ctx.skip();
    // Create the 0001 tables by hand, as an operator or old deploy script would have.
    const sql = readFileSync(path.resolve(__dirname, '../../src/migrate/sql/postgres/0001_phase1_3_tables.sql'), 'utf8')
      .split('-- migrate:down')[0]!
      .split('-- migrate:up')[1]!;
    await withDb(f.config, (db) => db.exec(sql));
    await withDb(f.config, (db) => db.exec('ALTER TABLE agents DROP COLUMN type'));
    const err = await baselineDatabase(f.config).catch((e) => e);
    expect(err).toBeInstanceOf(VerificationError);
    expect(err.message).toContain('column agents.type is missing');
    await withDb(f.config, (db) => db.exec(`ALTER TABLE agents ADD COLUMN type TEXT NOT NULL DEFAULT 'x'`));
    const b = await baselineDatabase(f.config);
    expect(b.version).toBe('0001');
    await withDb(f.config, async (db) => {
      const schemas = await db.query(`SELECT nspname FROM pg_namespace WHERE nspname LIKE 'wks_baseline_%'`);
      expect(schemas).toEqual([]);
    });
    const up = await migrateUp(f.config);
    expect(up.applied[0]!.version).toBe('0002');
  });
});
