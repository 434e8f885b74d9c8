import { describe, it, expect, beforeAll, beforeEach, afterAll } from 'vitest';
import net from 'node:net';
import { createTestDatabase, createTestRedis } from '../helpers/services.js';
import { listLocks, releaseLock } from '../../src/workflow/locks.js';
import { releaseIfHolder } from '../../src/redis/locks.js';
import { ConflictError, NotFoundError, UsageError } from '../../src/errors.js';
import { makeEnv, seedDb, reset, minutesAgo, NOW, type Env } from './workflow.fixtures.js';

const redis = await createTestRedis('lock');
const pgdb = redis ? await createTestDatabase('lock') : null;
afterAll(async () => {
  await redis?.cleanup();
  await pgdb?.drop();
});

async function auditRows(e: Env) {
  const db = await e.db();
  try {
    return await db.query<Record<string, unknown>>(
      'SELECT execution_id, holder, expected_worker, forced, reason, outcome, released_by, source FROM lock_release_audit ORDER BY id',
    );
  } finally {
    await db.close();
  }
}

async function tracking(e: Env, id: number) {
  const db = await e.db();
  try {
    return (
      await db.query<{ worker_id: unknown; lock_acquired_at: unknown }>(
        'SELECT worker_id, lock_acquired_at FROM workflow_execution_tracking WHERE execution_id = $1',
        [id],
      )
    )[0];
  } finally {
    await db.close();
  }
}

describe.skipIf(!redis)('compare-and-delete script', () => {
  it('deletes only when the holder matches', async () => {
    const key = `${redis!.namespace}:lock:execution:cad`;
    await redis!.client.set(key, 'a');
    expect(await releaseIfHolder(redis!.client, key, 'b')).toEqual({ outcome: 'mismatch', holder: 'a' });
    expect(await redis!.client.get(key)).toBe('a');
    expect(await releaseIfHolder(redis!.client, key, 'a')).toEqual({ outcome: 'released', holder: 'a' });
    expect(await redis!.client.exists(key)).toBe(0);
    expect(await releaseIfHolder(redis!.client, key, 'a')).toEqual({ outcome: 'absent', holder: null });
  });
});

