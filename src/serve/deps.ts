/**
 * Seams onto the other areas wks serve builds on (database layer, backups,
 * health, Redis, workflow reaper). Each loader imports the area lazily and
 * returns null when that area is not part of this build, so the daemon keeps
 * serving what it can and says what is missing instead of crashing.
 *
 * The types below restate the cross-team contracts (docs: team contracts in
 * DESIGN.md / src/db, src/backup, src/health, src/redis); they are the only
 * surface of those modules that serve and metrics rely on.
 */
import type { Config } from '../config/schema.js';

export interface DatabaseAdapter {
  readonly dialect: 'sqlite' | 'postgres';
  readonly target: string;
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  run(sql: string, params?: unknown[]): Promise<{ changes: number }>;
  exec(sql: string): Promise<void>;
  transaction<T>(fn: (tx: DatabaseAdapter) => Promise<T>): Promise<T>;
  close(): Promise<void>;
  poolStats(): { total: number; idle: number; waiting: number } | null;
}

export interface DbApi {
  openDatabase(config: Config, opts?: { create?: boolean }): Promise<DatabaseAdapter>;
}

export interface HealthCheckResult {
  name: string;
  status: 'ok' | 'warn' | 'critical' | 'unknown';
  detail?: unknown;
  durationMs?: number;
}
export interface HealthReport {
  status: 'ok' | 'warn' | 'critical' | 'unknown';
  checks: HealthCheckResult[];
}
export interface HealthApi {
  runHealthChecks(config: Config, opts?: { checks?: string[]; deep?: boolean; timeoutMs?: number }): Promise<HealthReport>;
}

/** The part of a backup manifest that metrics and jobs read (fields beyond these are ignored). */
export interface BackupInfo {
  id: string;
  type?: string;
  engine?: string;
  sizeBytes?: number;
  size?: number;
  createdAt?: string;
  completedAt?: string;
  startedAt?: string;
  verifiedAt?: string | null;
  status?: string;
  [k: string]: unknown;
}
export interface BackupApi {
  createBackup(config: Config, opts: { type: string; compression?: string; encrypt?: boolean; label?: string; now?: Date }): Promise<any>;
  listBackups(config: Config, ...rest: unknown[]): Promise<any>;
  verifyBackup(config: Config, selector: string, opts: { deep: boolean }): Promise<any>;
  rotateBackups(config: Config, opts: { dryRun: boolean; now?: Date }): Promise<any>;
}

export interface WorkflowApi {
  reapStale(config: Config, opts: { olderThanMs?: number; dryRun: boolean; now?: Date }): Promise<any>;
}

export interface RedisApi {
  withRedis<T>(config: Config, fn: (client: any) => Promise<T>): Promise<T>;
}

const cache = new Map<string, Promise<unknown>>();

/**
 * Import `spec` (relative to this file) or resolve null when the module does
 * not exist in this build. Other import failures (a syntax error in the
 * module) are rethrown: they are bugs, not absences.
 */
async function optional<T>(spec: string): Promise<T | null> {
  let p = cache.get(spec) as Promise<T | null> | undefined;
  if (!p) {
    const needle = spec.replace(/^(\.\.?\/)+/, '').replace(/\.js$/, '');
    p = import(spec).then(
      (m) => m as T,
      (err: NodeJS.ErrnoException) => {
        const msg = String(err?.message ?? '');
        const missing = err?.code === 'ERR_MODULE_NOT_FOUND' || /Cannot find module|Failed to load url|Does the file exist/i.test(msg);
        if (missing && msg.includes(needle)) return null;
        throw err;
      },
    );
    cache.set(spec, p);
  }
  return p;
}

/** The database layer (src/db/index.ts), or null when it is not built. */
export const loadDbApi = (): Promise<DbApi | null> => optional<DbApi>('../db/index.js');
/** The backup library (src/backup/index.ts), or null when it is not built. */
export const loadBackupApi = (): Promise<BackupApi | null> => optional<BackupApi>('../backup/index.js');
/** The health checks (src/health/index.ts), or null when they are not built. */
export const loadHealthApi = (): Promise<HealthApi | null> => optional<HealthApi>('../health/index.js');
/** The workflow reaper (src/workflow/index.ts), or null when it is not built. */
export const loadWorkflowApi = (): Promise<WorkflowApi | null> => optional<WorkflowApi>('../workflow/index.js');
/** The Redis helpers (src/redis/index.ts), or null when they are not built. */
export const loadRedisApi = (): Promise<RedisApi | null> => optional<RedisApi>('../redis/index.js');
