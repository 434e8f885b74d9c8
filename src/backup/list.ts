/**
 * Backups: the library behind `wks backup ...`. Other areas call these
 * (e.g. `migrate up` calls `createBackup(config, { type: 'pre-migration' })`,
 * `serve` schedules create/rotate/verify, `health` reads `listBackups`).
 */
import type { Config } from '../config/index.js';
import { readCatalog, type CatalogProblem } from './catalog.js';
import type { CatalogEntry, Manifest, VerificationRecord } from './types.js';

export interface BackupListItem {
  id: string;
  type: Manifest['type'];
  label: string | null;
  created_at: string;
  age_ms: number;
  raw_size: number;
  stored_size: number;
  compression: Manifest['compression'];
  encrypted: boolean;
  schema_version: string | null;
  engine: Manifest['engine'];
  file: string;
  data_present: boolean;
  verification: Pick<VerificationRecord, 'ok' | 'at' | 'deep' | 'failed'> | null;
}

export interface BackupList {
  directory: string;
  backups: BackupListItem[];
  /** Manifests that could not be read (listed, never fatal). */
  /** Broken backups: manifests that cannot be used (failed backups; `verify` exits 3 for them). */
  problems: CatalogProblem[];
}

function toItem(e: CatalogEntry, now: Date): BackupListItem {
  const m = e.manifest;
  return {
    id: m.id,
    type: m.type,
    label: m.label,
    created_at: m.created_at,
    age_ms: Math.max(0, now.getTime() - new Date(m.created_at).getTime()),
    raw_size: m.raw_size,
    stored_size: m.stored_size,
    compression: m.compression,
    encrypted: !!m.encryption,
    schema_version: m.schema_version,
    engine: m.engine,
    file: m.file,
    data_present: e.dataPresent,
    verification: e.verification
      ? { ok: e.verification.ok, at: e.verification.at, deep: e.verification.deep, failed: e.verification.failed }
      : null,
  };
}

/**
 * The catalog, newest first, read from the backup directory's manifests
 * (works without the database). A missing directory is an empty list.
 */
export function listBackups(config: Config, opts: { now?: Date } = {}): BackupList {
  const dir = config.database.backup.storage_path;
  const { entries, problems } = readCatalog(dir);
  const now = opts.now ?? new Date();
  return { directory: dir, backups: entries.map((e) => toItem(e, now)), problems };
}
