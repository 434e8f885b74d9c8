/**
 * `listBackups`: the catalog as `wks backup list` shows it, with each
 * backup's source (source.ts). Works without the database.
 */
import type { Config } from '../config/index.js';
import { UsageError } from '../errors.js';
import { catalogOrder, missingDirectory, type CatalogProblem } from './catalog.js';
import { manifestIdentity, matchesSourceFilter, sourceCatalog, sourceLabel } from './source.js';
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
  /** The source's label (`sqlite:1a2b3c4d`, `postgres:<system id>/<db>`, or its location when it has no id), see docs/backup-and-recovery.md. */
  source: string;
  /** The full identity key, or null for backups without one (attributed by location). */
  source_key: string | null;
  source_location: string;
  /** True when this is a backup of the configured database. */
  own: boolean;
  file: string;
  /** Where the backup is: `local` (this host only), `s3`, or `local+s3` (both copies). */
  location: BackupLocation;
  data_present: boolean;
  verification: Pick<VerificationRecord, 'ok' | 'at' | 'deep' | 'failed'> | null;
}

/** Where a backup is: one side, or both. */
export type BackupLocation = 'local' | 's3' | 'local+s3';
export const BACKUP_LOCATIONS: readonly BackupLocation[] = ['local', 's3', 'local+s3'];

/** A backup's location from the sides holding it. */
export function locationOf(e: CatalogEntry): BackupLocation {
  const l = e.locations.includes('local');
  return l && e.locations.includes('s3') ? 'local+s3' : l ? 'local' : 's3';
}

export interface BackupList {
  /** The repository: a directory, `s3://bucket/prefix`, or both (`DIR + s3://bucket/prefix`). */
  directory: string;
  /** The repository's kind: `local`, `s3`, or `local+s3` (a local copy plus the bucket). */
  kind: 'local' | 's3' | 'local+s3';
  /** The --location filter applied, or null. */
  location: BackupLocation | null;
  /** What the listing could not read (local+s3: the bucket), as one line each. */
  warnings: string[];
  /** The configured database's source label, and the filter applied (null: every source). */
  configured_source: string;
  filter: string | null;
  backups: BackupListItem[];
  /** Broken backups: manifests that cannot be used (failed backups; `verify` exits 3 for them). */
  problems: CatalogProblem[];
}

function toItem(e: CatalogEntry, now: Date, own: boolean): BackupListItem {
  const m = e.manifest;
  const id = manifestIdentity(m);
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
    source: sourceLabel(id),
    source_key: id.key,
    source_location: id.location,
    own,
    file: m.file,
    location: locationOf(e),
    data_present: e.dataPresent,
    verification: e.verification
      ? { ok: e.verification.ok, at: e.verification.at, deep: e.verification.deep, failed: e.verification.failed }
      : null,
  };
}

/**
 * The catalog, newest first, read from the repository's manifests (works
 * without the database, and on a new host with only the configuration).
 * `source` filters it: `configured` (or `.`) for the configured database's
 * backups, otherwise a key, key prefix, label, location or engine name
 * (source.ts matchesSourceFilter). `location` keeps the backups whose
 * LOCATION is exactly that (`local`: not yet copied off the host). Throws
 * NotFoundError (5) when the backup directory does not exist (an empty
 * bucket prefix is an empty list), UsageError (2) for an unknown location.
 */
export async function listBackups(
  config: Config,
  opts: { now?: Date; log?: LogFn; source?: string; location?: string } = {},
): Promise<BackupList> {
  const where = opts.location?.trim() || null;
  if (where !== null && !BACKUP_LOCATIONS.includes(where as BackupLocation))
    throw new UsageError(`--location: unknown location "${where}"`, {
      hint: `use one of: ${BACKUP_LOCATIONS.join(', ')}`,
    });
  const cat = await sourceCatalog(config, { log: opts.log });
  if (cat.missing) throw missingDirectory(cat.directory);
  const now = opts.now ?? new Date();
  const own = new Set(cat.entries);
  const filter = opts.source?.trim() || null;
  const all = [...cat.entries, ...cat.others].sort(catalogOrder);
  const shown = all.filter(
    (e) =>
      (!filter
        ? true
        : filter === 'configured' || filter === '.'
          ? own.has(e)
          : matchesSourceFilter(e.manifest, filter)) &&
      (where === null || locationOf(e) === where),
  );
  return {
    directory: cat.directory,
    kind: cat.kind,
    location: where as BackupLocation | null,
    warnings: cat.remoteProblem ? [cat.remoteProblem] : [],
    configured_source: sourceLabel(cat.source),
    filter,
    backups: shown.map((e) => toItem(e, now, own.has(e))),
    problems: cat.problems,
  };
}
