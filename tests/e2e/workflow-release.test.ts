/**
 * `wks workflow release <id>` (#18 item 5) as an operator runs it, against the
 * real Redis and a real SQLite file: the discrepancy hint leads with it, it
 * repairs only what the reaper's checks prove stale, --force needs a reason
 * and says which check it overrode, --dry-run changes nothing, off a TTY it
 * needs --yes, and the redis-cli fallback carries the connection wks uses but
 * never the password.
 */
import { describe, it, expect, afterAll, beforeAll } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import Database from 'better-sqlite3';
import { runWks, runOnTty, hasScript } from '../helpers/cli.js';
import pg from 'pg';
import { createTestDatabase, createTestRedis } from '../helpers/services.js';
import { freePort } from '../helpers/net.js';
import { tmpDir } from '../helpers/tmp.js';

const redis = await createTestRedis('e2erelease');
afterAll(async () => redis?.cleanup());

const STACK = /\n\s+at /;
const iso = (minutesAgo: number) => new Date(Date.now() - minutesAgo * 60_000).toISOString();

describe.skipIf(!redis)('wks workflow release', () => {
  const cwd = tmpDir('e2e-release');
  const file = path.join(cwd, 'wks.db');
  const env = () => ({ ...redis!.env, DATABASE_PATH: file, WORKFLOW_TIMEOUT_MS: '300000' });
  const ns = () => redis!.namespace;
  const active = () => `${ns()}:executions:active`;
  const lock = (id: string | number) => `${ns()}:lock:execution:${id}`;
  const state = (id: string | number) => `${ns()}:workflow:${id}`;
  const c = () => redis!.client;

  /** One execution row (+ tracking row naming `worker`). */
  function seed(id: number, status: string, startedMinutesAgo: number | null, worker: string | null = null): void {
    const db = new Database(file);
    try {
      db.prepare(
        'INSERT INTO workflow_executions (id, workflow_id, status, started_at, completed_at) VALUES (?, 1, ?, ?, ?)',
      ).run(
        id,
        status,
        startedMinutesAgo === null ? null : iso(startedMinutesAgo),
        status === 'completed' || status === 'failed' ? iso(0) : null,
      );
      if (worker)
        db.prepare(
          'INSERT INTO workflow_execution_tracking (execution_id, workflow_id, started_at, retry_count, lock_acquired_at, worker_id) VALUES (?, 1, ?, 0, ?, ?)',
        ).run(id, startedMinutesAgo === null ? null : iso(startedMinutesAgo), iso(startedMinutesAgo ?? 0), worker);
    } finally {
      db.close();
    }
  }
  const row = (id: number) =>
    new Database(file, { readonly: true })
      .prepare('SELECT status, error_message FROM workflow_executions WHERE id = ?')
      .get(id) as { status: string; error_message: string | null };
  const audit = (id: number) =>
    new Database(file, { readonly: true })
      .prepare('SELECT holder, forced, reason, outcome, source FROM lock_release_audit WHERE execution_id = ?')
      .all(String(id)) as Array<{ holder: string; forced: number; reason: string; outcome: string; source: string }>;

  beforeAll(async () => {
    const m = await runWks(['migrate', 'up', '--no-backup'], { cwd, env: env() });
    expect(m.code, m.stderr).toBe(0);
    const db = new Database(file);
    db.exec("INSERT INTO workflows (id, name, status) VALUES (1, 'nightly-report', 'active')");
    db.close();
  });

  it('the hint leads with the wks command; pasted as printed (+ -y), it removes the member and the lock of a finished execution', async () => {
    seed(101, 'completed', 3);
    await c().sadd(active(), '101', '4242');
    await c().set(lock(101), 'worker-a', 'EX', 300);
    const list = await runWks(['workflow', 'list', '--json'], { cwd, env: env() });
    expect(list.code, list.stderr).toBe(0);
    const d = list.json().discrepancies as Array<{ kind: string; executionId: string; action: string }>;
    const fin = d.find((x) => x.kind === 'finished_in_active_set' && x.executionId === '101')!;
    const orphan = d.find((x) => x.kind === 'active_without_db_row' && x.executionId === '4242')!;
    const cli = `redis-cli -h ${redis!.host} -p ${redis!.port}${redis!.db ? ` -n ${redis!.db}` : ''}`;
    expect(fin.action).toBe(
      `remove the member: \`wks workflow release 101\` (by hand: \`${cli} SREM ${active()} 101\`)`,
    );
    expect(orphan.action).toBe(
      `remove the member: \`wks workflow release 4242\` (by hand: \`${cli} SREM ${active()} 4242\`)`,
    );

    for (const hint of [fin.action, orphan.action]) {
      const cmd = /`wks (workflow release \S+)`/.exec(hint)![1]!.split(' ');
      const r = await runWks([...cmd, '-y', '--json'], { cwd, env: env() });
      expect(r.code, r.stderr).toBe(0);
      expect(r.json()).toMatchObject({ outcome: 'released', removedFromActive: true, markedFailed: false });
    }
    expect(await c().sismember(active(), '101')).toBe(0);
    expect(await c().sismember(active(), '4242')).toBe(0);
    expect(await c().exists(lock(101))).toBe(0);
    expect(row(101).status).toBe('completed');
    expect(audit(101)).toEqual([
      expect.objectContaining({ holder: 'worker-a', forced: 0, outcome: 'released', source: 'workflow release' }),
    ]);
    const again = await runWks(['workflow', 'list', '--json'], { cwd, env: env() });
    expect(
      (again.json().discrepancies as Array<{ executionId: string }>).filter((x) =>
        ['101', '4242'].includes(x.executionId),
      ),
    ).toEqual([]);
  });

  it('a running execution under the threshold is refused (exit 4) and left as it was', async () => {
    seed(102, 'running', 1, 'worker-b');
    await c().sadd(active(), '102');
    await c().set(lock(102), 'worker-b', 'EX', 300);
    const r = await runWks(['workflow', 'release', '102', '-y'], { cwd, env: env() });
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toMatch(
      /^Error: execution 102: nothing proves its Redis state stale \(execution running for 1m.*, under the stuck threshold \(5m\): a worker may be on it\); left in place$/m,
    );
    expect(r.stderr).toMatch(
      /^Try: wait and check `wks workflow show 102`; if its worker is gone: wks workflow release 102 --force --reason "\.\.\."$/m,
    );
    expect(r.stderr).not.toMatch(STACK);
    expect(await c().sismember(active(), '102')).toBe(1);
    expect(await c().get(lock(102))).toBe('worker-b');
    expect(row(102).status).toBe('running');
  });

  it('--force needs --reason (exit 2); with one it says which check it overrode, reaps it and force-releases the lock', async () => {
    const noReason = await runWks(['workflow', 'release', '102', '--force', '-y'], { cwd, env: env() });
    expect(noReason.code).toBe(2);
    expect(noReason.stderr).toMatch(/^Error: --force requires --reason$/m);
    await c().set(lock(102), 'worker-other', 'EX', 300); // a holder other than the tracking row's worker
    const r = await runWks(['workflow', 'release', '102', '--force', '--reason', 'pool drained, INC-7', '-y'], {
      cwd,
      env: env(),
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/FORCED \("pool drained, INC-7"\) although execution running for 1m/);
    expect(r.stderr).toMatch(/released execution 102 \[forced\]/);
    expect(await c().sismember(active(), '102')).toBe(0);
    expect(await c().exists(lock(102))).toBe(0);
    expect(row(102).status).toBe('failed');
    expect(row(102).error_message).toMatch(/^released by wks \(.*\) at .*: forced: pool drained, INC-7$/);
    expect(audit(102)).toEqual([
      expect.objectContaining({
        holder: 'worker-other',
        forced: 1,
        reason: 'pool drained, INC-7',
        outcome: 'released',
      }),
    ]);
  });

  it('a running execution past the threshold is reaped like `workflow reap`; a lock a retry took over is kept', async () => {
    seed(103, 'running', 20, 'worker-c');
    await c().sadd(active(), '103');
    await c().hset(state(103), 'status', 'running', 'progress', '40');
    await c().set(lock(103), 'worker-retry', 'EX', 300);
    const r = await runWks(['workflow', 'release', '103', '-y', '--json'], { cwd, env: env() });
    expect(r.code, r.stderr).toBe(0);
    const doc = r.json();
    expect(doc).toMatchObject({
      outcome: 'released',
      markedFailed: true,
      removedFromActive: true,
      lock: 'kept',
      lockHolder: 'worker-retry',
      plan: { proof: expect.stringMatching(/^running 20m.*, past 5m$/), failedCheck: null, force: false },
    });
    expect(row(103).status).toBe('failed');
    expect(await c().hget(state(103), 'status')).toBe('failed');
    expect(await c().get(lock(103))).toBe('worker-retry');
  });

  it('an active member with no row while a worker holds its lock is refused (exit 4), pointing at lock release', async () => {
    await c().sadd(active(), '777');
    await c().set(lock(777), 'worker-z', 'EX', 300);
    const r = await runWks(['workflow', 'release', '777', '-y'], { cwd, env: env() });
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toMatch(/no execution row, but worker-z holds its lock/);
    expect(r.stderr).toMatch(
      /^Try: if worker-z is gone: wks lock release 777 --worker worker-z, then wks workflow release 777; or wks workflow release 777 --force --reason "\.\.\."$/m,
    );
    expect(await c().sismember(active(), '777')).toBe(1);
    expect(await c().get(lock(777))).toBe('worker-z');
    // The hint's two steps, as printed (+ -y off a terminal).
    const l = await runWks(['lock', 'release', '777', '--worker', 'worker-z', '-y'], { cwd, env: env() });
    expect(l.code, l.stderr).toBe(0);
    const w = await runWks(['workflow', 'release', '777', '-y'], { cwd, env: env() });
    expect(w.code, w.stderr).toBe(0);
    expect(await c().sismember(active(), '777')).toBe(0);
  });

  it('--dry-run changes nothing; off a TTY without --yes it refuses (exit 2); nothing to release exits 5', async () => {
    seed(104, 'failed', 2);
    await c().sadd(active(), '104');
    const dry = await runWks(['workflow', 'release', '104', '--dry-run'], { cwd, env: env() });
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(
      new RegExp(
        `^dry run: execution 104 \\(execution failed in the database\\): would remove it from ${active()}; nothing changed$`,
        'm',
      ),
    );
    const noYes = await runWks(['workflow', 'release', '104'], { cwd, env: env() });
    expect(noYes.code).toBe(2);
    expect(noYes.stderr).toMatch(/no terminal to ask on/);
    expect(await c().sismember(active(), '104')).toBe(1);
    const ok = await runWks(['-q', 'workflow', 'release', '104', '-y'], { cwd, env: env() });
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout + ok.stderr).toBe('');
    const none = await runWks(['workflow', 'release', '104', '-y'], { cwd, env: env() });
    expect(none.code).toBe(5);
    expect(none.stderr).toMatch(/^Error: execution 104 has no Redis state to release/m);
  });

  it.runIf(hasScript)('on a terminal it asks: "n" exits 1 and changes nothing, "y" releases', async () => {
    seed(105, 'completed', 2);
    await c().sadd(active(), '105');
    const no = await runOnTty(['workflow', 'release', '105'], env(), 'n\r', cwd);
    expect(no.out).toMatch(/Execution 105 \(completed, execution completed in the database\): remove it from/);
    expect(no.code, no.out).toBe(1);
    expect(await c().sismember(active(), '105')).toBe(1);
    const yes = await runOnTty(['workflow', 'release', '105'], env(), 'y\r', cwd);
    expect(yes.code, yes.out).toBe(0);
    expect(await c().sismember(active(), '105')).toBe(0);
  });

  it('with Redis disabled it exits 78 naming REDIS_ENABLED', async () => {
    const r = await runWks(['workflow', 'release', '1', '-y'], { cwd, env: { ...env(), REDIS_ENABLED: 'false' } });
    expect(r.code).toBe(78);
    expect(r.stderr).toMatch(/REDIS_ENABLED/);
  });
});

