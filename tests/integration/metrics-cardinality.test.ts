/**
 * workflow_name cardinality is bounded: 10,000 workflows give the busiest
 * `monitoring.prometheus.workflow_label_limit` their own label and count the
 * rest as `other`, and one scrape stays under the size docs/metrics.md states.
 */
import { describe, it, expect, beforeAll } from 'vitest';
import path from 'node:path';
import Database from 'better-sqlite3';
import { DEFAULTS } from '../../src/config/defaults.js';
import type { Config } from '../../src/config/index.js';
import { migrateUp } from '../../src/migrate/index.js';
import { scrapeOnce } from '../../src/metrics/index.js';
import { tmpDir } from '../helpers/tmp.js';

/** The documented bound (docs/metrics.md, "Cardinality"): one scrape at 10,000 workflows. */
const MAX_SCRAPE_BYTES = 128 * 1024;
const WORKFLOWS = 10_000;

let config: Config;
beforeAll(async () => {
  const dir = tmpDir('wks-cardinality');
  config = structuredClone(DEFAULTS);
  config.database.path = path.join(dir, 'w.db');
  config.database.backup.storage_path = path.join(dir, 'backups');
  await migrateUp(config);
  const db = new Database(config.database.path);
  const wf = db.prepare(`INSERT INTO workflows (name, status) VALUES (?, 'active')`);
  const ex = db.prepare(
    `INSERT INTO workflow_executions (workflow_id, status, started_at, completed_at) VALUES (?, ?, '2026-01-01 00:00:00', '2026-01-01 00:00:30')`,
  );
  db.transaction(() => {
    for (let i = 1; i <= WORKFLOWS; i++) {
      wf.run(`workflow-${String(i).padStart(5, '0')}`);
      // workflow-09991 .. 10000 are the busiest (20 runs each); everyone else ran twice, once failed
      // (both statuses and a histogram per named workflow: the largest exposition per name).
      const runs = i > WORKFLOWS - 10 ? 20 : 2;
      for (let r = 0; r < runs; r++) ex.run(i, r % 2 === 1 ? 'failed' : 'completed');
    }
  })();
  db.close();
}, 120_000);

const names = (text: string): Set<string> =>
  new Set([...text.matchAll(/^workflow_executions_total\{workflow_name="([^"]+)"/gm)].map((m) => m[1]!));
const total = (text: string): number =>
  [...text.matchAll(/^workflow_executions_total\{[^}]*\} (\d+)$/gm)].reduce((a, m) => a + Number(m[1]), 0);

describe('workflow_name cardinality', () => {
  it('10,000 workflows: the busiest 50 named, the rest "other", nothing lost, under the documented size', async () => {
    const { text } = await scrapeOnce(config, { processDefaults: true });
    const n = names(text);
    expect(n.size).toBe(51);
    expect(n.has('other')).toBe(true);
    for (let i = WORKFLOWS - 9; i <= WORKFLOWS; i++) {
      const name = `workflow-${String(i).padStart(5, '0')}`;
      expect(n.has(name), name).toBe(true);
    }
    // Every execution is still counted (10 x 20 + 9,990 x 2).
    expect(total(text)).toBe(10 * 20 + (WORKFLOWS - 10) * 2);
    expect(Buffer.byteLength(text)).toBeLessThan(MAX_SCRAPE_BYTES);
    const histogramSeries = new Set(
      [...text.matchAll(/^workflow_execution_duration_seconds_count\{workflow_name="([^"]+)"/gm)].map((m) => m[1]),
    );
    expect(histogramSeries.size).toBe(51);
  });

  it('is configurable: a limit of 5 names five, and 0 counts everything as "other"', async () => {
    for (const [limit, expected] of [
      [5, 6],
      [0, 1],
    ] as const) {
      const c = structuredClone(config);
      c.monitoring.prometheus.workflow_label_limit = limit;
      const { text } = await scrapeOnce(c);
      expect(names(text).size, `limit ${limit}`).toBe(expected);
      expect(total(text)).toBe(10 * 20 + (WORKFLOWS - 10) * 2);
    }
  });
});
