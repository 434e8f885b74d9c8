/**
 * Backups: the library behind `wks backup ...`. Other areas call these
 * (e.g. `migrate up` calls `createBackup(config, { type: 'pre-migration' })`,
 * `serve` schedules create/rotate/verify, `health` reads `listBackups`).
 */
import type { Config } from '../config/index.js';
import { catalogOf, type CatalogProblem } from './catalog.js';
import type { CatalogEntry, LogFn, Manifest, VerificationRecord } from './types.js';

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
  /** The repository: a directory, or `s3://bucket/prefix`. */
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
 * The catalog, newest first, read from the repository's manifests (works
 * without the database, and on a new host with only the configuration). A
 * missing directory or prefix is an empty list. Request counts go to `log` at debug.
 */
export async function listBackups(config: Config, opts: { now?: Date; log?: LogFn } = {}): Promise<BackupList> {
  const { location, entries, problems } = await catalogOf(config, opts.log);
  const now = opts.now ?? new Date();
  return { directory: location, backups: entries.map((e) => toItem(e, now)), problems };
}
