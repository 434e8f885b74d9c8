/**
 * Scrape-time collectors: compute the platform metrics from the platform's
 * own data (workflow_executions, workflow_execution_tracking, agents,
 * agent_health_checks, the backup catalog, Redis execution locks).
 *
 * Cost contract (a scrape must stay cheap with 10k+ executions):
 *  - workflow_executions_total, workflow_execution_duration_seconds and
 *    workflow_queue_wait_seconds are updated incrementally. The collector
 *    remembers the highest execution id it has seen and the ids it saw while
 *    they were still pending/running. Each scrape reads only rows with a
 *    higher id (primary key range) and the active set (the platform's partial
 *    index idx_workflow_execution_status); an id that has left the active set
 *    is re-read by primary key and counted once, when it reaches a terminal
 *    status. Ids skipped inside the range (committed out of order) are
 *    re-read by primary key for GAP_TTL_MS. The first scrape after start
 *    reads the history once, in batches.
 *  - active_workflows and wks_workflows_stuck come from that same active-set
 *    query; agent_health_status reads the newest check per agent through
 *    idx_agent_health_recent.
 *  - The backup catalog is re-read at most every `catalogTtlMs` (default 5 s; 5 min for an S3 repository),
 *    one read at a time, in the background: a scrape serves the last values (see `waitForBucket`).
 * A failing collector never fails the scrape: it sets wks_up{dependency}=0,
 * counts wks_scrape_errors_total{collector} and leaves the other values.
 */
import path from 'node:path';
import type { Config } from '../config/index.js';
import type { DatabaseAdapter } from '../db/index.js';
import type { BackupRepository, CatalogEntry, DrillRecord } from '../backup/index.js';
import type { WksMetrics } from './registry.js';
import { parseDbTime } from '../db/index.js';
import { freeBytes } from '../util/disk.js';
import { parseDuration } from '../util/duration.js';

type RepositoryKind = BackupRepository['kind'];

export interface CollectorSources {
  /** The (instrumented) database, or null when none is configured/reachable. */
  db: () => Promise<DatabaseAdapter | null>;
  /** Count execution locks; null when Redis is disabled. Throws when Redis is unreachable. */
  countLocks?: (() => Promise<number>) | null;
  /** Read the backup catalog (database.backup.storage_path) for the wks_backup_* gauges. Default true. */
  catalog?: boolean;
  now?: () => Date;
  /** How long a backup-catalog read is reused (default 5000 ms). */
  catalogTtlMs?: number;
  /**
   * Nobody waits on this collector (serve): with a local copy, the bucket's listing gets the full
   * retry budget instead of BACKUP_S3_LOCAL_FALLBACK_MS, so a slow bucket does not count every
   * backup as not copied (wks_backups_offhost_pending); and no scrape waits for a catalog read, not even
   * the first (they serve the last values; wks_backup_catalog_read_timestamp_seconds says how old).
   * Default false (`wks metrics`, which waits for its one read).
   */
  waitForBucket?: boolean;
  /**
   * How long a lock count is reused (default 5000 ms). Counting is a SCAN of
   * the whole Redis keyspace (O(keys in the db), not O(locks)), so it runs in
   * the background once the value is older than this; scrapes use the last
   * count and only the very first scrape waits for one.
   */
  locksTtlMs?: number;
}

interface ExecRow {
  id: number | string;
  status: string;
  started_at: unknown;
  completed_at: unknown;
  workflow_name: string | null;
  priority: number | string | null;
  queued_at: unknown;
  lock_acquired_at: unknown;
}

const TERMINAL = new Set(['completed', 'failed']);
/** The workflow_name of executions of workflows beyond monitoring.prometheus.workflow_label_limit. */
export const OTHER_WORKFLOWS = 'other';
const BATCH = 5000;
/** Cap on remembered active ids; beyond it the oldest are dropped (and then never counted). */
const MAX_TRACKED = 100_000;
/** A skipped id is re-checked for this long (a transaction open longer is not counted). */
const GAP_TTL_MS = 5 * 60_000;
/** A failed catalog read is retried after this long (or the catalog's TTL, if shorter), never on every scrape. */
const CATALOG_RETRY_MS = 60_000;
/** Larger jumps in ids (a sequence restart, a bulk delete) are not treated as gaps. */
const MAX_GAP_SPAN = 1000;
/** How far back errorRate() can look. */
const HISTORY_MS = 15 * 60_000;
const HISTORY_STEP_MS = 5000;

