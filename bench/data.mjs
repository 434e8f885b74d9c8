// The benches' SQLite database: mixed, realistic data in the platform's schema
// (users, workflows, executions, metrics, agent health checks, rate limits,
// backup_log), generated once per size into bench/.data/ (gitignored) and reused.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const Database = require('better-sqlite3');
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const WKS = path.join(ROOT, 'bin/wks.js');
export const DATA = path.join(ROOT, 'bench/.data');

/** The path of the generated database of about `sizeMb` MiB (generated on first use). */
export function ensureDatabase(sizeMb) {
  if (!existsSync(path.join(ROOT, 'dist/cli.js'))) throw new Error('build first: npm run build');
  mkdirSync(DATA, { recursive: true });
  writeFileSync(path.join(DATA, '.gitignore'), '*\n');
  const db = path.join(DATA, `bench-${sizeMb}mb.db`);
  if (!existsSync(db)) generate(sizeMb, db);
  return db;
}

function generate(SIZE_MB, DB) {
  console.log(`generating ${SIZE_MB} MiB of data in the platform's schema into ${DB} (once) ...`);
  rmSync(DB, { force: true });
  const m = spawnSync(process.execPath, [WKS, 'migrate', 'up', '--no-backup'], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, DATABASE_PATH: DB },
    encoding: 'utf8',
  });
  if (m.status !== 0) throw new Error(`migrate up failed: ${m.stderr}`);
  const db = new Database(DB);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = OFF');
  let seed = 42;
  const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  const words =
    'workflow agent deploy build test lint release sync fetch parse index render notify retry timeout queue worker lease backup verify restore rotate metric health check error warning ok failed pending running completed'.split(
      ' ',
    );
  const sentence = (n) => Array.from({ length: n }, () => words[Math.floor(rnd() * words.length)]).join(' ');
  const t0 = Date.parse('2026-01-01T00:00:00Z');
  const ts = (i) => new Date(t0 + i * 1000).toISOString().replace('T', ' ').slice(0, 19);
  const insUser = db.prepare('INSERT INTO users (username, email, password_hash) VALUES (?, ?, ?)');
  const insWf = db.prepare('INSERT INTO workflows (name, description, user_id, status) VALUES (?, ?, ?, ?)');
  const insAgent = db.prepare("INSERT INTO agents (name, type, status, config_json) VALUES (?, ?, 'active', ?)");
  db.transaction(() => {
    for (let i = 1; i <= 20_000; i++)
      insUser.run(
        `user${i}`,
        `user${i}@example.com`,
        `$2b$10$${Math.floor(rnd() * 1e16)
          .toString(36)
          .padEnd(53, 'x')}`,
      );
    for (let i = 1; i <= 50_000; i++)
      insWf.run(
        `workflow-${i}`,
        sentence(20 + Math.floor(rnd() * 40)),
        1 + (i % 20_000),
        ['active', 'paused', 'archived'][i % 3],
      );
    for (let i = 1; i <= 21; i++)
      insAgent.run(
        `agent${i}`,
        ['browser', 'shell', 'http'][i % 3],
        JSON.stringify({ timeout: 30000, retries: 3, tags: sentence(5) }),
      );
  })();
  const insExec = db.prepare(
    'INSERT INTO workflow_executions (workflow_id, status, started_at, completed_at, error_message) VALUES (?, ?, ?, ?, ?)',
  );
  const insMetric = db.prepare(
    'INSERT INTO metrics (metric_name, metric_value, labels_json, timestamp) VALUES (?, ?, ?, ?)',
  );
  const insHealth = db.prepare(
    'INSERT INTO agent_health_checks (agent_id, check_time, status, response_time_ms, error_message, metrics_json) VALUES (?, ?, ?, ?, ?, ?)',
  );
  const insRate = db.prepare(
    'INSERT INTO rate_limits (user_id, ip_address, endpoint, request_count, window_start, window_end) VALUES (?, ?, ?, ?, ?, ?)',
  );
  const target = SIZE_MB * 1024 * 1024;
  let i = 0;
  const size = () => db.pragma('page_count', { simple: true }) * db.pragma('page_size', { simple: true });
  while (size() < target) {
    db.transaction(() => {
      for (let k = 0; k < 20_000; k++, i++) {
        const failed = rnd() < 0.1;
        insExec.run(
          1 + (i % 50_000),
          failed ? 'failed' : 'completed',
          ts(i),
          ts(i + 30),
          failed ? `step ${Math.floor(rnd() * 9)} failed: ${sentence(12)}` : null,
        );
        insMetric.run(
          ['http_requests_total', 'workflow_executions_total', 'database_query_duration_seconds'][i % 3],
          rnd() * 1000,
          JSON.stringify({ method: 'GET', endpoint: `/api/${words[i % words.length]}`, status_code: 200 }),
          ts(i),
        );
        if (k % 4 === 0)
          insHealth.run(
            1 + (i % 21),
            ts(i),
            rnd() < 0.95 ? 'healthy' : 'degraded',
            Math.floor(rnd() * 500),
            null,
            JSON.stringify({ cpu: rnd(), mem: Math.floor(rnd() * 1e9), note: sentence(6) }),
          );
        if (k % 8 === 0)
          insRate.run(
            1 + (i % 20_000),
            `10.0.${i % 256}.${(i >> 8) % 256}`,
            `/api/${words[i % words.length]}`,
            1 + Math.floor(rnd() * 100),
            ts(i),
            ts(i + 900),
          );
      }
    })();
  }
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
}
