/**
 * `wks db copy` builds indexes and foreign keys after the data: the copied database must end with
 * exactly the schema `migrate up` makes, and a row that breaks a foreign key must still be refused
 * (the table not written), with the way out (fix the source, --resume) leading to the same schema.
 */
import { describe, it, expect, afterAll } from 'vitest';
import path from 'node:path';
import pg from 'pg';
import Database from 'better-sqlite3';
import { loadConfig, type Config } from '../../src/config/index.js';
import { migrateUp } from '../../src/migrate/index.js';
import { copyDatabase, PROGRESS_TABLE } from '../../src/copy/index.js';
import { createTestDatabase, type TestDatabase } from '../helpers/services.js';
import { schemaLines } from '../helpers/pg-catalog.js';
import { tmpDir } from '../helpers/tmp.js';

const reference = await createTestDatabase('copy_schema_ref');
const made: TestDatabase[] = [];
afterAll(async () => {
  for (const d of made) await d.drop().catch(() => undefined);
  await reference?.drop();
});

async function q<T = Record<string, unknown>>(url: string, sql: string): Promise<T[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query(sql)).rows as T[];
  } finally {
    await c.end();
  }
}

async function source(dir: string, target: TestDatabase, orphan: boolean): Promise<Config> {
  const config = loadConfig({ env: { ...target.env, DATABASE_PATH: path.join(dir, 'app.db') }, cwd: dir }).config;
  await migrateUp({ ...config, database: { ...config.database, type: 'sqlite' } });
  const db = new Database(config.database.path);
  db.pragma('foreign_keys = OFF'); // what an old application could write
  db.exec(`
    INSERT INTO users (id, username, email, password_hash) VALUES (1, 'ann', 'ann@x', 'h'), (2, 'bob', 'bob@x', 'h');
    INSERT INTO workflows (id, name, user_id, status) VALUES (1, 'w1', 1, 'active'), (2, 'w2', 2, 'paused');
    INSERT INTO workflow_executions (workflow_id, status) VALUES (1, 'completed'), (2, 'failed');
    INSERT INTO agents (id, name, type, status) VALUES (1, 'a1', 'shell', 'active');
    INSERT INTO agent_health_checks (agent_id, status, check_time) VALUES (1, 'healthy', '2026-01-01 00:00:00');
    INSERT INTO rate_limits (user_id, endpoint, window_start, window_end) VALUES (2, '/x', '2026-01-01 00:00:00', '2026-01-01 00:15:00');
  `);
  if (orphan) db.exec(`INSERT INTO workflows (id, name, user_id, status) VALUES (3, 'orphan', 99, 'active')`);
  db.close();
  return config;
}

describe.skipIf(!reference)('db copy: indexes and foreign keys after the data', async () => {
  await migrateUp(loadConfig({ env: reference?.env ?? {} }).config);
  const expected = reference ? await schemaLines(reference.url) : [];

  it('ends with exactly the schema migrate up makes (columns, constraints, indexes, triggers, sequences)', async () => {
    expect(expected.filter((l) => l.startsWith('constraint ') && / f FOREIGN KEY/.test(l)).length).toBeGreaterThan(5);
    const target = (await createTestDatabase('copy_schema'))!;
    made.push(target);
    const res = await copyDatabase(await source(tmpDir('copyschema'), target, false), { backup: false });
    expect(res.verified).toBe(true);
    expect(await schemaLines(target.url)).toEqual(expected);
    expect(await q(target.url, 'SELECT * FROM wks_copy_deferred')).toEqual([]);
  });

  it('refuses a row that breaks a foreign key (table not written); fixed, --resume ends with the same schema', async () => {
    const dir = tmpDir('copyschema');
    const target = (await createTestDatabase('copy_schema'))!;
    made.push(target);
    const config = await source(dir, target, true);
    const err = await copyDatabase(config, { backup: false }).catch((e) => e);
    expect(err.exitCode).toBe(1);
    expect(err.message).toMatch(
      /copying workflows failed in PostgreSQL: .*violates foreign key constraint "workflows_user_id_fkey"/,
    );
    expect(err.message).toMatch(/\(user_id\)=\(99\)/);
    expect(err.hint).toMatch(/orphan rows .*--resume/);
    expect(await q(target.url, 'SELECT id FROM workflows')).toEqual([]);
    const progress = await q<{ table_name: string; status: string }>(
      target.url,
      `SELECT table_name, status FROM ${PROGRESS_TABLE}`,
    );
    expect(progress.find((p) => p.table_name === 'workflows')).toBeUndefined();
    expect(progress.find((p) => p.table_name === 'users')?.status).toBe('done');
    // until the copy ends, the foreign keys of the tables not yet copied are listed, not lost
    const deferred = await q<{ name: string }>(target.url, 'SELECT name FROM wks_copy_deferred ORDER BY name');
    expect(deferred.map((d) => d.name)).toContain('workflows_user_id_fkey');

    const db = new Database(config.database.path);
    db.exec('DELETE FROM workflows WHERE id = 3');
    db.close();
    const res = await copyDatabase(config, { backup: false, resume: true });
    expect(res.verified).toBe(true);
    expect(res.tables.find((t) => t.table === 'users')?.status).toBe('resumed');
    expect(await schemaLines(target.url)).toEqual(expected);
    expect(await q(target.url, 'SELECT * FROM wks_copy_deferred')).toEqual([]);
  });
});