const EXEC_SELECT = `SELECT e.id AS id, e.status AS status, e.started_at AS started_at, e.completed_at AS completed_at,
  w.name AS workflow_name, t.priority AS priority, t.started_at AS queued_at, t.lock_acquired_at AS lock_acquired_at
  FROM workflow_executions e
  LEFT JOIN workflows w ON w.id = e.workflow_id
  LEFT JOIN workflow_execution_tracking t ON t.execution_id = e.id`;

export class PlatformCollector {
  private lastId = 0;
  /** Terminal executions counted so far, and snapshots of these totals over time (for errorRate). */
  private readonly totals = { completed: 0, failed: 0 };
  private readonly history: Array<{ t: number; completed: number; failed: number }> = [];
  private longest = 0;
  private executionsSeen = false;
  /** Ids skipped below lastId (uncommitted when read), with when they were first missed. */
  private readonly gaps = new Map<number, number>();
  private caughtUp = false;
  /** Ids seen while pending/running, not yet counted. */
  private readonly tracked = new Set<number>();
  /** workflow_name values in use (bounded: workflowLabel()); null until ranked at the first collect. */
  private named: Set<string> | null = null;
  private catalogAt = 0;
  private catalogBusy?: Promise<void>;
  private catalogKnown = false;
  /** When the last catalog read failed: a bucket that keeps failing is re-listed at most every minute, not per scrape. */
  private catalogFailedAt = Number.NEGATIVE_INFINITY;
  private locksAt = 0;
  private locksBusy?: Promise<void>;
  private locksKnown = false;
  private inflight?: Promise<void>;

  constructor(
    private readonly metrics: WksMetrics,
    private readonly config: Config,
    private readonly sources: CollectorSources,
  ) {}

  /**
   * Forget the incremental execution state and reset the execution counters
   * (the database was replaced, e.g. restored: its ids mean something else).
   * The next collect() reads the history again; Prometheus sees a counter reset.
   */
  resetExecutions(): void {
    this.lastId = 0;
    this.tracked.clear();
    this.gaps.clear();
    this.caughtUp = false;
    this.history.length = 0;
    this.totals.completed = 0;
    this.totals.failed = 0;
    this.executionsSeen = false;
    this.named = null;
    this.metrics.workflowExecutionsTotal.reset();
    this.metrics.workflowExecutionDuration.reset();
    this.metrics.workflowQueueWait.reset();
  }

  /** Make the next collect() re-read the backup catalog (after a backup, rotate or verify). */
  invalidateCatalog(): void {
    this.catalogAt = 0;
    this.catalogFailedAt = Number.NEGATIVE_INFINITY;
  }

  /**
   * Refresh every collector. Never throws. Concurrent callers (parallel
   * scrapes) share one refresh instead of each running the queries.
   */
  collect(): Promise<void> {
    if (!this.inflight) {
      const now = this.sources.now?.() ?? new Date();
      this.inflight = Promise.all([
        this.collectDb(now),
        this.collectLocks(now),
        this.collectBackups(now),
        this.collectDisk(),
      ])
        .then(() => undefined)
        .finally(() => {
          this.inflight = undefined;
        });
    }
    return this.inflight;
  }

  private async collectDisk(): Promise<void> {
    const vols: Array<[string, string]> = [['backups', this.config.database.backup.storage_path]];
    if (this.config.database.type === 'sqlite')
      vols.push(['database', path.dirname(path.resolve(this.config.database.path))]);
    await Promise.all(
      vols.map(async ([volume, dir]) => {
        const free = await freeBytes(dir);
        if (free !== null) this.metrics.diskFree.set({ volume }, free);
      }),
    );
  }

  private fail(collector: string, dependency?: string): void {
    this.metrics.scrapeErrorsTotal.inc({ collector });
    if (dependency) this.metrics.up.set({ dependency }, 0);
  }

