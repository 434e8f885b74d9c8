/**
 * The engine seam. Everything database-specific about a backup sits behind
 * BackupEngine; the catalog, codecs, lock, retention, verify/restore
 * orchestration and the commands are shared. SQLite is engines/sqlite.ts; a
 * PostgreSQL engine (pg_dump custom format, streamed) implements the same
 * interface and is picked by `engineFor(config)`.
 */
import type { Readable } from 'node:stream';
import type { Config } from '../config/index.js';
import type { LogFn, Manifest, ProgressFn, VerifyCheck, BackupType } from './types.js';
import type { ConfiguredSource } from './source.js';

export interface SnapshotInfo {
  /** Last applied migration in the snapshot, or null when unmigrated. */
  schemaVersion: string | null;
  /** Rows per table, counted in the same snapshot as the image. */
  rowCounts: Record<string, number>;
  engineVersion: string;
  details: Record<string, unknown>;
  /** The source's identity key as captured in the snapshot (src/db/identity.ts), or null when it has none. */
  identityKey: string | null;
}

export interface SnapshotResult extends SnapshotInfo {
  /**
   * The raw image: a finished temp file, or a stream that the pipeline consumes (e.g. pg_dump stdout).
   * With a stream, `rowCounts` may be filled in while it flows; it is complete once `finished` resolves.
   */
  output: { file: string } | { stream: Readable; finished: Promise<void> };
}

export interface RestoreTarget {
  /** What is being replaced, for messages (a path or a redacted URL). */
  description: string;
  /** File path (SQLite) or database name (PostgreSQL). */
  location: string;
  /** True when this is the configured live database (a safety backup is taken first). */
  live: boolean;
  /** True when something exists at the target now. */
  exists: boolean;
}

/** A row of the backup_log mirror. */
export interface BackupLogStart {
  type: BackupType;
  filePath: string;
  startedAt: Date;
}
export interface BackupLogFinish {
  status: 'completed' | 'failed';
  completedAt: Date;
  sizeBytes?: number;
  checksum?: string;
  error?: string;
}

