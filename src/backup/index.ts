/**
 * The public surface of src/backup: other areas import only from here (ARCHITECTURE.md).
 */
export { createBackup, type CreateOptions, type CreateResult } from './create.js';
export {
  verifyBackup,
  verifyEntry,
  selectBackups,
  brokenBackups,
  brokenRecord,
  verificationFailure,
  type VerifyOptions,
  type Selection,
} from './verify.js';
export { restoreBackup, type RestoreOptions, type RestoreResult, type RestorePlan } from './restore.js';
export { rotateBackups, type RotateOptions, type RotateResult } from './rotate.js';
export { runDrill, drillFailure, drillRtoTargetMs, type DrillOptions } from './drill.js';
export {
  planRetention,
  policyFromConfig,
  type RetentionPolicy,
  type RetentionItem,
  type RetentionDecision,
} from './retention.js';
export { availableCompressions } from './codecs/compression.js';
export { keySourceFromConfig } from './codecs/encryption.js';
export { untrustedManifest, trustedEntries } from './authenticate.js';
export { parseAt } from './catalog.js';
export type { BackupEngine } from './engine.js';
export { uploadBackups, type UploadOptions, type UploadResult } from './upload.js';
export { openRepository, withRepository, type BackupRepository } from './repository/index.js';
export type * from './types.js';
export * from './list.js';
export * from './catalog.js';
export * from './lock.js';
export * from './types.js';
export * from './source.js';
export { salvageSqlite, type SalvageResult, type SalvagedTable } from './salvage.js';