  private async collectDb(now: Date): Promise<void> {
    let db: DatabaseAdapter | null;
    try {
      db = await this.sources.db();
    } catch {
      this.fail('database', 'database');
      return;
    }
    if (!db) return;
    try {
      await db.query('SELECT 1 AS ok');
      this.metrics.up.set({ dependency: 'database' }, 1);
    } catch {
      this.fail('database', 'database');
      return;
    }
    const stats = db.poolStats();
    this.metrics.databaseConnections.set({ pool_name: 'wks' }, stats ? stats.total : 1);
    await Promise.all([
      this.collectExecutions(db, now).catch(() => this.fail('workflow_executions')),
      this.collectAgents(db, now).catch(() => this.fail('agent_health')),
    ]);
  }

  /**
   * The workflow_name label for a workflow: its name when it is one of the
   * `workflow_label_limit` busiest (ranked once, when the history is first
   * read), or a newcomer while fewer than that many are named; else `other`.
   * Once named, a workflow keeps its label, so counters stay monotonic.
   */
  private workflowLabel(name: string): string {
    if (!this.named) this.named = new Set();
    const named = this.named;
    if (named.has(name)) return name;
    if (named.size < this.config.monitoring.prometheus.workflow_label_limit) {
      named.add(name);
      return name;
    }
    return OTHER_WORKFLOWS;
  }

  /** Rank workflows by terminal executions (one grouped query, at the first collect only). */
  private async rankWorkflows(db: DatabaseAdapter): Promise<void> {
    const limit = this.config.monitoring.prometheus.workflow_label_limit;
    const rows =
      limit > 0
        ? await db.query<{ name: string | null }>(
            `SELECT w.name AS name, COUNT(*) AS n FROM workflow_executions e
             LEFT JOIN workflows w ON w.id = e.workflow_id
             WHERE e.status IN ('completed', 'failed')
             GROUP BY w.name ORDER BY COUNT(*) DESC, w.name LIMIT ${Number(limit)}`,
          )
        : [];
    this.named = new Set(rows.map((r) => r.name ?? 'unknown'));
  }

  private countTerminal(row: ExecRow): void {
    const name = this.workflowLabel(row.workflow_name ?? 'unknown');
    if (row.status === 'failed') this.totals.failed++;
    else this.totals.completed++;
    this.metrics.workflowExecutionsTotal.inc({ workflow_name: name, status: row.status });
    const started = parseDbTime(row.started_at);
    const completed = parseDbTime(row.completed_at);
    if (started && completed && completed >= started) {
      this.metrics.workflowExecutionDuration.observe(
        { workflow_name: name },
        (completed.getTime() - started.getTime()) / 1000,
      );
    }
    const queued = parseDbTime(row.queued_at);
    const locked = parseDbTime(row.lock_acquired_at);
    if (queued && locked && locked >= queued) {
      this.metrics.workflowQueueWait.observe(
        { priority: String(row.priority ?? 5) },
        (locked.getTime() - queued.getTime()) / 1000,
      );
    }
  }

  private see(row: ExecRow): void {
    const id = Number(row.id);
    if (TERMINAL.has(row.status)) {
      this.tracked.delete(id);
      this.countTerminal(row);
    } else {
      this.tracked.add(id);
      if (this.tracked.size > MAX_TRACKED) this.tracked.delete(this.tracked.values().next().value as number);
    }
  }

