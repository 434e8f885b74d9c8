/**
 * Hints are ready to paste (#14 item 21): no `<ns>` / `<id>` placeholders
 * for values wks knows, and a failing built-in migration never asks the
 * user to edit a file inside the installed package.
 */
import { describe, it, expect, afterAll } from 'vitest';
import path from 'node:path';
import Database from 'better-sqlite3';
import { runWks } from '../helpers/cli.js';
import { createTestRedis } from '../helpers/services.js';
import { tmpDir } from '../helpers/tmp.js';

const redis = await createTestRedis('e2ehints');
afterAll(async () => redis?.cleanup());

describe.skipIf(!redis)('discrepancy hints name the real key, id, holder and connection', () => {
  it('active set member without a row, lock without a row', async () => {
    const cwd = tmpDir('e2e-hints');
    const env = { ...redis!.env, DATABASE_PATH: path.join(cwd, 'wks.db') };
    const m = await runWks(['migrate', 'up', '--no-backup'], { cwd, env });
    expect(m.code, m.stderr).toBe(0);
    const active = `${redis!.namespace}:executions:active`;
    await redis!.client.sadd(active, '4242');
    await redis!.client.set(`${redis!.namespace}:lock:execution:4343`, 'worker-z', 'EX', 300);
    const r = await runWks(['workflow', 'list', '--json'], { cwd, env });
    expect(r.code, r.stderr).toBe(0);
    const d = r.json().discrepancies as Array<{ kind: string; executionId: string; action: string }>;
    const a = d.find((x) => x.kind === 'active_without_db_row')!;
    expect(a.action).toBe(
      `remove the member: \`wks workflow release 4242\` (by hand: \`redis-cli -h ${redis!.host} -p ${redis!.port}${redis!.db ? ` -n ${redis!.db}` : ''} SREM ${active} 4242\`)`,
    );
    const l = d.find((x) => x.kind === 'lock_without_db_row')!;
    expect(l.action).toBe('if worker-z is gone, release it: `wks lock release 4343 --worker worker-z`');
    for (const x of d) expect(x.action).not.toMatch(/<\w+>/);
  });
});

describe('a failing built-in migration', () => {
  it('does not ask to edit a file inside the installed package', async () => {
    const cwd = tmpDir('e2e-hints-mig');
    const file = path.join(cwd, 'app.db');
    const db = new Database(file);
    db.exec('CREATE TABLE metrics (x INTEGER)'); // the platform's 0002 creates `metrics`
    db.close();
    const r = await runWks(['migrate', 'up', '--no-backup'], { cwd, env: { DATABASE_PATH: file } });
    expect(r.code).not.toBe(0);
    const hint = /^Try: (.*)$/m.exec(r.stderr)?.[1] ?? '';
    expect(hint).not.toMatch(/fix \S*sql\/sqlite\/\S+\.sql/);
    expect(hint).not.toMatch(/node_modules|dist\/|src\/migrate\/sql/);
    expect(hint).toMatch(/one of wks's own migrations/);
    expect(hint).toMatch(/wks migrate status/);
  });
});
