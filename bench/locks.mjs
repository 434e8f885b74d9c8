#!/usr/bin/env node
// Benchmark (issue #15): `wks lock list --json` (and the table) against
// `redis-cli --scan --pattern '<ns>:lock:execution:*' | wc -l`, at 10,000 and
// 100,000 locks in a dedicated namespace of Redis DB 15 (override with
// BENCH_REDIS_DB), among as many other keys of the same namespace (execution
// state, sessions, rate limits: SCAN walks them all). wks does more than the
// reference: it reads each lock's holder and TTL and joins a SQLite database
// where only half of the locks have a tracking row (the other half are
// reported with unknown age, as on a real install where workers crashed
// before writing theirs).
// Targets: --json <= 0.5x, table <= 0.6x. Also prints peak RSS (GNU time %M).
// Keys are deleted afterwards (also on failure).
//
//   npm run build && node bench/locks.mjs            # 10k and 100k
//   SIZES=10000 BENCH_RUNS=3 node bench/locks.mjs    # reduced scale
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import Database from 'better-sqlite3';
import { header, interleave, median, note, report, summary } from './lib.mjs';

const SIZES = (process.env.SIZES ?? '10000,100000').split(',').map(Number);
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

const OTHER = ['state:execution', 'session', 'ratelimit:user'];
async function populate(from, to) {
  for (let i = from; i < to; i += 5000) {
    const p = redis.pipeline();
    for (let j = i; j < Math.min(to, i + 5000); j++) {
      p.set(`${ns}:lock:execution:${j + 1}`, `worker-${j % 37}`, 'EX', 3600);
      // As many keys that are not locks, in the same namespace.
      p.set(`${ns}:${OTHER[j % OTHER.length]}:${j + 1}`, 'x', 'EX', 3600);
    }
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
      if (j % 2 === 0) tr.run(j + 1, `worker-${j % 37}`); // tracking rows for half of the locks
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

const scanPattern = `${ns}:lock:execution:*`;
const reference = ['sh', ['-c', `redis-cli -h ${HOST} -p ${PORT} -n ${DB} --scan --pattern '${scanPattern}' | wc -l`]];
const wksCmd = [process.execPath, [wks, 'lock', 'list', '--json']];
const tableCmd = [process.execPath, [wks, 'lock', 'list']];

try {
  header(`wks lock list: namespace ${ns}, Redis ${HOST}:${PORT}/${DB}, sizes ${SIZES.join(', ')}`);
  timed(process.execPath, [wks, 'migrate', 'up']);
  new Database(dbPath).prepare("INSERT INTO workflows (id, name, status) VALUES (1, 'bench', 'active')").run();
  let have = 0;
  const rssAt = [];
  for (const n of SIZES) {
    await populate(have, n);
    have = n;
    // sanity: both see n locks; half of them joined to a tracking row
    const refCount = Number(timed(...reference).r.stdout.trim());
    const doc = JSON.parse(timed(...wksCmd).r.stdout);
    if (refCount !== n || doc.count !== n)
      throw new Error(`count mismatch: redis-cli ${refCount}, wks ${doc.count}, expected ${n}`);
    const aged = doc.locks.filter((l) => l.ageMs !== null).length;
    if (!doc.database.included || aged !== Math.ceil(n / 2)) throw new Error(`database join: ${aged} of ${n} aged`);
    const quiet = { stdio: ['ignore', 'ignore', 'pipe'] };
    const t = await interleave({
      ref: () => timed(...reference).ms,
      json: () => timed(wksCmd[0], wksCmd[1], quiet).ms,
      table: () => timed(tableCmd[0], tableCmd[1], quiet).ms,
      node: () => timed(process.execPath, ['-e', '0']).ms,
    });
    report(`lock list --json, ${n} locks`, t.json, 'redis-cli --scan', t.ref, 0.5);
    report(`lock list (table), ${n} locks`, t.table, 'redis-cli --scan', t.ref, 0.6);
    note(`  fixed cost floor at ${n}`, `node -e 0 ${median(t.node).toFixed(0)} ms`);
    const rss = timed('/usr/bin/time', ['-f', '%M', wksCmd[0], ...wksCmd[1]], quiet);
    rssAt.push(`${n}: ${(Number(rss.r.stderr.trim().split('\n').pop()) / 1024).toFixed(1)} MiB`);
  }
  note('peak RSS of lock list --json', rssAt.join(', '));
  summary();
} finally {
  await cleanup();
  redis.disconnect();
  rmSync(dir, { recursive: true, force: true });
}