  private async collectExecutions(db: DatabaseAdapter, now: Date): Promise<void> {
    // 1. New rows, by primary key range. After the first catch-up, ids skipped
    //    inside the range are remembered as gaps: on PostgreSQL a transaction
    //    holding a lower id can commit after a higher one was read.
    const nowMs = now.getTime();
    if (this.named === null) await this.rankWorkflows(db);
    for (;;) {
      const rows = await db.query<ExecRow>(`${EXEC_SELECT} WHERE e.id > $1 ORDER BY e.id LIMIT ${BATCH}`, [
        this.lastId,
      ]);
      for (const row of rows) {
        const id = Number(row.id);
        if (this.caughtUp && id - this.lastId - 1 <= MAX_GAP_SPAN) {
          for (let g = this.lastId + 1; g < id; g++) this.gaps.set(g, nowMs);
        }
        this.see(row);
        this.lastId = Math.max(this.lastId, id);
      }
      if (rows.length < BATCH) break;
    }
    this.caughtUp = true;
    // 1b. Gaps: re-read by primary key until they appear or expire (rolled-back ids never do).
    if (this.gaps.size) {
      for (const [id, at] of this.gaps) if (nowMs - at > GAP_TTL_MS) this.gaps.delete(id);
      const ids = [...this.gaps.keys()].slice(0, 500);
      if (ids.length) {
        const rows = await db.query<ExecRow>(
          `${EXEC_SELECT} WHERE e.id IN (${ids.map((_, j) => `$${j + 1}`).join(', ')})`,
          ids,
        );
        for (const row of rows) {
          this.gaps.delete(Number(row.id));
          this.see(row);
        }
      }
    }
    // 2. The active set (partial index), for active_workflows and stuck detection.
    const active = await db.query<{ id: number | string; status: string; started_at: unknown }>(
      `SELECT id, status, started_at FROM workflow_executions WHERE status IN ('pending', 'running')`,
    );
    this.metrics.activeWorkflows.set(active.length);
    const timeoutMs = this.config.execution.timeouts.default_workflow_timeout_ms;
    let stuck = 0;
    let longest = 0;
    const activeIds = new Set<number>();
    for (const a of active) {
      activeIds.add(Number(a.id));
      const started = parseDbTime(a.started_at);
      if (!started) continue;
      const age = now.getTime() - started.getTime();
      if (age > timeoutMs) stuck++;
      if (a.status === 'running') longest = Math.max(longest, age / 1000);
    }
    this.metrics.workflowsStuck.set(stuck);
    this.metrics.longestRunning.set(longest);
    this.longest = longest;
    this.executionsSeen = true;
    // 3. Tracked ids that left the active set: re-read by primary key, count once.
    const left = [...this.tracked].filter((id) => !activeIds.has(id));
    for (let i = 0; i < left.length; i += 500) {
      const chunk = left.slice(i, i + 500);
      const params = chunk.map((_, j) => `$${j + 1}`).join(', ');
      const rows = await db.query<ExecRow>(`${EXEC_SELECT} WHERE e.id IN (${params})`, chunk);
      const found = new Set<number>();
      for (const row of rows) {
        found.add(Number(row.id));
        this.see(row);
      }
      for (const id of chunk) if (!found.has(id)) this.tracked.delete(id); // deleted rows
    }
    // One snapshot per HISTORY_STEP_MS (the newest is updated in between): bounded memory at any scrape rate.
    const last = this.history[this.history.length - 1];
    const prev = this.history[this.history.length - 2];
    if (last && prev && now.getTime() - prev.t < HISTORY_STEP_MS)
      Object.assign(last, { t: now.getTime(), ...this.totals });
    else this.history.push({ t: now.getTime(), ...this.totals });
    while (this.history.length > 2 && this.history[1]!.t <= now.getTime() - HISTORY_MS) this.history.shift();
  }

  /**
   * failed / (completed + failed) among executions this collector saw finish
   * within the last `windowMs` before `now` (as Prometheus computes it from
   * rate(workflow_executions_total)); null when none finished in the window
   * or before two collections. Cheap: no query.
   */
  errorRate(now: Date, windowMs: number): number | null {
    if (this.history.length < 2) return null;
    const cur = this.history[this.history.length - 1]!;
    let base = this.history[0]!;
    for (const h of this.history) if (h.t <= now.getTime() - windowMs) base = h;
    const failed = cur.failed - base.failed;
    const total = failed + cur.completed - base.completed;
    return total > 0 ? failed / total : null;
  }

  /** Seconds the oldest running execution had run at the last collection (null before the first). */
  longestRunningSeconds(): number | null {
    return this.executionsSeen ? this.longest : null;
  }

  private async collectAgents(db: DatabaseAdapter, now: Date): Promise<void> {
    const rows = await db.query<{ name: string; status: string | null; check_time: unknown }>(
      `SELECT a.name AS name, h.status AS status, h.check_time AS check_time
         FROM agents a
         LEFT JOIN agent_health_checks h ON h.id = (
           SELECT h2.id FROM agent_health_checks h2 WHERE h2.agent_id = a.id ORDER BY h2.check_time DESC, h2.id DESC LIMIT 1)`,
    );
    const staleMs = parseDuration(this.config.health.agent_stale_after) ?? 15 * 60_000;
    this.metrics.agentHealthStatus.reset();
    for (const r of rows) {
      const at = parseDbTime(r.check_time);
      const fresh = at !== null && now.getTime() - at.getTime() <= staleMs;
      const v = !fresh ? 0 : r.status === 'healthy' ? 1 : r.status === 'degraded' ? 0.5 : 0;
      this.metrics.agentHealthStatus.set({ agent_name: r.name }, v);
    }
  }

