/**
 * `wks db copy` against real SQLite files and the real local PostgreSQL:
 * the platform's schema with edge cases (floats, NULLs, unicode, JSON, DATETIME,
 * a type-mismatched row), counts and checksums equal, bit-exact doubles,
 * sequences, refusals, dry-run, the three --on-type-error modes, resume and
 * a verification mismatch (exit 3).
 */
import { describe, it, expect, afterAll } from 'vitest';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import Database from 'better-sqlite3';
import { loadConfig, type Config } from '../../src/config/index.js';
import { migrateUp } from '../../src/migrate/index.js';
import { copyDatabase, CopyVerificationError, PROGRESS_TABLE, RUN_ROW, SESSION_SQL } from '../../src/copy/index.js';
import { targetChecksum } from '../../src/copy/target.js';
import { openVerifier } from '../../src/copy/verifier.js';
import { createTestDatabase, type TestDatabase } from '../helpers/services.js';
import { tmpDir } from '../helpers/tmp.js';

const probe: TestDatabase | null = await createTestDatabase('copy_probe');
await probe?.drop();
const made: TestDatabase[] = [];
afterAll(async () => {
  for (const d of made) await d.drop().catch(() => undefined);
});

async function freshTarget(): Promise<TestDatabase> {
  const d = (await createTestDatabase('copy'))!;
  made.push(d);
  return d;
}

function configFor(dir: string, target: TestDatabase): Config {
  return loadConfig({
    env: { ...target.env, DATABASE_PATH: path.join(dir, 'app.db'), BACKUP_STORAGE_PATH: path.join(dir, 'backups') },
    cwd: dir,
  }).config;
}

async function q<T = Record<string, unknown>>(target: TestDatabase, sql: string, params: unknown[] = []): Promise<T[]> {
  const c = new pg.Client({ connectionString: target.url });
  await c.connect();
  try {
    return (await c.query(sql, params)).rows as T[];
  } finally {
    await c.end();
  }
}

const FLOATS = [0.1, 1e-300, 24.716952124633846, 5e-324, 1.7976931348623157e308, -123.456e-10, 1 / 3];

/** A SQLite database with wks's schema and the edge cases. */
async function seedSource(dir: string, target: TestDatabase, opts: { metrics?: number } = {}): Promise<Config> {
  const config = configFor(dir, target);
  await migrateUp({ ...config, database: { ...config.database, type: 'sqlite' } });
  const db = new Database(config.database.path);
  db.exec(`
    INSERT INTO users (id, username, email, password_hash, created_at) VALUES
      (1, 'ann', 'ann@example.com', 'h1', '2026-01-02 03:04:05'),
      (2, 'Zoë 🎉 ünïcødé', 'zoe@example.com', 'tab\there\\back
newline', '2026-01-02 03:04:05.250'),
      (7, 'nulls', 'n@example.com', 'h3', NULL);
    INSERT INTO workflows (id, name, description, user_id, status, created_at) VALUES
      (1, 'w1', NULL, 1, 'active', '2026-03-01T10:00:00+02:00'),
      (2, 'w2', '\\N is not null', NULL, 'paused', '2026-03-01'),
      (3, 'w3', 'naïve\tcafé\\🎉
end', 1, 'active', '2026-03-01 00:00:00');
    INSERT INTO workflow_executions (workflow_id, status, started_at, completed_at, error_message) VALUES (1, 'completed', '2026-03-01 10:00:00', '2026-03-01 10:00:01.5', NULL);
    INSERT INTO agents (name, type, status, config_json) VALUES
      ('a1', 'shell', 'active', '{"timeout": 30000, "tags": ["x", "ü"], "nested": {"b": 1, "a": null}}'),
      ('a2', 'http', 'inactive', NULL);
  `);
  const ins = db.prepare('INSERT INTO metrics (metric_name, metric_value, labels_json, timestamp) VALUES (?, ?, ?, ?)');
  for (const v of FLOATS) ins.run('edge', v, '{"k":"v"}', '2026-01-01 00:00:00');
  const n = opts.metrics ?? 0;
  db.transaction(() => {
    for (let i = 0; i < n; i++)
      ins.run(
        `m${i % 7}`,
        i * 1.000001 + 0.1,
        i % 3 ? `{"host":"h${i % 5}","i":${i}}` : null,
        `2026-01-01 00:${String(i % 60).padStart(2, '0')}:00`,
      );
  })();
  // AUTOINCREMENT high-water mark above max(id): a deleted row's id must not be reused.
  db.exec(
    `INSERT INTO metrics (id, metric_name, metric_value) VALUES (100000, 'gone', 1); DELETE FROM metrics WHERE id = 100000;`,
  );
  db.close();
  return config;
}

