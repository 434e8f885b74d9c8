/**
 * `createBackup`: a consistent online backup of the configured database,
 * stored in the configured repository (a directory, or an S3 bucket).
 *
 * Order of operations (the crash-safety argument):
 *  1. under the backup mutex, sweep leftovers of crashed runs;
 *  2. the engine writes a raw snapshot to an owned temp name in the staging
 *     directory (or streams it: pg_dump);
 *  3. it is compressed/encrypted while streaming (sha256 on both sides) and
 *     stored as `<id>.<ext>`: renamed into place, or uploaded (multipart,
 *     every part checksummed); a plain image is stored as is;
 *  4. the manifest `<id>.json` is written last, atomically.
 * A crash before 4 leaves no manifest, so no backup is listed; the next run
 * removes the temp files, the orphaned data object and abandoned uploads.
 *
 * With a local copy (local+s3, repository/mirror.ts) the backup is stored in
 * the local directory as above, then copied to the bucket by the upload path
 * (upload.ts: checksum checked while streaming, manifest last), with every
 * older backup that is still only local. A failed copy leaves the local
 * backup as it is: the command fails, and the next create or `backup upload`
 * copies it.
 */
import { IDENTITY_TABLE } from '../db/index.js';
import { rmSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { VERSION } from '../version.js';
import type { Config } from '../config/index.js';
import { ConfigError, ExitCode, OperationError, WksError } from '../errors.js';
import { engineFor, type BackupEngine } from './engine.js';
import { manifestName, newBackupId, sweepOrphans } from './catalog.js';
import { COMPRESSION_SUFFIX, assertCompressionAvailable } from './codecs/compression.js';
import { backupBinding, keySourceFromConfig, missingKeyError, prepareEncryption } from './codecs/encryption.js';
import { manifestMac } from './authenticate.js';
import { encodeTo, hashFile } from './codecs/pipeline.js';
import { hashAhead } from './codecs/hash-worker.js';
import { fsError, ownedTempPath, removeQuietly } from './files.js';
import type { LockOwner } from './lock.js';
import { MirroredRepository, withRepository, type BackupRepository } from './repository/index.js';
import { backfillLocked } from './upload.js';
import { onInterrupt } from '../util/interrupt.js';
import { assertScratchSpace, createPrivateFile, scratchPath } from '../util/scratch.js';
import {
  BACKUP_TYPES,
  COMPRESSIONS,
  type BackupType,
  type Compression,
  type LogFn,
  type Manifest,
  type ProgressFn,
} from './types.js';
import { UsageError } from '../errors.js';

export interface CreateOptions {
  /** Default `manual`. */
  type?: BackupType;
  /** Default: config.database.backup.compression. */
  compression?: Compression;
  /** Default: config.database.backup.encryption.enabled. */
  encrypt?: boolean;
  label?: string | null;
  /** The backup's creation time (and id); default: the current time. */
  now?: Date;
  onProgress?: ProgressFn;
  log?: LogFn;
  /** Called once if another wks holds the backup mutex and we start waiting. */
  onLockWait?: (owner: LockOwner | null) => void;
  /** Run the retention policy afterwards; default config.database.backup.rotate_after_create. */
  rotate?: boolean;
}

export interface CreateResult {
  manifest: Manifest;
  /** Where the data object is: an absolute path, or an s3:// URL (local+s3: the local path). */
  path: string;
  /** Where the backup is now: `local`, `s3`, or `local+s3` (a local copy plus the bucket). */
  location: 'local' | 's3' | 'local+s3';
  /** local+s3: the copy in the bucket (an s3:// URL), and the older local-only backups copied with it. */
  remote?: { path: string; backfilled: string[] };
  /** Leftovers of crashed runs removed before this backup. */
  cleaned: string[];
  /** Present when rotation ran afterwards. */
  rotation?: import('./rotate.js').RotateResult;
}

/** Validate and default the create options against config. Throws UsageError (2), ConfigError (78), DependencyError. */
function resolveOptions(config: Config, opts: CreateOptions) {
  const type = opts.type ?? 'manual';
  if (!BACKUP_TYPES.includes(type))
    throw new UsageError(`unknown backup type "${type}"`, { hint: `use one of: ${BACKUP_TYPES.join(', ')}` });
  const compression = opts.compression ?? config.database.backup.compression;
  if (!COMPRESSIONS.includes(compression))
    throw new UsageError(`unknown compression "${compression}"`, { hint: `use one of: ${COMPRESSIONS.join(', ')}` });
  assertCompressionAvailable(compression);
  const encrypt = opts.encrypt ?? config.database.backup.encryption.enabled;
  let encryption = null;
  if (encrypt) {
    const src = keySourceFromConfig(config, opts.log && ((text) => opts.log!('warn', text)));
    if (!src) throw missingKeyError('an encrypted backup');
    encryption = prepareEncryption(src);
  }
  const label = opts.label ?? null;
  if (label !== null && (label.length > 200 || /[\n\r]/.test(label)))
    throw new UsageError('--label must be one line of at most 200 characters');
  return { type, compression, encryption, label };
}

/**
 * Take a backup. Defaults: type manual, compression and encryption from
 * config, creation time now. Waits for the backup mutex up to
 * database.backup.lock_timeout_ms. Throws NotFoundError (5) when the
 * database is missing, ConflictError (4) on lock timeout, OperationError (1)
 * for disk full / unwritable directory (nothing partial is left), UsageError
 * (2) for bad options, ConfigError (78) when encryption has no key.
 */
export async function createBackup(config: Config, opts: CreateOptions = {}): Promise<CreateResult> {
  const engine = await engineFor(config);
  const resolved = resolveOptions(config, opts);
  const result: CreateResult = await withRepository(config, opts.log, async (repo) => {
    const mirror = repo instanceof MirroredRepository ? repo : null;
    await repo.prepare();
    return repo.withMutex(
      {
        timeoutMs: config.database.backup.lock_timeout_ms,
        command: `backup create (${resolved.type})`,
        onWait: opts.onLockWait,
      },
      async () => {
        const orphans = mirror
          ? [...(await sweepOrphans(mirror.local)), ...(await sweepOrphans(mirror.remote).catch(() => []))]
          : await sweepOrphans(repo);
        const cleaned = [...(await repo.sweep(opts.log)), ...orphans];
        if (cleaned.length)
          opts.log?.(
            'info',
            `removed ${cleaned.length} leftover(s) of an interrupted run: ${cleaned.slice(0, 5).join(', ')}`,
          );
        const r = await createLocked(config, engine, mirror?.local ?? repo, resolved, opts);
        if (!mirror) return { ...r, cleaned, location: repo.kind === 's3' ? ('s3' as const) : ('local' as const) };
        const remote = await copyOffHost(mirror, r, opts.log);
        return { ...r, cleaned, location: 'local+s3' as const, remote };
      },
    );
  });
  const rotate = opts.rotate ?? config.database.backup.rotate_after_create;
  if (rotate) {
    const { rotateBackups } = await import('./rotate.js');
    result.rotation = await rotateBackups(config, { now: opts.now, log: opts.log });
  }
  return result;
}

/**
 * local+s3: copy the new backup to the bucket, then the older local-only
 * ones. A failure keeps the local backup and says so, with the S3 error's
 * exit code (1; 78 for a missing bucket or refused credentials).
 */
async function copyOffHost(
  mirror: MirroredRepository,
  r: { manifest: Manifest; path: string },
  log?: LogFn,
): Promise<{ path: string; backfilled: string[] }> {
  const id = r.manifest.id;
  try {
    const up = await backfillLocked(mirror.local, mirror.remote, { first: id, log });
    for (const s of up.skipped)
      log?.('warn', `backup ${s.id} was not copied to ${mirror.remote.location}: ${s.reason}`);
    if (!up.uploaded.some((u) => u.id === id))
      throw new OperationError(up.skipped.find((s) => s.id === id)?.reason ?? 'not copied');
    const backfilled = up.uploaded.map((u) => u.id).filter((x) => x !== id);
    if (backfilled.length)
      log?.('info', `copied ${backfilled.length} older local-only backup(s) to ${mirror.remote.location}`);
    return { path: mirror.remote.describe(r.manifest.file), backfilled };
  } catch (err) {
    const cause = err instanceof WksError ? err : null;
    const why = (err as Error).message.replace(`${mirror.remote.location}: `, '');
    const message = `backup ${id} is stored locally (${r.path}) but was not copied to ${mirror.remote.location}: ${why}`;
    const opts = {
      hint: `${cause?.hint ? `${cause.hint}; then ` : ''}run \`wks backup upload\` (the next \`wks backup create\` copies it too): the local backup is kept`,
      details: { backup_id: id, path: r.path, location: 'local' },
      cause: err,
    };
    throw cause?.exitCode === ExitCode.CONFIG ? new ConfigError(message, [], opts) : new OperationError(message, opts);
  }
}

/** A new id whose manifest and data object do not exist yet. */
async function freshId(repo: BackupRepository, createdAt: Date, suffix: string): Promise<string> {
  for (;;) {
    const id = newBackupId(createdAt);
    if (!(await repo.exists(manifestName(id))) && !(await repo.exists(`${id}${suffix}`))) return id;
  }
}

/** The body of createBackup; the caller holds the backup mutex (restore uses it for its safety backup). */
export async function createLocked(
  config: Config,
  engine: BackupEngine,
  repo: BackupRepository,
  r: ReturnType<typeof resolveOptions>,
  opts: Pick<CreateOptions, 'now' | 'onProgress' | 'log'> & { stampIdentity?: boolean },
): Promise<{ manifest: Manifest; path: string }> {
  const createdAt = opts.now ?? new Date();
  const t0 = Date.now();
  const suffix = `${engine.extension}${COMPRESSION_SUFFIX[r.compression]}${r.encryption ? '.enc' : ''}`;
  const id = await freshId(repo, createdAt, suffix);
  const fileName = `${id}${suffix}`;
  const finalPath = repo.describe(fileName);
  const plain = r.compression === 'none' && !r.encryption;
  // A plain backup's raw image is the backup itself (staged beside the repository, or in it);
  // any other raw image is plaintext the repository must never hold, so it is staged in the
  // private scratch directory.
  const rawTmp = plain
    ? ownedTempPath(repo.stagingDir, `${id}${engine.extension}`)
    : scratchPath(`${id}${engine.extension}`);
  let stored = false;
  const leftovers = (): string[] => [rawTmp, `${rawTmp}-journal`, `${rawTmp}-wal`, `${rawTmp}-shm`];
  const unregister = onInterrupt(() => {
    for (const f of leftovers()) rmSync(f, { force: true });
    // A stored data object without its manifest is not a backup; the next run's orphan sweep removes it.
  });
  const rowId = await engine.logStart(config, { type: r.type, filePath: finalPath, startedAt: new Date() }, opts.log);
  const hasher = hashAhead(engine.rawImageBytes?.(config) ?? null);
  try {
    if (!plain) await assertRoomForRawImage(config, engine, r);
    createPrivateFile(rawTmp);
    // Hash the finished image (on a worker thread, started during the copy, unless it is small) while the engine counts rows.
    let early: Promise<{ size: number; sha256: string }> | null = null;
    const snap = await engine.snapshot(config, {
      tempPath: rawTmp,
      onProgress: opts.onProgress,
      log: opts.log,
      stampIdentity: opts.stampIdentity,
      onImageReady: (file) => {
        early = hasher.hash(file);
        early.catch(() => undefined); // awaited below; avoid an unhandled rejection meanwhile
      },
    });
    const target = { fileName, id, createdAt, plain, early, rawTmp };
    const enc = await storeImage(repo, snap, r, target, opts, () => {
      stored = true;
    });
    stored = true;
    const manifest = buildManifest(config, engine, r, { id, createdAt, t0, fileName, enc, snap });
    for (const w of manifest.warnings ?? []) opts.log?.('warn', `backup ${id}: ${w}`);
    // Encrypted: the manifest is authenticated with the key (backup/authenticate.ts), so it cannot be edited or relabelled.
    if (r.encryption) manifest.manifest_mac = manifestMac(r.encryption.key, manifest);
    await repo.writeText(manifestName(id), `${JSON.stringify(manifest, null, 2)}\n`);
    if (rowId !== null)
      await engine.logFinish(
        config,
        rowId,
        { status: 'completed', completedAt: new Date(), sizeBytes: enc.storedSize, checksum: enc.storedSha256 },
        opts.log,
      );
    return { manifest, path: finalPath };
  } catch (err) {
    for (const f of leftovers()) {
      try {
        removeQuietly(f);
      } catch {
        /* the next run sweeps it */
      }
    }
    if (stored) await repo.remove(fileName).catch(() => undefined); // else the next run's orphan sweep
    const e = err instanceof WksError ? err : fsError(err, `backup of ${engine.source(config)} failed`);
    if (rowId !== null)
      await engine.logFinish(config, rowId, { status: 'failed', completedAt: new Date(), error: e.message }, opts.log);
    throw e;
  } finally {
    hasher.cancel();
    unregister();
  }
}

/** An encoded backup stages its raw image in the scratch directory: refuse early when it cannot fit there. */
async function assertRoomForRawImage(
  config: Config,
  engine: BackupEngine,
  r: ReturnType<typeof resolveOptions>,
): Promise<void> {
  const rawBytes = engine.rawImageBytes?.(config) ?? null;
  if (rawBytes)
    await assertScratchSpace(
      rawBytes,
      `a ${r.compression === 'none' ? '' : 'compressed '}${r.encryption ? 'encrypted ' : ''}backup`,
    );
}

type Snapshot = Awaited<ReturnType<BackupEngine['snapshot']>>;
type Encoded = { rawSize: number; rawSha256: string; storedSize: number; storedSha256: string };

/**
 * Store the snapshot as the backup's data object: a plain image is put as it
 * is; anything else is encoded (compressed, encrypted) on its way into the
 * repository, and its raw image removed. An image file's sha256 is `early`'s,
 * under way since the image was final.
 * `onStored` is called once the data object exists.
 */
async function storeImage(
  repo: BackupRepository,
  snap: Snapshot,
  r: ReturnType<typeof resolveOptions>,
  t: {
    fileName: string;
    id: string;
    createdAt: Date;
    plain: boolean;
    early: Promise<{ size: number; sha256: string }> | null;
    rawTmp: string;
  },
  opts: Pick<CreateOptions, 'onProgress'>,
  onStored: () => void,
): Promise<Encoded> {
  const { fileName, id, createdAt, early } = t;
  if ('file' in snap.output && t.plain) {
    opts.onProgress?.({ phase: 'checksum', done: 0, total: null, unit: 'bytes' });
    const h = await (early ?? hashFile(snap.output.file));
    await repo.putFile(fileName, snap.output.file);
    return { rawSize: h.size, rawSha256: h.sha256, storedSize: h.size, storedSha256: h.sha256 };
  }
  const source = 'file' in snap.output ? snap.output.file : snap.output.stream;
  const rawTotal = 'file' in snap.output ? statSync(snap.output.file).size : null;
  const enc = await encodeTo(
    source,
    async (body) => {
      await repo.putStream(fileName, body);
      onStored();
    },
    {
      compression: r.compression,
      encryption: r.encryption && { ...r.encryption, binding: backupBinding(id, createdAt.toISOString()) },
      onBytes: (n) => opts.onProgress?.({ phase: 'encode', done: n, total: rawTotal, unit: 'bytes' }),
      rawHash: early ?? undefined,
    },
  );
  if ('stream' in snap.output) await snap.output.finished;
  removeQuietly(t.rawTmp);
  return enc;
}

/** The manifest of a stored backup (not yet authenticated: the caller adds the MAC when encrypting). */
function buildManifest(
  config: Config,
  engine: BackupEngine,
  r: ReturnType<typeof resolveOptions>,
  b: { id: string; createdAt: Date; t0: number; fileName: string; enc: Encoded; snap: Snapshot },
): Manifest {
  const { id, createdAt, t0, fileName, enc, snap } = b;
  return {
    format: 'wks-backup/1',
    id,
    type: r.type,
    label: r.label,
    engine: engine.name,
    source: engine.source(config),
    created_at: createdAt.toISOString(),
    completed_at: new Date().toISOString(),
    duration_ms: Date.now() - t0,
    file: fileName,
    raw_size: enc.rawSize,
    raw_sha256: enc.rawSha256,
    stored_size: enc.storedSize,
    sha256: enc.storedSha256,
    compression: r.compression,
    encryption: r.encryption ? r.encryption.params : null,
    schema_version: snap.schemaVersion,
    row_counts: snap.rowCounts,
    engine_version: snap.engineVersion,
    engine_details: snap.details,
    wks_version: VERSION,
    hostname: hostname(),
    source_identity: {
      engine: engine.name,
      key: snap.identityKey,
      location: engine.location(config),
      hostname: hostname(),
    },
    warnings: sourceWarnings(snap),
  };
}

/**
 * What about the backed-up database looks like a lost or wrong one (an empty
 * or unmigrated database is the usual symptom of a wrong DATABASE_PATH or a
 * database that was recreated): recorded in the manifest and logged as warnings.
 */
function sourceWarnings(snap: { schemaVersion: string | null; rowCounts: Record<string, number> }): string[] {
  // wks's own identity row is not the user's data.
  const own = Object.entries(snap.rowCounts).filter(([t]) => t !== IDENTITY_TABLE);
  const tables = own.length;
  const rows = own.reduce((a, [, n]) => a + n, 0);
  const out: string[] = [];
  if (tables === 0)
    out.push('the database is empty (no tables): check that DATABASE_PATH / the PostgreSQL database is the right one');
  else if (snap.schemaVersion === null)
    out.push(
      'the database is not migrated (no schema_migrations): check that it is the right one, or run `wks migrate up`',
    );
  else if (rows === 0) out.push('every table of the database is empty (0 rows)');
  return out;
}

export { resolveOptions as resolveCreateOptions };
