/**
 * Migrations (#14 items 6-8): drift blocks `migrate up` (exit 3, the file and
 * both checksums) unless accepted with --allow-drift, which records who; a
 * migration without a down section says so in the dry run, and the hint
 * never leads into drift.
 */
import { describe, it, expect } from 'vitest';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { runWks } from '../helpers/cli.js';
import { tmpDir } from '../helpers/tmp.js';

function setup(tag: string) {
  const dir = tmpDir(tag);
  const migs = path.join(dir, 'migrations');
  mkdirSync(migs);
  const env = { DATABASE_PATH: path.join(dir, 'app.db'), WKS_MIGRATIONS_DIR: migs, TMPDIR: dir };
  return { dir, migs, env };
}

describe('drift blocks migrate up (#14.6)', () => {
  it('exit 3 naming the file and both checksums; --allow-drift records who accepted it', async () => {
    const { migs, env } = setup('mig-drift');
    const f = path.join(migs, '20260101000000_add_notes.sql');
    writeFileSync(
      f,
      '-- migrate:up\nCREATE TABLE notes (id INTEGER PRIMARY KEY);\n-- migrate:down\nDROP TABLE notes;\n',
    );
    const up = await runWks(['migrate', 'up', '--no-backup'], { env });
    expect(up.code, up.stderr).toBe(0);
    writeFileSync(f, readFileSync(f, 'utf8').replace('id INTEGER PRIMARY KEY', 'id INTEGER PRIMARY KEY, body TEXT'));

    const blocked = await runWks(['migrate', 'up', '--no-backup'], { env });
    expect(blocked.code, blocked.stderr).toBe(3);
    expect(blocked.stderr).toMatch(
      /^Error: migration 20260101000000_add_notes changed since it was applied: .*20260101000000_add_notes\.sql has checksum [0-9a-f]{16,}, the database recorded [0-9a-f]{16,}; nothing was applied/m,
    );
    expect(blocked.stderr).toMatch(/--allow-drift/);
    expect((await runWks(['migrate', 'up', '--dry-run'], { env })).code).toBe(3);

    const ok = await runWks(['migrate', 'up', '--no-backup', '--allow-drift'], { env });
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stderr).toMatch(/accepted the changed migration 20260101000000_add_notes/);
    const db = new Database(env.DATABASE_PATH, { readonly: true });
    const rows = db.prepare('SELECT version, accepted_by FROM wks_migration_drift_accepted').all();
    db.close();
    expect(rows).toEqual([{ version: '20260101000000', accepted_by: expect.stringMatching(/.+@.+/) }]);
    expect((await runWks(['migrate', 'up', '--no-backup'], { env })).code).toBe(0);
    expect((await runWks(['migrate', 'validate'], { env })).code).toBe(0);
  });
});

describe('a migration without a down section (#14.7, #14.8)', () => {
  it('down --dry-run says it cannot be rolled back; the hint does not lead into drift', async () => {
    const { migs, env } = setup('mig-nodown');
    writeFileSync(path.join(migs, '20260101000000_one_way.sql'), '-- migrate:up\nCREATE TABLE one_way (id INTEGER);\n');
    expect((await runWks(['migrate', 'up', '--no-backup'], { env })).code).toBe(0);
    const dry = await runWks(['migrate', 'down', '--dry-run'], { env });
    expect(dry.code, dry.stdout + dry.stderr).toBe(1);
    expect(dry.stderr).toMatch(
      /dry run: migration 20260101000000_one_way has no "-- migrate:down" section; it cannot be rolled back/,
    );
    expect(dry.stdout).not.toMatch(/would roll back/);
    const real = await runWks(['migrate', 'down', '--yes'], { env });
    expect(real.code).toBe(1);
    expect(real.stderr).toMatch(/^Try: revert it with a new migration \(`wks migrate new revert_one_way`/m);
    expect(real.stderr).not.toMatch(/add a down section/);
    // Following nothing but the hint keeps validate clean (no drift).
    expect((await runWks(['migrate', 'validate'], { env })).code).toBe(0);
  });
});

describe('dbmate interoperability: schema_migrations stays dbmate-compatible (#14.9)', () => {
  it("dbmate's insert works on a wks database; wks reads a dbmate database without a raw SQL error", async () => {
    const { env } = setup('mig-dbmate');
    expect((await runWks(['migrate', 'up', '--no-backup'], { env })).code).toBe(0);
    // What `dbmate up` does after applying its own file (see dbmate's sqlite driver).
    const db = new Database(env.DATABASE_PATH);
    db.prepare('INSERT INTO "schema_migrations" (version) VALUES (?)').run('20990101000000');
    db.close();
    const st = await runWks(['migrate', 'status'], { env });
    expect(st.code, st.stderr).toBe(0);
    expect(st.stdout).toMatch(/20990101000000.*applied by another tool, checksum unknown/);
    expect((await runWks(['migrate', 'validate'], { env })).code).toBe(0);

    // A database dbmate created: its table has only `version`.
    const other = setup('mig-dbmate-2');
    const d2 = new Database(other.env.DATABASE_PATH);
    d2.exec('CREATE TABLE IF NOT EXISTS "schema_migrations" (version varchar(128) primary key)');
    d2.exec("INSERT INTO schema_migrations (version) VALUES ('20240101000000'); CREATE TABLE things (id INTEGER)");
    d2.close();
    const s2 = await runWks(['migrate', 'status'], { env: other.env });
    expect(s2.stderr).not.toMatch(/no such column/);
    expect(s2.stdout).toMatch(/20240101000000.*applied by another tool, checksum unknown/);
    const up = await runWks(['migrate', 'up', '--no-backup'], { env: other.env });
    expect(up.code, up.stderr).toBe(0);
    expect(up.stderr).not.toMatch(/no such column|SQLITE_/);
    const d3 = new Database(other.env.DATABASE_PATH);
    d3.prepare('INSERT INTO schema_migrations (version) VALUES (?)').run('20990101000001');
    d3.close();
  });
});