describe('a Redis with a password', () => {
  const hasServer = spawnSync('redis-server', ['--version']).status === 0;
  const PASSWORD = 'hunter2-release-secret';
  let server: ChildProcess | null = null;
  let port = 0;

  beforeAll(async () => {
    if (!hasServer) return;
    port = await freePort();
    server = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--requirepass', PASSWORD],
      { stdio: 'ignore' },
    );
    for (let i = 0; i < 100; i++) {
      const r = spawnSync('redis-cli', ['-p', String(port), '--no-auth-warning', '-a', PASSWORD, 'ping'], {
        encoding: 'utf8',
      });
      if (r.stdout.trim() === 'PONG') return;
      await new Promise((res) => setTimeout(res, 50));
    }
    throw new Error('the private redis-server did not start');
  });
  afterAll(() => {
    server?.kill('SIGKILL');
  });

  it('the hint asks for the password (--askpass) instead of printing it, and both repairs it names work', async (ctx) => {
    if (!hasServer) {
      if (process.env.CI === 'true') throw new Error('redis-server is required under CI');
      ctx.skip();
    }
    const cwd = tmpDir('e2e-release-pw');
    const env = {
      DATABASE_PATH: path.join(cwd, 'wks.db'),
      REDIS_ENABLED: 'true',
      REDIS_HOST: '127.0.0.1',
      REDIS_PORT: String(port),
      REDIS_DB: '3',
      REDIS_NAMESPACE: 'acme',
      REDIS_PASSWORD: PASSWORD,
    };
    expect((await runWks(['migrate', 'up', '--no-backup'], { cwd, env })).code).toBe(0);
    const auth = ['-p', String(port), '-n', '3', '--no-auth-warning', '-a', PASSWORD];
    spawnSync('redis-cli', [...auth, 'SADD', 'acme:executions:active', '9001', '9002']);
    const list = await runWks(['workflow', 'list', '--json'], { cwd, env });
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout + list.stderr).not.toContain(PASSWORD);
    const hints = (list.json().discrepancies as Array<{ executionId: string; action: string }>).filter((d) =>
      ['9001', '9002'].includes(d.executionId),
    );
    expect(hints.map((h) => h.action)).toEqual([
      `remove the member: \`wks workflow release 9001\` (by hand: \`redis-cli -h 127.0.0.1 -p ${port} -n 3 --askpass SREM acme:executions:active 9001\`)`,
      `remove the member: \`wks workflow release 9002\` (by hand: \`redis-cli -h 127.0.0.1 -p ${port} -n 3 --askpass SREM acme:executions:active 9002\`)`,
    ]);

    // The wks command, as printed.
    const r = await runWks(['workflow', 'release', '9001', '-y'], { cwd, env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout + r.stderr).not.toContain(PASSWORD);
    // The manual fallback, as printed: --askpass reads the password from standard input.
    const manual = /by hand: `redis-cli (.*)`/.exec(hints[1]!.action)![1]!.split(' ');
    const m = spawnSync('redis-cli', manual, { input: `${PASSWORD}\n`, encoding: 'utf8' });
    expect(m.stdout.trim()).toBe('1');
    const left = spawnSync('redis-cli', [...auth, 'SCARD', 'acme:executions:active'], { encoding: 'utf8' });
    expect(left.stdout.trim()).toBe('0');
  });
});