/** Write to the source the way an old application could: foreign keys not enforced (SQLite's default). */
function typeMismatch(config: Config, sql: string): void {
  const db = new Database(config.database.path);
  db.pragma('foreign_keys = OFF');
  db.exec(sql);
  db.close();
}

const skip = !probe;

describe.skipIf(skip)('wks db copy (SQLite -> PostgreSQL)', () => {
  it('copies the edge cases exactly: counts and checksums equal, doubles bit-exact, UTC times, jsonb, sequences', async () => {
    const dir = tmpDir('copy');
    const target = await freshTarget();
    const config = await seedSource(dir, target, { metrics: 5000 });
    const res = await copyDatabase(config, { backup: true, batchRows: 700 });
    expect(res.verified).toBe(true);
    expect(res.reader).toBe('worker');
    expect(res.assumedZone).toBe('UTC');
    expect(res.backup && 'id' in res.backup && res.backup.id).toBeTruthy();
    expect(res.migrations?.current).toBeTruthy();
    for (const t of res.tables) {
      expect(t.match, t.table).toBe(true);
      expect(t.targetRows).toBe(t.rows);
      expect(t.targetChecksum).toBe(t.sourceChecksum);
    }
    const byName = Object.fromEntries(res.tables.map((t) => [t.table, t]));
    expect(byName.metrics!.rows).toBe(FLOATS.length + 5000);
    expect(byName.users!.rows).toBe(3);

    // doubles: the same 8 bytes
    const rows = await q<{ bits: Buffer }>(
      target,
      `SELECT float8send(metric_value) AS bits FROM metrics WHERE metric_name = 'edge' ORDER BY id`,
    );
    expect(rows.map((r) => r.bits.toString('hex'))).toEqual(
      FLOATS.map((f) =>
        Buffer.from(new Float64Array([f]).buffer)
          .reverse()
          .toString('hex'),
      ),
    );
    // unicode, escapes, NULLs
    const users = await q<{ id: number; username: string; password_hash: string; created_at: Date | null }>(
      target,
      'SELECT * FROM users ORDER BY id',
    );
    expect(users[1]!.username).toBe('Zoë 🎉 ünïcødé');
    expect(users[1]!.password_hash).toBe('tab\there\\back\nnewline');
    expect(users[1]!.created_at!.toISOString()).toBe('2026-01-02T03:04:05.250Z');
    expect(users[2]!.created_at).toBeNull();
    const wf = await q<{ description: string | null; user_id: number | null; created_at: Date }>(
      target,
      'SELECT * FROM workflows ORDER BY id',
    );
    expect(wf[0]!.description).toBeNull();
    expect(wf[1]!.description).toBe('\\N is not null');
    expect(wf[1]!.user_id).toBeNull();
    expect(wf[0]!.created_at.toISOString()).toBe('2026-03-01T08:00:00.000Z'); // +02:00 honoured
    expect(wf[2]!.description).toBe('naïve\tcafé\\🎉\nend'); // escapes and non-ASCII in one value
    // jsonb
    const ag = await q<{ config_json: unknown }>(target, 'SELECT config_json FROM agents ORDER BY id');
    expect(ag[0]!.config_json).toEqual({ timeout: 30000, tags: ['x', 'ü'], nested: { b: 1, a: null } });
    expect(ag[1]!.config_json).toBeNull();
    // sequences: next id = max(id) + 1, or past SQLite's AUTOINCREMENT high-water mark
    expect((await q<{ n: string }>(target, `SELECT nextval(pg_get_serial_sequence('users', 'id')) AS n`))[0]!.n).toBe(
      '8',
    );
    expect((await q<{ n: string }>(target, `SELECT nextval(pg_get_serial_sequence('metrics', 'id')) AS n`))[0]!.n).toBe(
      '100001',
    );
    // bookkeeping: the run is marked verified
    const run = await q<{ status: string }>(target, `SELECT status FROM ${PROGRESS_TABLE} WHERE table_name = $1`, [
      RUN_ROW,
    ]);
    expect(run[0]!.status).toBe('verified');
    // wks's own tables are not copied: the target keeps its own migration history
    expect(res.tables.map((t) => t.table)).not.toContain('schema_migrations');
  });

  it('inline reader gives the same checksums as the worker', async () => {
    const dir = tmpDir('copy');
    const a = await freshTarget();
    const config = await seedSource(dir, a, { metrics: 1000 });
    const r1 = await copyDatabase(config, { backup: false });
    const b = await freshTarget();
    const r2 = await copyDatabase(configFor(dir, b), { backup: false, inline: true });
    expect(r2.reader).toBe('inline');
    expect(r2.verified).toBe(true);
    expect(r2.tables.map((t) => [t.table, t.sourceChecksum])).toEqual(
      expect.arrayContaining(r1.tables.map((t) => [t.table, t.sourceChecksum])),
    );
  });

  it('a type-mismatched row fails by default (exit 1, table not written), skip-row lists it, null writes NULL', async () => {
    const dir = tmpDir('copy');
    const target = await freshTarget();
    const config = await seedSource(dir, target);
    // REAL affinity keeps text that does not look like a number: loose typing.
    typeMismatch(
      config,
      `INSERT INTO metrics (id, metric_name, metric_value) VALUES (500, 'bad', 'not-a-number'); INSERT INTO workflows (id, name, user_id) VALUES (9, 'w9', 'bob')`,
    );
    const err = await copyDatabase(config, { backup: false }).catch((e) => e);
    expect(err.exitCode).toBe(1);
    expect(err.message).toMatch(
      /type mismatch in (metrics, rowid 500, column metric_value|workflows, rowid 9, column user_id)/,
    );
    expect(err.hint).toMatch(/--on-type-error=skip-row/);
    const [{ n }] = await q<{ n: string }>(target, 'SELECT count(*) AS n FROM metrics');
    expect(Number(n)).toBe(0);
    const run = await q<{ status: string }>(target, `SELECT status FROM ${PROGRESS_TABLE} WHERE table_name = $1`, [
      RUN_ROW,
    ]);
    expect(run[0]!.status).toBe('in_progress'); // never looks complete

    // --dry-run lists every problem and writes nothing
    const dry = await copyDatabase(config, { dryRun: true });
    expect(dry.problems.count).toBe(2);
    expect(dry.problems.sample.map((p) => `${p.table}:${p.rowid}:${p.column}`).sort()).toEqual([
      'metrics:500:metric_value',
      'workflows:9:user_id',
    ]);

    // skip-row: listed in the report file (0600), verified over the rows written
    const report = path.join(dir, 'problems.jsonl');
    const res = await copyDatabase(config, {
      backup: false,
      truncate: true,
      onTypeError: 'skip-row',
      reportFile: report,
    });
    expect(res.verified).toBe(true);
    expect(res.problems.count).toBe(2);
    expect(res.problems.reportFile).toBe(report);
    expect(statSync(report).mode & 0o777).toBe(0o600);
    const lines = readFileSync(report, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.find((l) => l.table === 'metrics')).toMatchObject({
      rowid: '500',
      column: 'metric_value',
      action: 'skipped-row',
      row: { metric_name: 'bad', metric_value: 'not-a-number' },
    });
    const m = res.tables.find((t) => t.table === 'metrics')!;
    expect(m.skipped).toBe(1);
    expect(m.rows).toBe(m.sourceRows - 1);

    // null: the nullable column gets NULL; the NOT NULL one cannot, so it still fails
    const t2 = await freshTarget();
    const nullErr = await copyDatabase(configFor(dir, t2), {
      backup: false,
      onTypeError: 'null',
      reportFile: path.join(dir, 'n.jsonl'),
    }).catch((e) => e);
    expect(nullErr.message).toMatch(/metric_value: .*NOT NULL/);
    typeMismatch(config, `DELETE FROM metrics WHERE id = 500`);
    const t3 = await freshTarget();
    const nres = await copyDatabase(configFor(dir, t3), {
      backup: false,
      onTypeError: 'null',
      reportFile: path.join(dir, 'n2.jsonl'),
    });
    expect(nres.verified).toBe(true);
    expect(nres.problems.count).toBe(1);
    const w9 = await q<{ user_id: unknown }>(t3, 'SELECT user_id FROM workflows WHERE id = 9');
    expect(w9[0]!.user_id).toBeNull();
  });

  it('reports invalid JSON with table, rowid and column', async () => {
    const dir = tmpDir('copy');
    const target = await freshTarget();
    const config = await seedSource(dir, target);
    typeMismatch(
      config,
      `INSERT INTO agents (id, name, type, status, config_json) VALUES (42, 'broken', 'shell', 'active', '{"a": tru')`,
    );
    const err = await copyDatabase(config, { backup: false }).catch((e) => e);
    expect(err.message).toMatch(/agents, rowid 42, column config_json: invalid JSON/);
  });

  it('refuses a non-empty target unless --truncate; dry-run writes nothing', async () => {
    const dir = tmpDir('copy');
    const target = await freshTarget();
    const config = await seedSource(dir, target);
    const dry = await copyDatabase(config, { dryRun: true });
    expect(dry.plan.find((p) => p.table === 'metrics')!.columns.find((c) => c.name === 'metric_value')).toMatchObject({
      sqliteType: 'REAL',
      targetType: 'double precision',
    });
    expect(await q(target, `SELECT 1 FROM information_schema.tables WHERE table_schema = 'public'`)).toHaveLength(0);
    expect(existsSync(path.join(dir, 'backups'))).toBe(false);

    await copyDatabase(config, { backup: false });
    const again = await copyDatabase(config, { backup: false }).catch((e) => e);
    expect(again.exitCode).toBe(1);
    expect(again.message).toMatch(/not empty: .*metrics/);
    expect(again.hint).toMatch(/--truncate/);
    const res = await copyDatabase(config, { backup: false, truncate: true });
    expect(res.verified).toBe(true);
    const [{ n }] = await q<{ n: string }>(target, 'SELECT count(*) AS n FROM users');
    expect(Number(n)).toBe(3);
  });

  it('resume re-checks finished tables; a source that changed since is a verification failure (exit 3)', async () => {
    const dir = tmpDir('copy');
    const target = await freshTarget();
    const config = await seedSource(dir, target, { metrics: 2000 });
    await copyDatabase(config, { backup: false });
    // Pretend the run was interrupted after metrics: forget the other tables' rows and marks.
    await q(target, `UPDATE ${PROGRESS_TABLE} SET status = 'in_progress' WHERE table_name = $1`, [RUN_ROW]);
    await q(
      target,
      `TRUNCATE users, workflows, workflow_executions, workflow_execution_tracking, rate_limits, agents, agent_health_checks`,
    );
    await q(
      target,
      `DELETE FROM ${PROGRESS_TABLE} WHERE table_name IN ('users', 'workflows', 'workflow_executions', 'workflow_execution_tracking', 'rate_limits', 'agents', 'agent_health_checks')`,
    );
    const plain = await copyDatabase(config, { backup: false }).catch((e) => e);
    expect(plain.message).toMatch(/did not finish/);
    const res = await copyDatabase(config, { backup: false, resume: true });
    expect(res.verified).toBe(true);
    expect(res.tables.find((t) => t.table === 'metrics')!.status).toBe('resumed');
    expect(res.tables.find((t) => t.table === 'users')!.status).toBe('copied');

    // The source changes, then a resumed run re-checks metrics: mismatch -> exit 3 with the differences.
    await q(target, `UPDATE ${PROGRESS_TABLE} SET status = 'in_progress' WHERE table_name = $1`, [RUN_ROW]);
    typeMismatch(config, `UPDATE metrics SET metric_value = metric_value + 1 WHERE id = 3`);
    const err = await copyDatabase(config, { backup: false, resume: true }).catch((e) => e);
    expect(err).toBeInstanceOf(CopyVerificationError);
    expect(err.exitCode).toBe(3);
    expect(err.details.differences).toEqual([
      expect.objectContaining({ table: 'metrics', sourceRows: 2000 + FLOATS.length, targetRows: 2000 + FLOATS.length }),
    ]);
    const run = await q<{ status: string }>(target, `SELECT status FROM ${PROGRESS_TABLE} WHERE table_name = $1`, [
      RUN_ROW,
    ]);
    expect(run[0]!.status).toBe('failed');
  });

  it('a big table verified in two ctid ranges by two workers gives the same checksum as one pass', async () => {
    const target = await freshTarget();
    await q(target, `CREATE TABLE big (id BIGINT PRIMARY KEY, v DOUBLE PRECISION, j JSONB, t TEXT)`);
    await q(
      target,
      `INSERT INTO big SELECT g, g / 7.0, jsonb_build_object('g', g, 'b', 'x'), 'row ' || g FROM generate_series(1, 250000) g`,
    );
    const cols = [
      { name: 'id', dataType: 'bigint', kind: 'int8' as const, notNull: true },
      { name: 'v', dataType: 'double precision', kind: 'float' as const, notNull: false },
      { name: 'j', dataType: 'jsonb', kind: 'json' as const, notNull: false },
      { name: 't', dataType: 'text', kind: 'text' as const, notNull: false },
    ];
    const c = new pg.Client({ connectionString: target.url });
    await c.connect();
    try {
      await c.query(SESSION_SQL);
      const one = await targetChecksum(c, 'big', cols);
      const v = await openVerifier({ connectionString: target.url }, SESSION_SQL, async () => c);
      try {
        expect(v.mode).toBe('worker');
        const two = await v.checksum('big', cols, 250_000);
        expect(two).toEqual(one);
        expect(one.rows).toBe(250_000);
      } finally {
        await v.close();
      }
    } finally {
      await c.end();
    }
  });

  it('refuses without a target, and a missing source file', async () => {
    const dir = tmpDir('copy');
    const noPg = loadConfig({ env: { DATABASE_PATH: path.join(dir, 'app.db') }, cwd: dir }).config;
    await migrateUp(noPg);
    await expect(copyDatabase(noPg, {})).rejects.toMatchObject({ exitCode: 2 });
    const target = await freshTarget();
    await expect(copyDatabase(configFor(dir, target), { from: path.join(dir, 'nope.db') })).rejects.toMatchObject({
      exitCode: 5,
    });
    await expect(copyDatabase(configFor(dir, target), { tables: ['nope'], backup: false })).rejects.toMatchObject({
      exitCode: 5,
    });
  });
});
