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

export type { DatabaseAdapter } from '../db/types.js';
import type { DatabaseAdapter } from '../db/types.js';

export interface DbApi {
  openDatabase(config: Config, opts?: { create?: boolean }): Promise<DatabaseAdapter>;
}

export type HealthApi = typeof import('../health/index.js');

export type BackupApi = typeof import('../backup/index.js');

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
export const loadDbApi = async (): Promise<DbApi> => import('../db/index.js');
/** The backup library (src/backup/index.ts), or null when it is not built. */
export const loadBackupApi = async (): Promise<BackupApi | null> => import('../backup/index.js');
/** The health checks (src/health/index.ts), or null when they are not built. */
export const loadHealthApi = async (): Promise<HealthApi> => import('../health/index.js');
/** The workflow reaper (src/workflow/index.ts), or null when it is not built. */
export const loadWorkflowApi = async (): Promise<WorkflowApi> => import('../workflow/index.js');
/** The Redis helpers (src/redis/index.ts), or null when they are not built. */
export const loadRedisApi = (): Promise<RedisApi | null> => optional<RedisApi>('../redis/index.js');
