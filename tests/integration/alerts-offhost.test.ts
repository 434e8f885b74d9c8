/**
 * The built-in backup_offhost_lag alert on its real signal: a local-plus-remote
 * repository (a real SQLite file, the local backup directory and s3rver behind
 * the fault proxy, tests/helpers/s3.ts), gatherSignals reading the catalog, and
 * the alert engine with the built-in rules. A backup whose copy to the bucket
 * failed stays local-only: the rule goes pending, fires after its for-duration,
 * resolves once `backup upload` copied it; without a bucket it has no data.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import path from 'node:path';
import { loadConfig, type Config } from '../../src/config/index.js';
import { migrateUp } from '../../src/migrate/index.js';
import { createBackup, uploadBackups } from '../../src/backup/index.js';
import { AlertEngine, BUILTIN_FOR, buildRules, gatherSignals } from '../../src/alerts/index.js';
import { createMetrics, PlatformCollector } from '../../src/metrics/index.js';
import { sourceCatalog } from '../../src/backup/index.js';
import { parseDuration } from '../../src/util/duration.js';
import { tmpDir } from '../helpers/tmp.js';
import { startS3, startFaultProxy, s3Env, type S3Target, type FaultProxy } from '../helpers/s3.js';

let s3: S3Target | null = null;
let proxy: FaultProxy;
const saved: Record<string, string | undefined> = {};

beforeAll(async () => {
  s3 = await startS3('alerts-offhost');
  if (!s3) return;
  proxy = await startFaultProxy(s3.endpoint);
  // The S3 repository takes its credentials from the SDK's default chain (the environment).
  for (const [k, v] of Object.entries(s3Env(s3, proxy.endpoint)))
    if (k.startsWith('AWS_')) {
      saved[k] = process.env[k];
      process.env[k] = v;
    }
});
afterAll(async () => {
  for (const [k, v] of Object.entries(saved))
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  await proxy?.close();
  await s3?.stop();
});

async function configFor(tag: string, env: Record<string, string>): Promise<Config> {
  const dir = tmpDir(`offhost-${tag}`);
  const config = loadConfig({
    env: { DATABASE_PATH: path.join(dir, 'app.db'), BACKUP_STORAGE_PATH: path.join(dir, 'backups'), ...env },
    cwd: dir,
  }).config;
  await migrateUp(config, { backup: false });
  return config;
}

const lagRule = (config: Config) => buildRules(config).filter((r) => r.name === 'backup_offhost_lag');
const signalsAt = (config: Config, now: Date) => gatherSignals(config, { db: async () => null }, now);

describe('backup_offhost_lag (built-in alert)', () => {
  it('fires after its for-duration while a backup stays local-only, resolves once it is copied', async (ctx) => {
    if (!s3) return ctx.skip();
    const config = await configFor('both', {
      ...s3Env(s3, proxy.endpoint, 'offhost'),
      BACKUP_LOCAL_COPY: 'true',
      BACKUP_S3_MAX_ATTEMPTS: '1',
    });
    await createBackup(config);
    const t0 = new Date();
    expect((await signalsAt(config, t0)).backups_offhost_pending).toBe(0);

    // The bucket refuses the copy: the backup is kept locally only.
    proxy.inject('status500', Number.POSITIVE_INFINITY, /PutObject|UploadPart|CreateMultipartUpload/);
    try {
      await expect(createBackup(config)).rejects.toThrow(/is stored locally .* but was not copied/);
    } finally {
      proxy.clear();
    }
    const engine = new AlertEngine(lagRule(config));
    const forMs = parseDuration(BUILTIN_FOR.backup_offhost_lag)!;
    const at = (ms: number) => new Date(t0.getTime() + ms);
    const sig = await signalsAt(config, t0);
    expect(sig.backups_offhost_pending).toBe(1);
    expect(engine.evaluate(sig, at(0))).toEqual([]);
    expect(engine.snapshot()[0]!.state).toBe('pending');
    expect(engine.evaluate(sig, at(forMs - 1))).toEqual([]);
    const fired = engine.evaluate(sig, at(forMs));
    expect(fired.map((e) => [e.rule, e.kind, e.severity, e.value])).toEqual([
      ['backup_offhost_lag', 'firing', 'warning', 1],
    ]);

    await uploadBackups(config, {});
    const after = await signalsAt(config, at(forMs + 60_000));
    expect(after.backups_offhost_pending).toBe(0);
    expect(engine.evaluate(after, at(forMs + 60_000)).map((e) => [e.rule, e.kind])).toEqual([
      ['backup_offhost_lag', 'resolved'],
    ]);
  });

  // serve's readers (gatherSignals, the daemon's collector) are waited on by nobody: a listing slower
  // than BACKUP_S3_LOCAL_FALLBACK_MS (5 s) but within the retry budget is waited for, not counted as "not copied".
  it('a slow bucket (first listing stalls 6 s, past the 5 s fallback): serve reads 0 pending; the CLI read falls back', async (ctx) => {
    if (!s3) return ctx.skip();
    const config = await configFor('slow', {
      ...s3Env(s3, proxy.endpoint, 'offhost-slow'),
      BACKUP_LOCAL_COPY: 'true',
      BACKUP_S3_MAX_ATTEMPTS: '3',
      BACKUP_S3_RETRY_BUDGET_MS: '60000',
      BACKUP_S3_REQUEST_TIMEOUT_MS: '6000',
    });
    expect(config.database.backup.s3.local_fallback_ms).toBe(5000);
    await createBackup(config);
    const stallFirstListing = () => proxy.inject('stall', 1, /ListObjectsV2/);
    try {
      proxy.resetCounts();
      stallFirstListing();
      expect((await signalsAt(config, new Date())).backups_offhost_pending).toBe(0);
      expect(proxy.counts().ListObjectsV2).toBeGreaterThanOrEqual(2);

      stallFirstListing();
      const metrics = createMetrics();
      await new PlatformCollector(metrics, config, { db: async () => null, waitForBucket: true }).refreshCatalog();
      expect((await metrics.backupsOffHostPending.get()).values.map((v) => v.value)).toEqual([0]);

      // The interactive read (list, restore, `wks metrics`) still gives up after 5 s and says so.
      stallFirstListing();
      const cli = await sourceCatalog(config);
      expect(cli.remoteProblem).toMatch(/did not succeed within 5000 ms/);
    } finally {
      proxy.clear();
    }
  }, 90_000);

  // serve's /metrics never waits on the bucket: a scrape while the listing stalls serves the last values at once
  // (Prometheus's scrape timeout is often 10 s), and the one background read updates them once the stall ends.
  it('serve: a scrape while the listing stalls 20 s answers at once with the previous values; they update after', async (ctx) => {
    if (!s3) return ctx.skip();
    const config = await configFor('scrape', {
      ...s3Env(s3, proxy.endpoint, 'offhost-scrape'),
      BACKUP_LOCAL_COPY: 'true',
      BACKUP_S3_MAX_ATTEMPTS: '3',
      BACKUP_S3_RETRY_BUDGET_MS: '60000',
      BACKUP_S3_REQUEST_TIMEOUT_MS: '20000',
    });
    const metrics = createMetrics();
    const collector = new PlatformCollector(metrics, config, {
      db: async () => null,
      waitForBucket: true,
      catalogTtlMs: 0,
    });
    const gauge = async (name: string, labels: Record<string, string> = {}) => {
      const fam = (await metrics.registry.getMetricsAsJSON()).find((m) => m.name === name);
      return fam?.values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))?.value;
    };
    await createBackup(config);
    await collector.refreshCatalog();
    expect(await gauge('wks_backups_location', { location: 'local+s3' })).toBe(1);
    const readAt = await gauge('wks_backup_catalog_read_timestamp_seconds');
    expect(readAt).toBeGreaterThan(0);

    await createBackup(config);
    proxy.resetCounts();
    proxy.inject('stall', 1, /ListObjectsV2/);
    try {
      // The first scrape starts the background read; once the proxy holds its listing, scrape again (three in
      // parallel). The bound (5 s) is the behaviour, far below the 20 s stall: not a benchmark.
      await collector.collect();
      while (!proxy.counts().ListObjectsV2) await new Promise((r) => setTimeout(r, 50));
      const t0 = Date.now();
      await Promise.all([collector.collect(), collector.collect(), collector.collect()]);
      const text = await metrics.registry.metrics();
      expect(Date.now() - t0).toBeLessThan(5000);
      expect(text).toMatch(/^wks_backups_location\{location="local\+s3"\} 1$/m);
      expect(await gauge('wks_backup_catalog_read_timestamp_seconds')).toBe(readAt);
      // Single flight: the stalled read is the only one (no scrape started a second listing).
      expect(proxy.counts().ListObjectsV2).toBe(1);

      // The stall ends (the request times out at 20 s, the retry answers): that background read updates the values.
      const deadline = Date.now() + 60_000;
      while ((await gauge('wks_backups_location', { location: 'local+s3' })) !== 2 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 250));
      expect(await gauge('wks_backups_location', { location: 'local+s3' })).toBe(2);
      expect(proxy.counts().ListObjectsV2).toBeGreaterThanOrEqual(2);
      expect(await gauge('wks_backup_catalog_read_timestamp_seconds')).toBeGreaterThan(readAt!);
    } finally {
      proxy.clear();
    }
  }, 90_000);

  it('serve: a bucket whose listing keeps failing is re-listed at most once a minute, not on every scrape', async (ctx) => {
    if (!s3) return ctx.skip();
    const config = await configFor('failing', {
      ...s3Env(s3, proxy.endpoint, 'offhost-failing'),
      BACKUP_S3_MAX_ATTEMPTS: '1',
    });
    const metrics = createMetrics();
    let clock = Date.parse('2026-11-30T12:00:00Z');
    const collector = new PlatformCollector(metrics, config, {
      db: async () => null,
      waitForBucket: true,
      now: () => new Date(clock),
    });
    const errors = async () =>
      (await metrics.registry.getMetricsAsJSON())
        .find((m) => m.name === 'wks_scrape_errors_total')
        ?.values.find((v) => v.labels.collector === 'backup_catalog')?.value ?? 0;
    const settle = async (n: number) => {
      const deadline = Date.now() + 30_000;
      while ((await errors()) < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(await errors()).toBe(n);
    };
    proxy.resetCounts();
    proxy.inject('status500', Number.POSITIVE_INFINITY, /ListObjectsV2/);
    try {
      await collector.collect();
      await settle(1);
      const listed = proxy.counts().ListObjectsV2;
      expect(listed).toBeGreaterThanOrEqual(1);
      for (let i = 0; i < 4; i++) {
        clock += 10_000; // scrapes 10 s apart, within the minute after the failure
        await collector.collect();
      }
      await new Promise((r) => setTimeout(r, 300));
      expect(proxy.counts().ListObjectsV2).toBe(listed);
      clock += 25_000; // 65 s after the failure
      await collector.collect();
      await settle(2);
      expect(proxy.counts().ListObjectsV2).toBeGreaterThan(listed);
    } finally {
      proxy.clear();
    }
  }, 60_000);

  it('has no data, and never fires, without a bucket (a local repository)', async () => {
    const config = await configFor('local', {});
    await createBackup(config);
    const engine = new AlertEngine(lagRule(config));
    const t0 = new Date();
    const sig = await signalsAt(config, t0);
    expect(sig.backups_offhost_pending).toBeNull();
    expect(engine.evaluate(sig, t0)).toEqual([]);
    expect(engine.evaluate(sig, new Date(t0.getTime() + 86_400_000))).toEqual([]);
    expect(engine.snapshot()[0]!.state).toBe('inactive');
  });
});
