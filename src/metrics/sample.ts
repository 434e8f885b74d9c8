/**
 * History without Prometheus: copy key gauges into the platform's `metrics`
 * table (metric_name, metric_value, labels_json, timestamp) and prune rows
 * older than serve.metrics_sample_retention. Run by the metrics_sample job
 * after a collector refresh.
 */
import type { DatabaseAdapter } from '../db/index.js';
import { toDbTime } from '../db/index.js';
import type { WksMetrics } from './registry.js';

/** The gauges recorded on each sample (every label combination of each). */
export const SAMPLED_METRICS = [
  'active_workflows',
  'agent_health_status',
  'database_connections',
  'wks_workflows_stuck',
  'wks_locks_held',
  'wks_backups',
  'wks_backup_last_success_timestamp_seconds',
  'wks_leader',
  'wks_up',
] as const;

/**
 * Insert one row per sampled series at `now` (one transaction), then delete
 * rows with timestamp < now - retentionMs. Returns the counts.
 * Throws what the database throws (the job counts it as a failure).
 */
export async function sampleMetrics(
  metrics: WksMetrics,
  db: DatabaseAdapter,
  opts: { now: Date; retentionMs: number },
): Promise<{ inserted: number; pruned: number }> {
  const rows: Array<[string, number, string | null]> = [];
  for (const name of SAMPLED_METRICS) {
    const m = metrics.registry.getSingleMetric(name);
    if (!m) continue;
    const data = await m.get();
    for (const v of data.values) {
      const labels = v.labels && Object.keys(v.labels).length ? JSON.stringify(v.labels) : null;
      if (Number.isFinite(v.value)) rows.push([name, v.value, labels]);
    }
  }
  const at = toDbTime(opts.now, db.dialect);
  const cutoff = toDbTime(new Date(opts.now.getTime() - opts.retentionMs), db.dialect);
  return db.transaction(async (tx) => {
    for (const [name, value, labels] of rows) {
      await tx.run(`INSERT INTO metrics (metric_name, metric_value, labels_json, timestamp) VALUES ($1, $2, $3, $4)`, [
        name,
        value,
        labels,
        at,
      ]);
    }
    const { changes } = await tx.run(`DELETE FROM metrics WHERE timestamp < $1`, [cutoff]);
    return { inserted: rows.length, pruned: changes };
  });
}