  private async collectLocks(now: Date): Promise<void> {
    const count = this.sources.countLocks;
    if (!count) return;
    const ttl = this.sources.locksTtlMs ?? 5000;
    if (!this.locksBusy && now.getTime() - this.locksAt >= ttl) {
      this.locksBusy = (async () => {
        try {
          this.metrics.locksHeld.set(await count());
          this.metrics.up.set({ dependency: 'redis' }, 1);
          this.locksKnown = true;
        } catch {
          this.fail('locks', 'redis');
        } finally {
          this.locksAt = (this.sources.now?.() ?? new Date()).getTime();
          this.locksBusy = undefined;
        }
      })();
    }
    // Stale-while-revalidate: wait only when there is no value yet.
    if (!this.locksKnown && this.locksBusy) await this.locksBusy;
  }

  /**
   * Re-read the backup catalog now and wait for it (a serve job that changed the catalog; no scrape
   * waits on this). Joins the single refresh: waits out one in flight, then starts its own.
   */
  async refreshCatalog(): Promise<void> {
    if (this.sources.catalog === false) return;
    while (this.catalogBusy) await this.catalogBusy;
    this.catalogBusy = this.readCatalog(this.sources.now?.() ?? new Date());
    await this.catalogBusy;
  }

  private async collectBackups(now: Date): Promise<void> {
    if (this.sources.catalog === false) return;
    // A bucket bills per request: re-list it at most every 5 minutes (jobs that change it invalidate the cache).
    const ttl = this.sources.catalogTtlMs ?? (this.config.database.backup.repository ? 300_000 : 5000);
    const retry = Math.min(ttl, CATALOG_RETRY_MS);
    const due = now.getTime() - this.catalogAt >= ttl && now.getTime() - this.catalogFailedAt >= retry;
    if (!this.catalogBusy && due) this.catalogBusy = this.readCatalog(now);
    // Stale-while-revalidate, as the lock count: scrapes serve the last values. `wks metrics` waits for its
    // first read; serve never waits (a slow bucket must not hold /metrics past Prometheus's scrape timeout).
    if (!this.catalogKnown && !this.sources.waitForBucket && this.catalogBusy) await this.catalogBusy;
  }

  /** One catalog read (the single refresh in flight, this.catalogBusy); sets the wks_backup_* gauges. */
  private async readCatalog(now: Date): Promise<void> {
    try {
      // Only the configured database's backups (a shared directory holds other sources' too).
      const { configuredSource, sourceCatalog, lastDrills, trustedEntries } = await import('../backup/index.js');
      const source = await configuredSource(this.config, { reuse: true });
      const cat = await sourceCatalog(this.config, { source, waitForBucket: this.sources.waitForBucket });
      const entries = trustedEntries(this.config, cat.entries);
      applyCatalog(this.metrics, entries, cat.kind);
      applyDrills(this.metrics, lastDrills(entries), this.config);
      this.metrics.backupCatalogRead.set((this.sources.now?.() ?? new Date()).getTime() / 1000);
      this.catalogAt = now.getTime();
      this.catalogKnown = true;
    } catch {
      this.catalogFailedAt = now.getTime();
      this.fail('backup_catalog');
    } finally {
      this.catalogBusy = undefined;
    }
  }
}

/**
 * Set the wks_backup_* gauges from the catalog (manifests + verification
 * sidecars): newest completion per engine/type, the newest backup's duration
 * and stored size, counts by state (verified, unverified, failed, missing =
 * manifest without its data file) and by location (local, s3, local+s3), and
 * the newest successful verification; with a local copy and a bucket
 * (`kind` local+s3), the backups not copied off the host yet.
 */
