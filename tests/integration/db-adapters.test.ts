/**
 * The DatabaseAdapter contract on a real SQLite file and the real local
 * PostgreSQL (own database per file), including the 0001/0002 schema's
 * constraints. No mocks.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../../src/config/loader.js';
import type { Config } from '../../src/config/schema.js';
import { openDatabase, withDb, isSqlite, type DatabaseAdapter } from '../../src/db/index.js';
import { DatabaseError } from '../../src/db/errors.js';
import { parseDbTime } from '../../src/db/time.js';
import { migrateUp } from '../../src/migrate/index.js';
import { DependencyError, NotFoundError } from '../../src/errors.js';
import { createTestDatabase, type TestDatabase } from '../helpers/services.js';
import { tmpDir } from '../helpers/tmp.js';

const cfg = (env: Record<string, string>, cwd = tmpDir('wks-db')): Config => loadConfig({ env, cwd }).config;

let pgdb: TestDatabase | null = null;
beforeAll(async () => {
  pgdb = await createTestDatabase('db_adapters');
});
afterAll(async () => {
  await pgdb?.drop();
});

function contract(name: string, makeConfig: () => Config | null) {
  describe(`${name} adapter`, () => {
    let config: Config | null;
    let db: DatabaseAdapter;
    beforeAll(async () => {
      config = makeConfig();
      if (!config) return;
      await migrateUp(config);
      db = await openDatabase(config);
    });
    afterAll(async () => {
      await db?.close();
    });
    const run = (title: string, fn: () => Promise<void>) => it(title, async (ctx) => (config ? fn() : ctx.skip()));

    run('query/run use $n placeholders and report changes', async () => {
      await db.run(`INSERT INTO users (username, email, password_hash) VALUES ($1, $2, $3)`, [
        'ada',
        'ada@example.com',
        'h',
      ]);
      const r = await db.run(`UPDATE users SET email = $1 WHERE username = $2`, ['ada@example.org', 'ada']);
      expect(r.changes).toBe(1);
      const rows = await db.query<{ username: string; n: number }>(
        `SELECT username, (SELECT COUNT(*) FROM users) AS n FROM users WHERE email = $1 AND username = $2`,
        ['ada@example.org', 'ada'],
      );
      expect(rows).toEqual([{ username: 'ada', n: 1 }]);
    });

    run('queryRows returns each row as its values in SELECT order, and fails like query', async () => {
      await db.run(`INSERT INTO users (username, email, password_hash) VALUES ($1, $2, $3)`, [
        'rows-b',
        'b@example.org',
        'h',
      ]);
      await db.run(`INSERT INTO users (username, email, password_hash) VALUES ($1, $2, $3)`, [
        'rows-a',
        'a@example.org',
        'h',
      ]);
      const rows = await db.queryRows(
        `SELECT username, CASE WHEN username = 'rows-a' THEN NULL ELSE email END, 7 AS seven FROM users WHERE username LIKE $1 ORDER BY username`,
        ['rows-%'],
      );
      expect(rows.map((r) => [r[0], r[1], Number(r[2])])).toEqual([
        ['rows-a', null, 7],
        ['rows-b', 'b@example.org', 7],
      ]);
      await expect(db.queryRows('SELECT nope FROM users')).rejects.toBeInstanceOf(DatabaseError);
      expect(await db.query('SELECT username FROM users WHERE username = $1', ['rows-a'])).toEqual([
        { username: 'rows-a' },
      ]);
    });

    run('transaction commits, rolls back on error, and nests with savepoints', async () => {
      await db.transaction(async (tx) => {
        await tx.run(`INSERT INTO agents (name, type, status) VALUES ($1, $2, $3)`, ['a1', 'llm', 'active']);
      });
      await expect(
        db.transaction(async (tx) => {
          await tx.run(`INSERT INTO agents (name, type, status) VALUES ($1, $2, $3)`, ['a2', 'llm', 'active']);
          throw new Error('boom');
        }),
      ).rejects.toThrow('boom');
      await db.transaction(async (tx) => {
        await tx.run(`INSERT INTO agents (name, type, status) VALUES ($1, $2, $3)`, ['a3', 'llm', 'active']);
        await expect(
          tx.transaction(async (inner) => {
            await inner.run(`INSERT INTO agents (name, type, status) VALUES ($1, $2, $3)`, ['a4', 'llm', 'active']);
            throw new Error('inner');
          }),
        ).rejects.toThrow('inner');
      });
      const names = (await db.query<{ name: string }>(`SELECT name FROM agents ORDER BY name`)).map((r) => r.name);
      expect(names).toEqual(['a1', 'a3']);
    });

    run('runs concurrent top-level transactions one at a time, so one failing does not undo the other', async () => {
      const slow = db.transaction(async (tx) => {
        await tx.run(`INSERT INTO agents (name, type, status) VALUES ($1, $2, $3)`, ['c1', 'llm', 'active']);
        await new Promise((r) => setTimeout(r, 50));
        throw new Error('first fails');
      });
      const fast = db.transaction(async (tx) => {
        await tx.run(`INSERT INTO agents (name, type, status) VALUES ($1, $2, $3)`, ['c2', 'llm', 'active']);
      });
      await expect(slow).rejects.toThrow('first fails');
      await fast;
      const names = (await db.query<{ name: string }>(`SELECT name FROM agents WHERE name IN ('c1', 'c2')`)).map(
        (r) => r.name,
      );
      expect(names).toEqual(['c2']);
    });

    run("enforces the platform's CHECK constraints and foreign keys", async () => {
      const bad = db.run(`INSERT INTO agents (name, type, status) VALUES ($1, $2, $3)`, ['x', 'llm', 'sleeping']);
      await expect(bad).rejects.toBeInstanceOf(DatabaseError);
      const fk = db.run(`INSERT INTO workflows (name, user_id, status) VALUES ($1, $2, $3)`, ['w', 999999, 'active']);
      await expect(fk).rejects.toBeInstanceOf(DatabaseError);
      const bt = db.run(`INSERT INTO backup_log (backup_type, file_path, started_at, status) VALUES ($1, $2, $3, $4)`, [
        'weekly',
        '/x',
        new Date(),
        'completed',
      ]);
      await expect(bt).rejects.toThrow(/check/i);
    });

    run('stores and reads back timestamps as UTC', async () => {
      const at = new Date('2026-03-04T05:06:07Z');
      await db.run(`INSERT INTO backup_log (backup_type, file_path, started_at, status) VALUES ($1, $2, $3, $4)`, [
        'manual',
        '/b',
        at,
        'completed',
      ]);
      const [row] = await db.query<{ started_at: unknown }>(`SELECT started_at FROM backup_log WHERE file_path = $1`, [
        '/b',
      ]);
      expect(parseDbTime(row!.started_at)?.toISOString()).toBe(at.toISOString());
    });

    run('exec runs several statements', async () => {
      await db.exec(`CREATE TABLE t_exec (x INTEGER); INSERT INTO t_exec VALUES (1); INSERT INTO t_exec VALUES (2);`);
      const [r] = await db.query<{ n: number }>(`SELECT COUNT(*) AS n FROM t_exec`);
      expect(r!.n).toBe(2);
    });

    run('has the partial index on active executions', async () => {
      const rows =
        db.dialect === 'sqlite'
          ? await db.query<{ sql: string }>(
              `SELECT sql FROM sqlite_master WHERE name = 'idx_workflow_execution_status'`,
            )
          : await db.query<{ sql: string }>(
              `SELECT indexdef AS sql FROM pg_indexes WHERE indexname = 'idx_workflow_execution_status'`,
            );
      expect(rows[0]!.sql).toMatch(/WHERE/i);
      expect(rows[0]!.sql).toMatch(/pending/);
    });
  });
}

contract('SQLite', () => cfg({}));
contract('PostgreSQL', () => (pgdb ? cfg(pgdb.env) : null));

describe('SQLite specifics', () => {
  it('opens in WAL mode with a busy timeout and foreign keys, and exposes the handle', async () => {
    const config = cfg({ DATABASE_PATH: 'sub/dir/w.db' });
    await withDb(config, async (db) => {
      expect(isSqlite(db)).toBe(true);
      if (!isSqlite(db)) return;
      expect(db.handle.pragma('journal_mode', { simple: true })).toBe('wal');
      expect(db.handle.pragma('busy_timeout', { simple: true })).toBe(5000);
      expect(db.handle.pragma('foreign_keys', { simple: true })).toBe(1);
      expect(db.poolStats()).toBeNull();
      expect(db.target).toBe(config.database.path);
    });
    expect(existsSync(config.database.path)).toBe(true);
  });

  it('does not create a missing file when create is false', async () => {
    const dir = tmpDir('wks-db');
    const config = cfg({}, dir);
    const err = await openDatabase(config, { create: false }).catch((e) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect(err.exitCode).toBe(5);
    expect(err.hint).toMatch(/wks migrate up/);
    expect(existsSync(path.join(dir, 'workstation.db'))).toBe(false);
  });
});

describe('PostgreSQL specifics', () => {
  it('reports pool statistics and applies the statement timeout', async (ctx) => {
    if (!pgdb) return ctx.skip();
    const config = cfg({ ...pgdb.env, DB_POOL_MAX: '3', DB_QUERY_TIMEOUT_MS: '200' });
    await withDb(config, async (db) => {
      const stats = db.poolStats()!;
      expect(stats.total).toBeGreaterThanOrEqual(1);
      expect(stats.waiting).toBe(0);
      const err = await db.query(`SELECT pg_sleep(2)`).catch((e) => e);
      expect(err).toBeInstanceOf(DatabaseError);
      expect(err.dbCode).toBe('57014'); // query_canceled by statement_timeout
      await Promise.all([1, 2, 3, 4].map(() => db.query(`SELECT pg_sleep(0.05)`)));
      expect(db.poolStats()!.total).toBeLessThanOrEqual(3);
    });
  });

  it('fails fast with a redacted DependencyError when the server is unreachable', async () => {
    const config = cfg({
      PG_ENABLED: 'true',
      PG_HOST: '127.0.0.1',
      PG_PORT: '1',
      PG_USER: 'u',
      PG_PASSWORD: 'supersecret-pw',
      DB_CONNECTION_TIMEOUT_MS: '1000',
    });
    const err = await openDatabase(config).catch((e) => e);
    expect(err).toBeInstanceOf(DependencyError);
    expect(err.message).toContain('postgres://u:****@127.0.0.1:1/workstation');
    expect(err.message).not.toContain('supersecret-pw');
    expect(err.hint).toMatch(/PG_HOST/);
  });

  it('accepts PG_URL and never shows its password', async (ctx) => {
    if (!pgdb) return ctx.skip();
    const u = new URL(pgdb.url);
    u.password = 'not-needed-by-trust';
    const config = cfg({ PG_ENABLED: 'true', PG_URL: u.toString() });
    await withDb(config, async (db) => {
      expect(db.target).not.toContain('not-needed-by-trust');
      expect(db.target).toContain(':****@');
      expect(await db.query(`SELECT 1 AS one`)).toEqual([{ one: 1 }]);
    });
  });
});
