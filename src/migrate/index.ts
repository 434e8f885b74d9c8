/**
 * Schema migrations: library entry point (see docs/migrations.md).
 * Commands in src/commands/migrate are thin adapters over these.
 */
export {
  migrateUp,
  migrateDown,
  migrationStatus,
  validateMigrations,
  currentSchemaVersion,
  resolveDirty,
  withMigrationMutex,
  dialectOf,
  MigrationFailedError,
  DirtyDatabaseError,
} from './engine.js';
export type {
  MigrateUpOptions,
  MigrateUpResult,
  MigrateDownOptions,
  MigrateDownResult,
  MigrationStatus,
  MigrationInfo,
  AppliedResult,
  AppliedInfo,
  DriftEntry,
  ValidateResult,
  ResolveResult,
  SessionOptions,
  LockHolder,
} from './engine.js';
export { loadMigrations, builtinDirectory, compareVersions, type MigrationFile } from './source.js';
export { checksum, normalizeForChecksum, parseMigration, splitStatements } from './parse.js';
export { baselineDatabase, type BaselineOptions, type BaselineResult } from './baseline.js';
export { newMigration, type NewMigrationOptions, type NewMigrationResult } from './new.js';
export { userTableCount } from './store.js';
export { takePreMigrationBackup, type PreMigrationBackup, type PreMigrationBackupOptions } from './pre-backup.js';
export * from './baseline.js';
export * from './lock.js';
export * from './new.js';
