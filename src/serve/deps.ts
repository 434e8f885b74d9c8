/**
 * Lazy loaders for the other areas `wks serve` builds on (backups, health,
 * workflow reaper), so that importing the daemon does not load them until a
 * job or probe needs them, plus the types serve and metrics use from them.
 */
export type { DatabaseAdapter } from '../db/types.js';

export type BackupApi = typeof import('../backup/index.js');
export type HealthApi = typeof import('../health/index.js');
export type WorkflowApi = typeof import('../workflow/index.js');

/** The backup library (createBackup, verifyBackup, selectBackups, verifyEntry, rotateBackups, listBackups). */
export const loadBackupApi = async (): Promise<BackupApi> => import('../backup/index.js');
/** The health checks (runReadinessChecks for /ready). */
export const loadHealthApi = async (): Promise<HealthApi> => import('../health/index.js');
/** The workflow inspection library (reapStale for the reap job). */
export const loadWorkflowApi = async (): Promise<WorkflowApi> => import('../workflow/index.js');
