/**
 * The metrics library: the registry (registry.ts), scrape-time collectors
 * (collect.ts), database instrumentation (instrument.ts), sampling into the
 * `metrics` table (sample.ts), and scrapeOnce() for `wks metrics`.
 */
import type { Config } from '../config/index.js';
import type { DatabaseAdapter } from '../db/index.js';
import { writeFileAtomic } from '../util/fs.js';
import { createMetrics } from './registry.js';
import { PlatformCollector } from './collect.js';
import { instrumentDb } from './instrument.js';

export interface ScrapeResult {
  /** The Prometheus text exposition. */
  text: string;
  /** Number of metric families. */
  families: number;
  /** Where it was written (textfile), or null for stdout. */
  file: string | null;
}

/**
 * One scrape for installs that run wks from cron: open the database (never
 * creating it) and Redis, compute every collector once, close everything.
 * With `textfile`, the text is written atomically (temp + fsync + rename,
 * mode 0644 so node_exporter can read it); the file name should end in `.prom`.
 * A dependency that is down does not fail the scrape: wks_up{dependency}=0.
 * Process metrics are left out unless `processDefaults` (default false).
 */
export async function scrapeOnce(
  config: Config,
  opts: { textfile?: string; now?: Date; processDefaults?: boolean } = {},
): Promise<ScrapeResult> {
  // No process_*/nodejs_* by default: a one-shot process's figures mean
  // nothing, and node_exporter's own process_* would clash with them.
  const metrics = createMetrics({ processDefaults: opts.processDefaults ?? false });
  let db: DatabaseAdapter | null = null;
  let redis: import('ioredis').Redis | null = null;
  try {
    const collector = new PlatformCollector(metrics, config, {
      db: async () => {
        if (!db) {
          const { openDatabase } = await import('../db/index.js');
          db = instrumentDb(await openDatabase(config, { create: false, applicationName: 'wks-metrics' }), metrics);
        }
        return db;
      },
      countLocks: config.redis.enabled
        ? async () => {
            const { openRedis, countKeys } = await import('../redis/index.js');
            const h = await openRedis(config, { attempts: 1 });
            redis = h.client;
            return countKeys(h.client, h.keys.patterns.locks);
          }
        : null,
      now: opts.now ? () => opts.now! : undefined,
    });
    await collector.collect();
    const text = await metrics.registry.metrics();
    const families = (await metrics.registry.getMetricsAsJSON()).length;
    if (opts.textfile) writeFileAtomic(opts.textfile, text, { mode: 0o644 });
    return { text, families, file: opts.textfile ?? null };
  } finally {
    await (db as DatabaseAdapter | null)?.close().catch(() => undefined);
    (redis as import('ioredis').Redis | null)?.disconnect();
  }
}