describe.skipIf(!redis).each(['sqlite', 'postgres'] as const)('locks on %s', (kind) => {
  let e: Env;
  beforeAll(async () => {
    if (kind === 'postgres' && !pgdb) return;
    e = await makeEnv(kind, redis!, pgdb);
  });
  beforeEach(async (ctx) => {
    if (kind === 'postgres' && !pgdb) ctx.skip();
    await reset(e);
    await seedDb(e, [
      { id: 1, status: 'running', startedAt: minutesAgo(3), tracking: { worker: 'w1', lockAcquiredAt: minutesAgo(3) } },
      {
        id: 2,
        status: 'completed',
        startedAt: minutesAgo(40),
        completedAt: minutesAgo(35),
        tracking: { worker: 'w2', lockAcquiredAt: minutesAgo(40) },
      },
    ]);
    await e.redis.set(e.keys.lock(1), 'w1', 'EX', 300);
    await e.redis.set(e.keys.lock(2), 'w2', 'EX', 300);
    await e.redis.set(e.keys.lock(77), 'w77'); // no TTL, no row
  });

  it('lists locks with worker, TTL, age from the tracking row and status; --older-than filters', async () => {
    const res = await listLocks(e.config, { now: NOW });
    expect(res.database.included).toBe(true);
    const by = Object.fromEntries(res.locks.map((l) => [l.executionId, l]));
    expect(Object.keys(by).sort()).toEqual(['1', '2', '77']);
    expect(by['1']).toMatchObject({ holder: 'w1', status: 'running', ageMs: 180_000, trackingWorker: 'w1' });
    expect(by['1']!.ttlMs).toBeGreaterThan(290_000);
    expect(by['2']).toMatchObject({ holder: 'w2', status: 'completed', ageMs: 2_400_000 });
    expect(by['77']).toMatchObject({ holder: 'w77', status: null, ageMs: null, ttlMs: null });
    const old = await listLocks(e.config, { now: NOW, olderThanMs: 10 * 60_000 });
    expect(old.locks.map((l) => l.executionId)).toEqual(['2']);
    expect(old.unknownAge).toBe(1);
  });

  it('a wrong --worker leaves the lock in place, exits 4, and is audited', async () => {
    const err = await releaseLock(e.config, '1', { worker: 'w9', who: 'op@host', now: NOW }).catch((x) => x);
    expect(err).toBeInstanceOf(ConflictError);
    expect(err.exitCode).toBe(4);
    expect(await e.redis.get(e.keys.lock(1))).toBe('w1');
    expect((await tracking(e, 1))!.worker_id).toBe('w1');
    const audit = await auditRows(e);
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({
      execution_id: '1',
      holder: 'w1',
      expected_worker: 'w9',
      outcome: 'mismatch',
      released_by: 'op@host',
    });
  });

  it('a release racing a new owner: the new owner keeps its lock (exit 4)', async () => {
    // The holder is read (w1) and shown in the confirmation; while the operator
    // reads it, w1's lock expires and w5 takes it over.
    const err = await releaseLock(e.config, '1', {
      now: NOW,
      confirmShowsHolder: true,
      confirm: async (plan) => {
        expect(plan.holder).toBe('w1');
        await e.redis.set(e.keys.lock(1), 'w5', 'EX', 300);
        return true;
      },
    }).catch((x) => x);
    expect(err).toBeInstanceOf(ConflictError);
    expect(err.exitCode).toBe(4);
    expect(err.message).toMatch(/now held by w5/);
    expect(await e.redis.get(e.keys.lock(1))).toBe('w5');
    expect((await auditRows(e)).map((a) => [a.outcome, a.holder])).toEqual([['mismatch', 'w5']]);
  });

  it('releases the current holder after confirmation, clears the tracking row, audits who/when/what/why', async () => {
    let asked = '';
    const res = await releaseLock(e.config, '2', {
      now: NOW,
      who: 'op@host',
      reason: 'finished long ago',
      confirm: async (p) => ((asked = p.holder), true),
    });
    expect(asked).toBe('w2');
    expect(res.outcome).toBe('released');
    expect(res.trackingRowsCleared).toBe(1);
    expect(res.audit.recorded).toBe(true);
    expect(await e.redis.exists(e.keys.lock(2))).toBe(0);
    expect(await tracking(e, 2)).toEqual({ worker_id: null, lock_acquired_at: null });
    const [a] = await auditRows(e);
    expect(a).toMatchObject({
      execution_id: '2',
      holder: 'w2',
      outcome: 'released',
      released_by: 'op@host',
      reason: 'finished long ago',
      source: 'lock release',
    });
    expect(Boolean(Number(a!.forced)) || a!.forced === true).toBe(false);
  });

  it('--worker matching releases; declining changes nothing; dry run changes nothing', async () => {
    const declined = await releaseLock(e.config, '1', { worker: 'w1', confirm: async () => false });
    expect(declined.outcome).toBe('declined');
    const dry = await releaseLock(e.config, '1', { worker: 'w1', dryRun: true });
    expect(dry.outcome).toBe('dry-run');
    expect(await e.redis.get(e.keys.lock(1))).toBe('w1');
    expect(await auditRows(e)).toEqual([]);
    const ok = await releaseLock(e.config, '1', { worker: 'w1' });
    expect(ok.outcome).toBe('released');
    expect(await e.redis.exists(e.keys.lock(1))).toBe(0);
  });

  it('--force requires --reason; with one it releases any holder and is audited as forced', async () => {
    await expect(releaseLock(e.config, '77', { force: true })).rejects.toBeInstanceOf(UsageError);
    expect(await e.redis.get(e.keys.lock(77))).toBe('w77');
    const res = await releaseLock(e.config, '77', { force: true, reason: 'INC-42 worker gone', who: 'op@host' });
    expect(res.outcome).toBe('released');
    expect(await e.redis.exists(e.keys.lock(77))).toBe(0);
    const [a] = await auditRows(e);
    expect(a).toMatchObject({ execution_id: '77', holder: 'w77', reason: 'INC-42 worker gone', outcome: 'released' });
    expect(a!.forced === true || Number(a!.forced) === 1).toBe(true);
  });

  it('a plain release deletes only a provably stuck lock; -y alone never makes it blind (#14.4)', async () => {
    // Running, lock 3 minutes old (threshold 5 min), nobody named the holder: refused, holder named, lock kept.
    const err = await releaseLock(e.config, '1', { now: NOW, confirm: async () => true }).catch((x) => x);
    expect(err).toBeInstanceOf(ConflictError);
    expect(err.exitCode).toBe(4);
    expect(err.message).toMatch(/held by w1 and nothing proves it stuck \(execution running, held for 3m/);
    expect(err.hint).toBe('if w1 is really gone: wks lock release 1 --worker w1  (or --force --reason "...")');
    expect(await e.redis.get(e.keys.lock(1))).toBe('w1');
    // The dry run says the same.
    await expect(releaseLock(e.config, '1', { now: NOW, dryRun: true })).rejects.toBeInstanceOf(ConflictError);
    // No database row: nothing proves it stuck either.
    await expect(releaseLock(e.config, '77', { now: NOW })).rejects.toBeInstanceOf(ConflictError);
    expect(await e.redis.get(e.keys.lock(77))).toBe('w77');
    // Finished execution: provably stuck.
    const done = await releaseLock(e.config, '2', { now: NOW });
    expect(done.plan.proof).toBe('execution completed');
    expect(done.outcome).toBe('released');
    // Older than the threshold, and the tracking row names this holder: provably stuck.
    const later = new Date(NOW.getTime() + 10 * 60_000);
    const old = await releaseLock(e.config, '1', { now: later });
    expect(old.plan.proof).toMatch(/^held by w1 for 13m.*over the stuck threshold \(5m/);
    expect(await e.redis.exists(e.keys.lock(1))).toBe(0);
  });

  it("an old tracking row does not make a new holder's lock stuck", async () => {
    await e.redis.set(e.keys.lock(1), 'w-new', 'EX', 300); // w1's lock expired, w-new took it; row still says w1
    const err = await releaseLock(e.config, '1', { now: new Date(NOW.getTime() + 60 * 60_000) }).catch((x) => x);
    expect(err).toBeInstanceOf(ConflictError);
    expect(err.message).toMatch(/held by w-new and nothing proves it stuck \(execution running, age unknown/);
    expect(await e.redis.get(e.keys.lock(1))).toBe('w-new');
  });

  it('no lock -> NotFoundError (exit 5)', async () => {
    const err = await releaseLock(e.config, '404').catch((x) => x);
    expect(err).toBeInstanceOf(NotFoundError);
    expect(err.exitCode).toBe(5);
  });
});

/**
 * A TCP proxy in front of Redis for the release's own connection: when armed, it holds the first
 * EVAL (the compare-and-delete) and everything after it on that connection until `open()`. `arm()`
 * resolves once an EVAL is held, that is once the release has read the holder and sent its delete:
 * the test then acts inside the window between the two, whatever the machine's load.
 */
async function evalGate(port: number) {
  let armed = false;
  let reached: (() => void) | null = null;
  const waiting: Array<() => void> = [];
  const server = net.createServer((c) => {
    const up = net.connect(port, '127.0.0.1');
    let queue: Buffer[] | null = null;
    up.on('data', (d) => c.write(d));
    c.on('data', (d: Buffer) => {
      if (queue) return void queue.push(d);
      if (armed && /\r\neval(sha)?\r\n/i.test(d.toString('latin1'))) {
        armed = false;
        queue = [d];
        waiting.push(() => {
          for (const q of queue!) up.write(q);
          queue = null;
        });
        reached?.();
        return;
      }
      up.write(d);
    });
    for (const s of [c, up]) s.on('error', () => undefined);
    c.on('close', () => up.destroy());
    up.on('close', () => c.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    arm: () =>
      new Promise<void>((r) => {
        armed = true;
        reached = r;
      }),
    open: () => {
      for (const w of waiting.splice(0)) w();
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

describe.skipIf(!redis)(
  'race: a stuck lock expires and a new worker takes it while a plain release runs (#14.4)',
  () => {
    const outcome = (p: Promise<{ outcome: string }>) =>
      p.then(
        (x) => x.outcome,
        (err) =>
          err instanceof ConflictError ? 'refused' : err instanceof NotFoundError ? 'absent' : Promise.reject(err),
      );
    const later = new Date(NOW.getTime() + 60 * 60_000); // the old holder's lock is far past the threshold
    const seed = async (e: Env) => {
      await reset(e);
      await seedDb(e, [
        {
          id: 9,
          status: 'running',
          startedAt: minutesAgo(30),
          tracking: { worker: 'old', lockAcquiredAt: minutesAgo(30) },
        },
      ]);
    };

    it('each side of the window, forced: released before expiry; refused when the new owner came first or took it between read and delete', async () => {
      const e = await makeEnv('sqlite', redis!, null);
      const key = e.keys.lock(9);
      const gate = await evalGate(redis!.port);
      const gated = structuredClone(e.config);
      gated.redis.connection.host = '127.0.0.1';
      gated.redis.connection.port = gate.port;
      try {
        for (let round = 0; round < 5; round++) {
          // The release wins: the old lock is still there when it deletes; the new worker takes the lock after.
          await seed(e); // a release clears the tracking row that proves the old holder stuck
          await e.redis.set(key, 'old', 'PX', 60_000);
          expect(await outcome(releaseLock(gated, '9', { now: later, who: 'race@test' }))).toBe('released');
          expect(await e.redis.set(key, `new-${round}`, 'PX', 60_000, 'NX')).toBe('OK');
          expect(await e.redis.get(key)).toBe(`new-${round}`);
          await e.redis.del(key);

          // The new worker came first: the release reads its holder, nothing proves it stuck.
          await e.redis.set(key, `new-${round}`, 'PX', 60_000);
          expect(await outcome(releaseLock(gated, '9', { now: later, who: 'race@test' }))).toBe('refused');
          expect(await e.redis.get(key)).toBe(`new-${round}`);
          await e.redis.del(key);

          // The race itself: the release has read "old" and sent its delete; the old lock expires and the
          // new worker takes it before the delete runs. The compare-and-delete must leave it alone.
          await seed(e);
          await e.redis.set(key, 'old', 'PX', 60_000);
          const held = gate.arm();
          const r = outcome(releaseLock(gated, '9', { now: later, who: 'race@test' }));
          expect(await Promise.race([held.then(() => 'held'), r.then((x) => `ended before its delete: ${x}`)])).toBe(
            'held',
          );
          await e.redis.del(key);
          expect(await e.redis.set(key, `new-${round}`, 'PX', 60_000, 'NX')).toBe('OK');
          gate.open();
          expect(await r).toBe('refused');
          expect(await e.redis.get(key)).toBe(`new-${round}`);
          await e.redis.del(key);
        }
      } finally {
        gate.open();
        await gate.close();
      }
    }, 120_000);

    it('200 rounds at real speed: 0 new-owner locks lost', async () => {
      const e = await makeEnv('sqlite', redis!, null);
      await seed(e);
      const key = e.keys.lock(9);
      const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
      let lost = 0;
      for (let round = 0; round < 200; round++) {
        await e.redis.set(key, 'old', 'PX', 15 + (round % 10));
        const newOwner = `new-${round}`;
        const takeOver = (async () => {
          // The new worker takes the lock the moment it is free (expired or released).
          const deadline = Date.now() + 2000;
          while (Date.now() < deadline) {
            if (await e.redis.set(key, newOwner, 'PX', 60_000, 'NX')) return true;
            await sleep(1);
          }
          return false;
        })();
        await sleep(round % 25);
        await outcome(releaseLock(e.config, '9', { now: later, who: 'race@test' }));
        expect(await takeOver, `round ${round}: the new owner never got the lock`).toBe(true);
        if ((await e.redis.get(key)) !== newOwner) lost++;
        await e.redis.del(key);
      }
      // Which side of the window each round fell on depends on the machine's load; the forced test above
      // covers each side whatever the load. Here: however the rounds fall, no new owner loses its lock.
      expect(lost).toBe(0);
    }, 300_000);
  },
);