export interface BackupEngine {
  readonly name: 'sqlite' | 'postgres';
  /** Suffix of the raw image before codec suffixes (`.db`, `.dump`). */
  readonly extension: string;
  /** The source, credentials redacted. */
  source(config: Config): string;
  /** The location part of the source's identity: the absolute SQLite path, or PostgreSQL `host:port/database`. */
  location(config: Config): string;
  /**
   * The configured database's identity (src/backup/source.ts). Reads only;
   * never throws: a missing or unreachable database gives key null and a note.
   */
  identify(config: Config): Promise<ConfiguredSource>;
  /**
   * Upper estimate of the raw image `snapshot` writes to `tempPath`, for a
   * free-space check before it starts; absent or null when the image is
   * streamed (nothing is staged) or the size is unknown.
   */
  rawImageBytes?(config: Config): number | null;
  /**
   * Take a consistent online snapshot into `tempPath` (or as a stream).
   * `onImageReady(file)` is called as soon as the image file is final (before
   * row counting), so the caller can start hashing it in parallel.
   * Throws NotFoundError (5) when the database does not exist, DependencyError when it is unreachable.
   */
  snapshot(
    config: Config,
    opts: {
      tempPath: string;
      onProgress?: ProgressFn;
      log?: LogFn;
      onImageReady?: (file: string) => void;
      /** SQLite: give a database without one its identity first (default true; off for a restore's safety backup of a possibly damaged file). */
      stampIdentity?: boolean;
    },
  ): Promise<SnapshotResult>;
  /**
   * Check a decoded raw image: integrity (quick, or full when deep) and row counts against the manifest.
   * Never throws for a bad image: it reports failed checks. `onPhase` marks where loading the image
   * into something queryable ends and the checks begin ('load' then 'check'; restore drills time them).
   */
  checkImage(
    imagePath: string,
    manifest: Manifest,
    opts: { deep: boolean; config?: Config; log?: LogFn; onPhase?: (phase: 'load' | 'check') => void },
  ): Promise<VerifyCheck[]>;
  /** Where a restore goes: the live database, or `to` for inspection. */
  restoreTarget(config: Config, to?: string): RestoreTarget | Promise<RestoreTarget>;
  /** Throws ConflictError (4) when another process uses the target. */
  assertNotInUse(target: RestoreTarget): Promise<void>;
  /**
   * Where a restore writes the backup's image while verification checks it
   * (verify's `into`), so that the bytes checked are the bytes installed: a
   * fresh path, not created. SQLite: an owned temp name beside the target
   * (renamed into place; the live database's missing directory is created, a
   * missing --to directory is NotFoundError); PostgreSQL: the private scratch
   * directory (pg_restore reads it).
   */
  stageImage(target: RestoreTarget, manifest: Manifest): string;
  /** A failed write of the staged image (full disk, permissions) in the target's words; other errors are returned as they are. */
  stageWriteError(err: unknown, target: RestoreTarget, manifest: Manifest): unknown;
  /**
   * Install the verified image (`image`, from stageImage, checked by
   * verification) at the target so that, interrupted at any point, the target
   * is either the old or the new database, whole. `deep`: verification ran
   * the full structural check. Returns the integrity result (a short text
   * starting with `ok`).
   */
  install(
    target: RestoreTarget,
    manifest: Manifest,
    image: string,
    opts: { log?: LogFn; onProgress?: ProgressFn; force?: boolean; deep?: boolean },
  ): Promise<{ integrity: string }>;
  /**
   * After another source's backup replaced the live database: give it back
   * the identity it had (`key`, or a new one when it had none). Optional:
   * PostgreSQL's identity is the server and database name, which a restore keeps.
   */
  keepIdentity?(target: RestoreTarget, key: string | null, log?: LogFn): Promise<void>;
  /**
   * Before replacing a live database that could not be backed up through the
   * engine (a damaged file): copy it as it is (SQLite: the file with its
   * -wal/-shm) to a new private directory and return that directory. Throws
   * when the copy cannot be made (then nothing may be replaced). Optional.
   */
  quarantine?(target: RestoreTarget, now: Date, log?: LogFn): Promise<string>;
  /** Engine-specific "what next" lines after a restore (optional). */
  nextSteps?(target: RestoreTarget): string[];
  /** Mirror: insert an in_progress backup_log row; null when the table is absent (logged at debug). Never throws. */
  logStart(config: Config, row: BackupLogStart, log?: LogFn): Promise<number | null>;
  /** Mirror: finish a backup_log row. Never throws. */
  logFinish(config: Config, rowId: number, row: BackupLogFinish, log?: LogFn): Promise<void>;
}

/** The manifest's schema_version against the image's last applied migration. */
export function schemaCheck(want: string | null, got: string | null): VerifyCheck {
  const ok = want === got;
  return {
    name: 'schema_version',
    ok,
    detail: ok
      ? `schema version ${got ?? '(unmigrated)'} matches`
      : `manifest ${want ?? 'null'}, image ${got ?? 'null'}`,
  };
}

/** The engine for the configured database (database.type: sqlite, or postgresql). */
export async function engineFor(config: Config): Promise<BackupEngine> {
  if (config.database.type === 'sqlite') {
    const { sqliteEngine } = await import('./engines/sqlite.js');
    return sqliteEngine;
  }
  const { postgresEngine } = await import('./engines/postgres.js');
  return postgresEngine;
}

/** The engine that made a backup (by its manifest). */
export async function engineForManifest(m: Manifest): Promise<BackupEngine> {
  if (m.engine === 'sqlite') {
    const { sqliteEngine } = await import('./engines/sqlite.js');
    return sqliteEngine;
  }
  if (m.engine === 'postgres') {
    const { postgresEngine } = await import('./engines/postgres.js');
    return postgresEngine;
  }
  const { DependencyError } = await import('../errors.js');
  throw new DependencyError(
    `backup ${m.id} was made by the ${m.engine} engine, which this version of wks does not have`,
    {
      hint: 'upgrade wks',
    },
  );
}
