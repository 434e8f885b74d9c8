/**
 * An interrupted `wks db copy` leaves its target without foreign keys (listed in wks_copy_deferred):
 * `migrate status`, `health` and `migrate up` say so, with the command that finishes the copy, and
 * running that command makes the target a finished database. Spawns bin/wks.js (build first) against
 * the real local PostgreSQL and real SQLite files.
 */
import { describe, it, expect, afterAll } from 'vitest';
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { runWks } from '../helpers/cli.js';
import { startServe } from '../helpers/serve.js';
import { createTestDatabase } from '../helpers/services.js';
import { tmpDir } from '../helpers/tmp.js';

const target = await createTestDatabase('copy_unfinished');
afterAll(async () => {
  await target?.drop();
});

async function deferred(): Promise<string[]> {
  const c = new pg.Client({ connectionString: target!.url });
  await c.connect();
  try {
    return (await c.query<{ name: string }>('SELECT name FROM wks_copy_deferred ORDER BY name')).rows.map(
      (r) => r.name,
    );
  } finally {
    await c.end();
  }
}

describe.skipIf(!target)('an unfinished db copy target (e2e)', () => {
  it('status, health and migrate up say so with the command that finishes it; that command does', async () => {
    const dir = tmpDir('copy-unfinished');
    const file = path.join(dir, 'app.db');
    const m = await runWks(['migrate', 'up'], { env: { DATABASE_PATH: file }, cwd: dir });
    expect(m.code, m.stderr).toBe(0);
    const src = new Database(file);
    src.exec(`
      INSERT INTO agents (id, name, type, status, config_json) VALUES (1, 'a1', 'shell', 'active', '{}');
      INSERT INTO agent_health_checks (id, agent_id, status, response_time_ms, check_time) VALUES
        (1, 1, 'healthy', 5, '2026-01-01 00:00:00'), (2, 1, 'healthy', 'slow', '2026-01-01 00:00:00');
    `);
    src.close();
    const sqliteEnv = { DATABASE_PATH: file };
    const pgEnv = { ...target!.env, DATABASE_PATH: file };

    // The copy stops at the value that does not fit (exit 1): the run is interrupted, its foreign keys set aside.
    const copy = await runWks(['db', 'copy', '--no-backup'], { env: pgEnv, cwd: dir });
    expect(copy.code, copy.stderr).toBe(1);
    const names = await deferred();
    expect(names).toContain('agent_health_checks_agent_id_fkey');

    const human = await runWks(['migrate', 'status'], { env: pgEnv, cwd: dir });
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toContain(`unfinished \`wks db copy\` target: ${names.length} foreign key(s) deferred (`);
    expect(human.stdout).toContain('agent_health_checks_agent_id_fkey');
    expect(human.stdout).toContain(`\`wks db copy --resume --from ${file}\``);

    const json = await runWks(['migrate', 'status', '--json'], { env: pgEnv, cwd: dir });
    expect(json.code, json.stderr).toBe(0);
    const st = json.json().unfinishedCopy;
    expect(st).toMatchObject({ status: 'in_progress', source: file });
    expect(st.deferredForeignKeys.map((f: { name: string }) => f.name).sort()).toEqual(names);
    expect(st.deferredForeignKeys).toContainEqual({
      table: 'agent_health_checks',
      name: 'agent_health_checks_agent_id_fkey',
      references: 'agents',
    });
    const gate = await runWks(['migrate', 'status', '--exit-code'], { env: pgEnv, cwd: dir });
    expect(gate.code).toBe(1);
    expect(gate.stderr).toMatch(/^Error: unfinished `wks db copy` target/m);

    const health = await runWks(['health', '--check', 'database', '--json'], { env: pgEnv, cwd: dir });
    const h = health.json();
    expect(h.status).toBe('critical');
    expect(health.code).toBe(h.exitCode);
    expect(h.checks[0]).toMatchObject({ name: 'database', status: 'critical' });
    expect(h.checks[0].detail).toMatch(/unfinished `wks db copy` target: \d+ foreign key\(s\) deferred/);
    expect(h.checks[0].hint).toContain(`wks db copy --resume --from ${file}`);

    // `wks serve` pointed at it is not ready (the database check is critical).
    const served = await startServe([], { ...pgEnv, BACKUP_STORAGE_PATH: path.join(dir, 'backups') }, dir);
    try {
      const ready = await fetch(`${served.url}/ready`);
      const doc = (await ready.json()) as { ready: boolean; checks: Array<{ name: string; status: string }> };
      expect(ready.status).toBe(503);
      expect(doc.ready).toBe(false);
      expect(doc.checks.find((c) => c.name === 'database')).toMatchObject({ status: 'critical' });
    } finally {
      await served.stop();
    }

    // migrate up refuses (exit 1, nothing changed) and says how to finish the copy.
    const up = await runWks(['migrate', 'up', '--no-backup'], { env: pgEnv, cwd: dir });
    expect(up.code).toBe(1);
    expect(up.stderr).toMatch(/^Error: unfinished `wks db copy` target: .*; not migrating it$/m);
    expect(up.stderr).toContain(`wks db copy --resume --from ${file}`);
    expect(up.stderr).not.toMatch(/\n\s+at /);
    expect(await deferred()).toEqual(names);
    // A SQLite database is never a copy target: its status says nothing of copies.
    const lite = await runWks(['migrate', 'status', '--json'], { env: sqliteEnv, cwd: dir });
    expect(lite.json().unfinishedCopy).toBeNull();

    // Fix the value, then run the command the hint gives: the copy finishes and the warnings go.
    const fix = new Database(file);
    fix.exec('UPDATE agent_health_checks SET response_time_ms = 7 WHERE id = 2');
    fix.close();
    const resume = await runWks(['db', 'copy', '--resume', '--from', file, '--no-backup'], { env: pgEnv, cwd: dir });
    expect(resume.code, resume.stderr).toBe(0);
    expect(await deferred()).toEqual([]);
    const after = await runWks(['migrate', 'status', '--json', '--exit-code'], { env: pgEnv, cwd: dir });
    expect(after.code, after.stderr).toBe(0);
    expect(after.json().unfinishedCopy).toBeNull();
    const healthy = await runWks(['health', '--check', 'database', '--json'], { env: pgEnv, cwd: dir });
    expect(healthy.json().checks[0]).toMatchObject({ name: 'database', status: 'ok' });
    const upAfter = await runWks(['migrate', 'up', '--no-backup'], { env: pgEnv, cwd: dir });
    expect(upAfter.code, upAfter.stderr).toBe(0);
  });
});
