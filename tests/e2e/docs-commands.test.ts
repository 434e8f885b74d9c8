/**
 * The runbooks' commands, run as written (#18): every code block of
 * docs/backup-and-recovery.md, docs/migrations.md and docs/serve.md marked
 * `<!-- run: NAME -->` is read from the doc and run line by line in bash, in
 * a temporary directory, with `wks` on PATH (bin/wks.js) against the real
 * SQLite, PostgreSQL and pg tools, after the scenario NAME below prepared what
 * the runbook assumes (backups exist, the database is gone...). Placeholders the
 * doc says stand for your values (`/srv/wks`, a backup id, a key) are replaced by
 * real ones; nothing else is changed. Each line must exit 0, or the code its
 * comment names (`(exit N)`, `critical` = 2). tests/unit/docs-commands.test.ts
 * checks that every block with a wks command is run here, by a named test, or
 * marked as an example that cannot run here.
 */
import { describe, it, expect, afterAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { REPO, WKS_BIN, baseEnv, runWks } from '../helpers/cli.js';
import { createTestDatabase, TEST_PG_URL, type TestDatabase } from '../helpers/services.js';
import { tmpDir } from '../helpers/tmp.js';
import { docBlocks, type DocBlock } from '../helpers/doc-blocks.js';

const KEY = 'a'.repeat(64);
const pgdbs: TestDatabase[] = [];
const extraDbs: string[] = [];
afterAll(async () => {
  for (const d of pgdbs) await d.drop();
  if (extraDbs.length) {
    const c = new pg.Client({ connectionString: TEST_PG_URL });
    await c.connect();
    for (const n of extraDbs) await c.query(`DROP DATABASE IF EXISTS ${n} WITH (FORCE)`);
    await c.end();
  }
});

interface Scenario {
  /** The working directory and environment the runbook starts in. */
  cwd: string;
  env: Record<string, string>;
  /** Placeholder in the doc -> real value. */
  subst: Array<[string | RegExp, string]>;
}

/** Logical lines of a block (a quoted string may span lines), comments kept for the expected exit. */
function logicalLines(block: DocBlock): string[] {
  const out: string[] = [];
  let cur = '';
  for (const l of block.lines) {
    cur = cur ? `${cur}\n${l}` : l;
    if (((cur.match(/"/g) ?? []).length + (cur.match(/'/g) ?? []).length) % 2 === 0) {
      out.push(cur);
      cur = '';
    }
  }
  if (cur) out.push(cur);
  return out.filter((l) => l.trim() && !l.trim().startsWith('#'));
}

/** The exit a line's comment announces: `(exit N)`, `critical` (health: 2), else 0. */
function expectedExit(line: string): number {
  const comment = / #\s(.*)$/.exec(line)?.[1] ?? '';
  const m = /\(exit (\d+)\)/.exec(comment);
  if (m) return Number(m[1]);
  if (/^critical\b/.test(comment)) return 2;
  return 0;
}

/** Run the block's lines in one bash, in order; returns each line's exit code and output. */
function runBlock(
  block: DocBlock,
  sc: Scenario,
  opts: { cron?: boolean } = {},
): Array<{ line: string; code: number; out: string }> {
  const bin = path.join(sc.cwd, '.bin');
  if (!existsSync(bin)) {
    mkdirSync(bin);
    symlinkSync(WKS_BIN, path.join(bin, 'wks'));
  }
  const results: Array<{ line: string; code: number; out: string }> = [];
  const lines = logicalLines(block).map((l) => {
    let s = l;
    for (const [from, to] of sc.subst) s = s.split(from as string).join(to);
    return opts.cron ? s.replace(/^(\S+\s+){5}/, '') : s;
  });
  // One shell, so exports and variables carry from line to line, as in a terminal.
  const script = `exec 2>&1\n${lines.map((l, i) => `${l}\necho "@@rc ${i} $?"`).join('\n')}`;
  const env = baseEnv({ ...sc.env, PATH: `${bin}:${path.dirname(process.execPath)}:/usr/bin:/bin` });
  const r = spawnSync('bash', ['-c', script], { cwd: sc.cwd, env, encoding: 'utf8', timeout: 120_000 });
  const err = r.stdout ?? '';
  let last = 0;
  lines.forEach((line, i) => {
    const m = new RegExp(`^@@rc ${i} (\\d+)$`, 'm').exec(err);
    const end = m ? err.indexOf(m[0]) : err.length;
    results.push({ line, code: m ? Number(m[1]) : -1, out: err.slice(last, end) });
    last = end + (m?.[0].length ?? 0);
  });
  return results;
}

function expectAsDocumented(results: ReturnType<typeof runBlock>): void {
  for (const r of results)
    expect({ line: r.line, code: r.code }, r.out).toEqual({ line: r.line, code: expectedExit(r.line) });
}

/** A migrated SQLite database with `n` backups (encrypted with KEY when asked), under `root`. */
async function sqliteWithBackups(
  n: number,
  opts: { encrypt?: boolean; root?: string } = {},
): Promise<{ cwd: string; env: Record<string, string>; ids: string[] }> {
  const cwd = tmpDir('docs-cmd');
  const root = opts.root ?? cwd;
  mkdirSync(root, { recursive: true });
  const env: Record<string, string> = {
    DATABASE_PATH: path.join(root, 'workstation.db'),
    BACKUP_STORAGE_PATH: path.join(root, 'backups'),
    ...(opts.encrypt ? { BACKUP_ENCRYPTION_KEY: KEY } : {}),
  };
  const m = await runWks(['migrate', 'up', '--no-backup'], { cwd, env });
  expect(m.code, m.stderr).toBe(0);
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const c = await runWks(['backup', 'create', ...(opts.encrypt ? ['--encrypt'] : []), '--json'], { cwd, env });
    expect(c.code, c.stderr).toBe(0);
    ids.push(c.json().id ?? c.json().backup?.id);
  }
  return { cwd, env, ids };
}

const B = 'docs/backup-and-recovery.md';
const M = 'docs/migrations.md';
const block = (doc: string, name: string): DocBlock => {
  const b = docBlocks(path.join(REPO, doc)).find((x) => x.marker?.kind === 'run' && x.marker.value === name);
  if (!b) throw new Error(`${doc} has no block marked <!-- run: ${name} -->`);
  return b;
};

describe('docs/backup-and-recovery.md, run as written', () => {
  it("scenario('sources'): list by source, rotate per source", async () => {
    const s = await sqliteWithBackups(2);
    const key = (await runWks(['backup', 'list', '--json'], s)).json().backups[0].source_key as string;
    const res = runBlock(block(B, 'sources'), {
      ...s,
      subst: [['sqlite:1a2b3c4d', key.slice(0, 'sqlite:'.length + 8)]],
    });
    expectAsDocumented(res);
    for (const i of [0, 1, 2]) for (const id of s.ids) expect(res[i]!.out).toContain(id);
  });

  it("scenario('cron'): the crontab's commands", async () => {
    const s = await sqliteWithBackups(1);
    expectAsDocumented(runBlock(block(B, 'cron'), { ...s, subst: [] }, { cron: true }));
  });

  it("scenario('standard-restore'): pick the backup", async () => {
    const s = await sqliteWithBackups(2);
    const oldest = s.ids[0]!;
    const res = runBlock(block(B, 'standard-restore'), {
      ...s,
      subst: [
        ['20261129T02', oldest],
        ['2026-11-29T01:30:00Z', new Date(Date.now() + 60_000).toISOString().replace(/\.\d{3}Z$/, 'Z')],
      ],
    });
    expectAsDocumented(res);
    expect(res[2]!.out).toContain(oldest);
    expect(res[1]!.out).toContain(s.ids[1]!);
  });

  it("scenario('emergency-sqlite'): the database file is gone", async () => {
    const cwd = tmpDir('docs-cmd-srv');
    const root = path.join(cwd, 'srv/wks');
    const s = await sqliteWithBackups(1, { encrypt: true, root });
    rmSync(s.env.DATABASE_PATH!);
    const res = runBlock(block(B, 'emergency-sqlite'), {
      cwd: s.cwd,
      env: {},
      subst: [
        ['/srv/wks', root],
        ['BACKUP_ENCRYPTION_KEY=...', `BACKUP_ENCRYPTION_KEY=${KEY}`],
      ],
    });
    expectAsDocumented(res);
    expect(existsSync(s.env.DATABASE_PATH!)).toBe(true);
  });

  it("scenario('pg-restore'): a copy beside the live database, then replace it", async (ctx) => {
    const db = await createTestDatabase('docs_pgrestore');
    if (!db) return ctx.skip();
    pgdbs.push(db);
    const cwd = tmpDir('docs-cmd-pg');
    const env = { ...db.env, BACKUP_STORAGE_PATH: path.join(cwd, 'backups') };
    expect((await runWks(['migrate', 'up', '--no-backup'], { cwd, env })).code).toBe(0);
    const c = await runWks(['backup', 'create', '--json'], { cwd, env });
    expect(c.code, c.stderr).toBe(0);
    const inspect = `${db.name}_inspect`;
    extraDbs.push(inspect);
    const id = (await runWks(['backup', 'list', '--json'], { cwd, env })).json().backups[0].id as string;
    const res = runBlock(block(B, 'pg-restore'), {
      cwd,
      env,
      subst: [
        ['wks_inspect', inspect],
        ['20261129T02', id.slice(0, 15)],
      ],
    });
    expectAsDocumented(res);
  });

  it("scenario('emergency-pg'): the database was dropped", async (ctx) => {
    const db = await createTestDatabase('docs_pgemerg');
    if (!db) return ctx.skip();
    pgdbs.push(db);
    const cwd = tmpDir('docs-cmd-pg');
    const root = path.join(cwd, 'srv/wks');
    const env = { ...db.env, BACKUP_STORAGE_PATH: path.join(root, 'backups') };
    expect((await runWks(['migrate', 'up', '--no-backup'], { cwd, env })).code).toBe(0);
    expect((await runWks(['backup', 'create'], { cwd, env })).code).toBe(0);
    const admin = new pg.Client({ connectionString: TEST_PG_URL });
    await admin.connect();
    await admin.query(`DROP DATABASE ${db.name} WITH (FORCE)`);
    await admin.end();
    const res = runBlock(block(B, 'emergency-pg'), {
      cwd,
      env: {},
      subst: [
        ['PG_HOST=db2', `PG_HOST=${db.host} PG_PORT=${db.env.PG_PORT}`],
        ['PG_DATABASE=workstation', `PG_DATABASE=${db.name}`],
        ['PG_USER=wks', `PG_USER=${db.user}`],
        ['/srv/wks', root],
      ],
    });
    expectAsDocumented(res);
  });
});

describe('docs/migrations.md, run as written', () => {
  it("scenario('migrate-ci'): validate, up --json, status --exit-code", async () => {
    const cwd = tmpDir('docs-cmd-mig');
    const res = runBlock(block(M, 'migrate-ci'), {
      cwd,
      env: { DATABASE_PATH: path.join(cwd, 'workstation.db'), BACKUP_STORAGE_PATH: path.join(cwd, 'backups') },
      subst: [],
    });
    expectAsDocumented(res);
    expect(existsSync(path.join(cwd, 'migrate.json'))).toBe(true);
  });

  it("scenario('baseline'): adopt a database the old application created", async () => {
    const cwd = tmpDir('docs-cmd-base');
    const file = path.join(cwd, 'workstation.db');
    const env = { DATABASE_PATH: file, BACKUP_STORAGE_PATH: path.join(cwd, 'backups') };
    // The old application's tables: 0001 applied by hand, no migration history.
    const sql = path.join(REPO, 'src/migrate/sql/sqlite/0001_phase1_3_tables.sql');
    const up = spawnSync('sh', ['-c', `sed -n '/migrate:up/,/migrate:down/p' "${sql}" | sqlite3 "${file}"`], {
      encoding: 'utf8',
    });
    expect(up.status, up.stderr).toBe(0);
    expectAsDocumented(runBlock(block(M, 'baseline'), { cwd, env, subst: [] }));
  });
});