describe.skipIf(!redis)('wks workflow release on PostgreSQL', () => {
  it('a running execution past the threshold is reaped and its lock released (audited); a young one is refused', async (ctx) => {
    const db = await createTestDatabase('e2e_release');
    if (!db) return ctx.skip();
    try {
      const cwd = tmpDir('e2e-release-pg');
      const env = {
        ...redis!.env,
        REDIS_NAMESPACE: `${redis!.namespace}-pg`,
        ...db.env,
        BACKUP_STORAGE_PATH: path.join(cwd, 'b'),
        WORKFLOW_TIMEOUT_MS: '300000',
      };
      const m = await runWks(['migrate', 'up', '--no-backup'], { cwd, env });
      expect(m.code, m.stderr).toBe(0);
      const c = new pg.Client({ connectionString: db.url });
      await c.connect();
      try {
        await c.query("INSERT INTO workflows (id, name, status) VALUES (1, 'nightly-report', 'active')");
        await c.query(
          "INSERT INTO workflow_executions (id, workflow_id, status, started_at) VALUES (201, 1, 'running', now() - interval '30 minutes'), (202, 1, 'running', now() - interval '1 minute')",
        );
        await c.query(
          "INSERT INTO workflow_execution_tracking (execution_id, workflow_id, started_at, retry_count, lock_acquired_at, worker_id) VALUES (201, 1, now() - interval '30 minutes', 0, now() - interval '30 minutes', 'w-pg')",
        );
        const ns = env.REDIS_NAMESPACE;
        await redis!.client.sadd(`${ns}:executions:active`, '201', '202');
        await redis!.client.set(`${ns}:lock:execution:201`, 'w-pg', 'EX', 300);

        const young = await runWks(['workflow', 'release', '202', '-y'], { cwd, env });
        expect(young.code, young.stderr).toBe(4);
        const r = await runWks(['workflow', 'release', '201', '-y', '--json'], { cwd, env });
        expect(r.code, r.stderr).toBe(0);
        expect(r.json()).toMatchObject({ markedFailed: true, removedFromActive: true, lock: 'released' });
        const rows = await c.query('SELECT id, status FROM workflow_executions ORDER BY id');
        expect(rows.rows).toEqual([
          { id: '201', status: 'failed' },
          { id: '202', status: 'running' },
        ]);
        const a = await c.query("SELECT holder, outcome, source FROM lock_release_audit WHERE execution_id = '201'");
        expect(a.rows).toEqual([{ holder: 'w-pg', outcome: 'released', source: 'workflow release' }]);
        expect(await redis!.client.smembers(`${ns}:executions:active`)).toEqual(['202']);
      } finally {
        await c.end();
      }
    } finally {
      await db.drop();
    }
  });
});
