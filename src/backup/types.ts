/**
 * Shared types of the backup subsystem: the manifest (the catalog entry, one
 * JSON file per backup in the backup directory) and the option bags of the
 * library functions. The manifest shape is a stable contract (docs/backup-and-recovery.md).
 */

/** backup_log's CHECK allows exactly these; a restore's safety backup is `manual` with label `pre-restore`. */
export type BackupType = 'manual' | 'scheduled' | 'pre-migration';
export const BACKUP_TYPES: readonly BackupType[] = ['manual', 'scheduled', 'pre-migration'];

export type Compression = 'none' | 'gzip' | 'zstd';
export const COMPRESSIONS: readonly Compression[] = ['none', 'gzip', 'zstd'];

export interface EncryptionParams {
  algorithm: 'aes-256-gcm';
  /** Header version: 2 (KDF parameters and the backup binding in the header); absent for version 1. */
  header?: 2;
  /** How the key was obtained: a raw 32-byte key, or scrypt from a passphrase (salt stored here and in the file header). */
  kdf: 'none' | 'scrypt';
  salt: string | null;
  scrypt?: { N: number; r: number; p: number };
  chunk_size: number;
  /** First 8 bytes of HMAC-SHA256(key, "wks-backup-key-id"), hex: tells "wrong key" apart from corruption. Never the key. */
  key_id: string;
}

export interface Manifest {
  format: 'wks-backup/1';
  id: string;
  type: BackupType;
  label: string | null;
  engine: 'sqlite' | 'postgres';
  /** Where the data came from, credentials redacted (a file path or postgres://user:****@host/db). */
  source: string;
  created_at: string;
  completed_at: string;
  duration_ms: number;
  /** Data object name inside the backup repository (`<id>.db.zst.enc`). */
  file: string;
  raw_size: number;
  raw_sha256: string;
  stored_size: number;
  /** sha256 of the stored file, exactly as it is on disk. */
  sha256: string;
  compression: Compression;
  encryption: EncryptionParams | null;
  /** Last applied migration version in the backed-up image, or null when unmigrated. */
  schema_version: string | null;
  row_counts: Record<string, number>;
  engine_version: string;
  /** Engine specifics, e.g. SQLite's journal mode and page size of the source. */
  engine_details: Record<string, unknown>;
  wks_version: string;
  hostname: string;
  /**
   * Which database this is a backup of (see src/backup/source.ts). Absent in
   * manifests written before wks recorded it: those are attributed by engine,
   * location and host name.
   */
  source_identity?: SourceIdentity;
  /**
   * HMAC-SHA256 (hex) of the manifest's canonical form (every other field,
   * keys sorted), keyed from the encryption key; encrypted backups only.
   * Absent on unencrypted backups and on backups made before it existed.
   */
  manifest_mac?: string;
  /** What looked wrong about the source (empty or unmigrated database); absent in manifests of older versions. */
  warnings?: string[];
}

/**
 * A database's identity as recorded in a manifest. `key` is `sqlite:<uuid>`
 * (the id kept in the database's `wks_identity` table) or
 * `postgres:<system identifier>/<database>`; null when it could not be read
 * (then `location` and `hostname` decide).
 */
export interface SourceIdentity {
  engine: 'sqlite' | 'postgres';
  key: string | null;
  /** The absolute SQLite path, or `host:port/database` for PostgreSQL. */
  location: string;
  /** The host wks ran on (SQLite paths are only meaningful on their host). */
  hostname: string;
}

export interface VerifyCheck {
  name: 'manifest' | 'checksum' | 'decode' | 'integrity' | 'row_counts' | 'schema_version';
  ok: boolean;
  detail: string;
}

/** The `<id>.verify.json` sidecar: the last verification of a backup. */
export interface VerificationRecord {
  id: string;
  at: string;
  ok: boolean;
  deep: boolean;
  checks: VerifyCheck[];
  /** Name of the first failed check, or null. */
  failed: string | null;
  duration_ms: number;
}

/** The phases of a restore drill, in order; their sum is the measured RTO. */
export type DrillPhase = 'fetch' | 'decode' | 'load' | 'check';
export const DRILL_PHASES: readonly DrillPhase[] = ['fetch', 'decode', 'load', 'check'];

/**
 * The `<id>.drill.json` sidecar (the last drill of a backup) and the
 * `backup_drills` row: one restore drill and its measured RTO.
 * `outcome`: passed; failed (a check failed or the restore did not complete);
 * rto_missed (every check passed but the total exceeded the RTO target).
 */
export interface DrillRecord {
  id: string;
  engine: 'sqlite' | 'postgres';
  /** Bytes of the stored backup the drill fetched. */
  stored_size: number;
  started_at: string;
  completed_at: string;
  outcome: 'passed' | 'failed' | 'rto_missed';
  ok: boolean;
  /** The measured RTO: the sum of the phases. */
  duration_ms: number;
  rto_target_ms: number;
  phases_ms: Record<DrillPhase, number>;
  checks: VerifyCheck[];
  /** Name of the first failed check, or null. */
  failed: string | null;
  /** A failure that is not a check (the scratch target could not be created, a tool crashed). */
  error: string | null;
  /** What the drill restored into (a temporary file, a scratch database); always removed afterwards. */
  scratch: string;
  scratch_removed: boolean;
  hostname: string;
}

/** A manifest plus what the catalog knows about it. */
export interface CatalogEntry {
  manifest: Manifest;
  /** Where the manifest is, for messages: a path, or an s3:// URL. */
  manifestPath: string;
  /** The data object's name in the repository. */
  dataName: string;
  /** Where the data object is, for messages: a path, or an s3:// URL. */
  dataPath: string;
  dataPresent: boolean;
  /** Where the backup is (its manifest): `local`, `s3`, or both in a local+s3 repository. */
  locations: Array<'local' | 's3'>;
  verification: VerificationRecord | null;
  /** The last restore drill of this backup (`<id>.drill.json`), or null. */
  drill: DrillRecord | null;
}

/** Progress of a long operation, for the spinner. */
export interface ProgressEvent {
  phase: 'snapshot' | 'encode' | 'checksum' | 'decode' | 'integrity' | 'install';
  done: number;
  total: number | null;
  unit: 'pages' | 'bytes';
}
export type ProgressFn = (p: ProgressEvent) => void;

/** A note for -v (debug) output; the domain never prints. */
export type LogFn = (level: 'debug' | 'info' | 'warn', text: string) => void;