export function applyCatalog(metrics: WksMetrics, entries: CatalogEntry[], kind?: RepositoryKind): void {
  metrics.backups.reset();
  metrics.backupsByLocation.reset();
  metrics.backupsOffHostPending.set(offHostPending(entries, kind) ?? 0);
  metrics.backupLastSuccess.reset();
  const states: Record<string, number> = { verified: 0, unverified: 0, failed: 0, missing: 0 };
  const last = new Map<string, { labels: { engine: string; type: string }; ts: number }>();
  let newest: { at: number; e: CatalogEntry } | null = null;
  let verifiedMax = 0;
  for (const e of entries) {
    const v = e.verification;
    const state = !e.dataPresent ? 'missing' : v && !v.ok ? 'failed' : v?.ok ? 'verified' : 'unverified';
    states[state] = (states[state] ?? 0) + 1;
    const vAt = v?.ok ? parseDbTime(v.at) : null;
    if (vAt) verifiedMax = Math.max(verifiedMax, vAt.getTime());
    if (state === 'failed' || state === 'missing') continue;
    const m = e.manifest;
    const at = parseDbTime(m.completed_at) ?? parseDbTime(m.created_at);
    if (!at) continue;
    const labels = { engine: m.engine, type: m.type };
    const key = `${labels.engine}\u0000${labels.type}`;
    const cur = last.get(key);
    if (!cur || at.getTime() / 1000 > cur.ts) last.set(key, { labels, ts: at.getTime() / 1000 });
    if (!newest || at.getTime() > newest.at) newest = { at: at.getTime(), e };
  }
  for (const { labels, ts } of last.values()) metrics.backupLastSuccess.set(labels, ts);
  for (const [state, n] of Object.entries(states)) metrics.backups.set({ state }, n);
  const where: Record<string, number> = {};
  for (const e of entries) {
    const l = e.locations.includes('local');
    const key = l && e.locations.includes('s3') ? 'local+s3' : l ? 'local' : 's3';
    where[key] = (where[key] ?? 0) + 1;
  }
  for (const [location, n] of Object.entries(where)) metrics.backupsByLocation.set({ location }, n);
  if (verifiedMax) metrics.backupVerifyLastSuccess.set(verifiedMax / 1000);
  if (newest) {
    metrics.backupLastSize.set(newest.e.manifest.stored_size);
    if (Number.isFinite(newest.e.manifest.duration_ms))
      metrics.backupLastDuration.set(newest.e.manifest.duration_ms / 1000);
  }
}

/**
 * Set the wks_backup_drill_* gauges from the catalog's drill sidecars: the last passed drill's time
 * (before the first drill, the oldest backup's creation: a fresh install is not alerted before its first
 * weekly drill), the last drill's measured RTO and failure, and the configured RTO target.
 */
export function applyDrills(
  metrics: WksMetrics,
  drills: { last: DrillRecord | null; lastPassed: DrillRecord | null; windowStart: Date | null },
  config: Config,
): void {
  metrics.drillRtoTarget.set((parseDuration(config.database.backup.drill.rto_target) ?? 900_000) / 1000);
  const passedAt = drills.lastPassed ? parseDbTime(drills.lastPassed.completed_at) : drills.windowStart;
  metrics.drillLastSuccess.set(passedAt ? passedAt.getTime() / 1000 : 0);
  if (drills.last) metrics.drillLastDuration.set(drills.last.duration_ms / 1000);
  metrics.drillLastFailed.set(drills.last?.outcome === 'failed' ? 1 : 0);
}

/**
 * local+s3 only: the backups kept on this host only, not in the bucket yet (the off-host copy lags);
 * null for any other repository (there is no off-host copy to lag).
 */
export function offHostPending(entries: CatalogEntry[], kind: RepositoryKind | undefined): number | null {
  return kind === 'local+s3' ? entries.filter((e) => !e.locations.includes('s3')).length : null;
}

/** Unix ms of the newest usable (present, not failed) backup in the catalog, or 0 when there is none. */
export function newestBackupMs(entries: CatalogEntry[]): number {
  let newest = 0;
  for (const e of entries) {
    if (!e.dataPresent || (e.verification && !e.verification.ok)) continue;
    const at = parseDbTime(e.manifest.completed_at) ?? parseDbTime(e.manifest.created_at);
    if (at) newest = Math.max(newest, at.getTime());
  }
  return newest;
}
