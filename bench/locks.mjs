#!/usr/bin/env node
// Benchmark (issue #6): `wks lock list --json` against
// `redis-cli --scan --pattern '<ns>:lock:execution:*' | wc -l`, at 10,000 and
// 100,000 locks in a dedicated namespace of Redis DB 15 (override with
// BENCH_REDIS_DB). wks does more than the reference: it also reads each
// lock's holder and TTL (pipelined GET + PTTL per SCAN batch) and joins a
// SQLite database holding a tracking row for every execution (age, status).
// Target: ratio <= 0.6x. Also prints peak RSS (GNU time %M) at each size.
// Keys are deleted afterwards (also on failure).
//
//   npm run build && node bench/locks.mjs            # 10k and 100k
//   SIZES=10000 RUNS=3 node bench/locks.mjs          # reduced scale
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import Database from 'better-sqlite3';

const SIZES = (process.env.SIZES ?? '10000,100000').split(',').map(Number);
const RUNS = Number(process.env.RUNS ?? 5);
const DB = Number(process.env.BENCH_REDIS_DB ?? 15);
const HOST = process.env.BENCH_REDIS_HOST ?? '127.0.0.1';
const PORT = Number(process.env.BENCH_REDIS_PORT ?? 6379);
const wks = fileURLToPath(new URL('../bin/wks.js', import.meta.url));
const repo = fileURLToPath(new URL('..', import.meta.url));
const ns = `wksbench_${randomBytes(3).toString('hex')}`;
const dir = mkdtempSync(path.join(tmpdir(), 'wks-bench-locks-'));
const dbPath = path.join(dir, 'bench.db');
const redis = new Redis({ host: HOST, port: PORT, db: DB, lazyConnect: true });
await redis.connect();

const env = {
  PATH: process.env.PATH,
  HOME: process.env.HOME,
  REDIS_ENABLED: 'true',
  REDIS_HOST: HOST,
  REDIS_PORT: String(PORT),
  REDIS_DB: String(DB),
  REDIS_NAMESPACE: ns,
  DATABASE_PATH: dbPath,
};

async function cleanup() {
  // Repeat full passes until one finds nothing (deleting while the keyspace
  // shrinks makes Redis rehash; a second pass catches anything skipped).
  for (let pass = 0; pass < 10; pass++) {
    let cursor = '0';
    let found = 0;
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${ns}:*`, 'COUNT', 5000);
      cursor = next;
      found += keys.length;
      if (keys.length) await redis.unlink(...keys);
    } while (cursor !== '0');
    if (found === 0) return;
  }
}

async function populate(from, to) {
  for (let i = from; i < to; i += 5000) {
    const p = redis.pipeline();
    for (let j = i; j < Math.min(to, i + 5000); j++)
      p.set(`${ns}:lock:execution:${j + 1}`, `worker-${j % 37}`, 'EX', 3600);
    await p.exec();
  }
  const db = new Database(dbPath);
  const ins = db.prepare(
    "INSERT INTO workflow_executions (id, workflow_id, status, started_at) VALUES (?, 1, 'running', '2026-06-01 11:00:00')",
  );
  const tr = db.prepare(
    "INSERT INTO workflow_execution_tracking (execution_id, workflow_id, started_at, lock_acquired_at, worker_id) VALUES (?, 1, '2026-06-01 11:00:00', '2026-06-01 11:00:00', ?)",
  );
  db.transaction(() => {
    for (let j = from; j < to; j++) {
      ins.run(j + 1);
      tr.run(j + 1, `worker-${j % 37}`);
    }
  })();
  db.close();
}

function timed(cmd, args, opts = {}) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { env, cwd: repo, encoding: 'utf8', maxBuffer: 1 << 30, ...opts });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return { ms, r };
}
const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];

const scanPattern = `${ns}:lock:execution:*`;
const reference = ['sh', ['-c', `redis-cli -h ${HOST} -p ${PORT} -n ${DB} --scan --pattern '${scanPattern}' | wc -l`]];
const wksCmd = [process.execPath, [wks, 'lock', 'list', '--json']];
const baseline = () => timed(process.execPath, ['-e', '0']).ms;

try {
  const m = timed(process.execPath, [wks, 'migrate', 'up']);
  void m;
  new Database(dbPath).prepare("INSERT INTO workflows (id, name, status) VALUES (1, 'bench', 'active')").run();
  let have = 0;
  const results = [];
  for (const n of SIZES) {
    await populate(have, n);
    have = n;
    // sanity: both see n locks
    const refCount = Number(timed(...reference).r.stdout.trim());
    const doc = JSON.parse(timed(...wksCmd).r.stdout);
    if (refCount !== n || doc.count !== n)
      throw new Error(`count mismatch: redis-cli ${refCount}, wks ${doc.count}, expected ${n}`);
    if (!doc.database.included || doc.locks[0].ageMs === null) throw new Error('database join did not happen');
    const ref = [];
    const mine = [];
    const redisOnly = [];
    const noDbEnv = { ...env, DATABASE_PATH: path.join(dir, 'absent.db') };
    for (let i = 0; i < RUNS; i++) {
      ref.push(timed(...reference).ms);
      mine.push(timed(wksCmd[0], wksCmd[1], { stdio: ['ignore', 'ignore', 'pipe'] }).ms);
      redisOnly.push(timed(wksCmd[0], wksCmd[1], { stdio: ['ignore', 'ignore', 'pipe'], env: noDbEnv }).ms);
    }
    const rss = timed('/usr/bin/time', ['-f', '%M', wksCmd[0], ...wksCmd[1]], { stdio: ['ignore', 'ignore', 'pipe'] });
    const rssKb = Number(rss.r.stderr.trim().split('\n').pop());
    const ratio = median(mine) / median(ref);
    results.push({ n, ref: median(ref), wks: median(mine), ratio, rssMb: rssKb / 1024 });
    console.log(
      `${String(n).padStart(7)} locks  redis-cli --scan | wc -l ${median(ref).toFixed(0).padStart(6)} ms   ` +
        `wks lock list --json ${median(mine).toFixed(0).padStart(6)} ms   ratio ${ratio.toFixed(2)}x   peak RSS ${(rssKb / 1024).toFixed(1)} MiB`,
    );
    console.log(
      `${' '.repeat(7)}        (without the database join: ${median(redisOnly).toFixed(0)} ms, ratio ${(median(redisOnly) / median(ref)).toFixed(2)}x)`,
    );
  }
  const last = results[results.length - 1];
  const b = [];
  for (let i = 0; i < RUNS; i++) b.push(baseline());
  console.log(
    `node -e 0 (process start floor): ${median(b).toFixed(0)} ms; load average ${(await import('node:os'))
      .loadavg()
      .map((x) => x.toFixed(1))
      .join(' ')} on ${(await import('node:os')).cpus().length} cores`,
  );
  console.log(
    `\nmedians of ${RUNS} alternating runs; wks also fetches holder + TTL and joins a SQLite tracking row per lock`,
  );
  console.log(
    `at ${last.n} locks: ${last.ratio.toFixed(2)}x (target <= 0.6x) ${last.ratio <= 0.6 ? 'MET' : 'NOT MET'}`,
  );
  if (results.length > 1) console.log(`peak RSS ${results.map((r) => `${r.n}: ${r.rssMb.toFixed(1)} MiB`).join(', ')}`);
} finally {
  await cleanup();
  redis.disconnect();
  rmSync(dir, { recursive: true, force: true });
}
