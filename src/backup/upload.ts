/**
 * `uploadBackups`: back-fill an S3 repository with the backups of a local
 * backup directory (an install that kept its backups on the host until now).
 * For each local backup whose manifest is not in the bucket yet: the data
 * object is uploaded while its sha256 is checked against the manifest (a
 * mismatch is not uploaded), its verification and drill records follow, and
 * the manifest, byte for byte (an encrypted backup's authentication stays
 * valid), is written last. Safe to run twice: what is there is skipped.
 * With a local copy (local+s3) `backup create` copies through the same path
 * (backfillLocked): its new backup first, then whatever is still only local.
 */
import type { Config } from '../config/index.js';
import { UsageError } from '../errors.js';
import { drillName, manifestName, readCatalog, verifyName } from './catalog.js';
import { HashCounter } from './codecs/pipeline.js';
import type { LockOwner } from './lock.js';
import { MirroredRepository, withRepository, type BackupRepository } from './repository/index.js';
import { LocalRepository } from './repository/local.js';
import type { CatalogEntry, LogFn } from './types.js';

export interface UploadOptions {
  /** The local backup directory to read; default database.backup.storage_path. */
  from?: string;
  dryRun?: boolean;
  log?: LogFn;
  onLockWait?: (owner: LockOwner | null) => void;
}

export interface UploadResult {
  dry_run: boolean;
  from: string;
  to: string;
  uploaded: Array<{ id: string; stored_size: number }>;
  /** Already in the repository. */
  present: string[];
  /** Not uploaded, and why (data file missing, checksum mismatch). */
  skipped: Array<{ id: string; reason: string }>;
}

/** Copy one backup; returns a reason when it was not copied. */
async function copyOne(src: BackupRepository, dest: BackupRepository, e: CatalogEntry): Promise<string | null> {
  const m = e.manifest;
  const h = new HashCounter();
  const body = await src.read(e.dataName);
  body.on('error', (err) => h.destroy(err));
  await dest.putStream(e.dataName, body.pipe(h));
  if (h.bytes !== m.stored_size || h.digest() !== m.sha256) {
    await dest.remove(e.dataName);
    return `the local data file does not match its manifest (run \`wks backup verify ${m.id}\`)`;
  }
  for (const name of [verifyName(m.id), drillName(m.id)]) {
    const text = await src.readText(name);
    if (text !== null) await dest.writeText(name, text);
  }
  const manifest = await src.readText(manifestName(m.id));
  if (manifest === null) return 'the local manifest disappeared';
  await dest.writeText(manifestName(m.id), manifest);
  return null;
}

/** What `from` holds that `dest` has not (oldest first), what both have, and what cannot be copied. */
async function planUpload(src: BackupRepository, dest: BackupRepository, dryRun: boolean) {
  const [local, remote] = await Promise.all([readCatalog(src), dest.list()]);
  const have = new Set(remote.map((o) => o.name));
  const result: UploadResult = {
    dry_run: dryRun,
    from: src.location,
    to: dest.location,
    uploaded: [],
    present: [],
    skipped: [],
  };
  const todo: CatalogEntry[] = [];
  for (const e of [...local.entries].reverse()) {
    if (have.has(manifestName(e.manifest.id))) result.present.push(e.manifest.id);
    else if (!e.dataPresent) result.skipped.push({ id: e.manifest.id, reason: `data file ${e.dataName} is missing` });
    else todo.push(e);
  }
  return { result, todo };
}

/** Copy `todo` in order into `result`; the caller holds the backup mutex. An S3 error stops the run (what was copied stays). */
async function copyAll(
  src: BackupRepository,
  dest: BackupRepository,
  todo: CatalogEntry[],
  result: UploadResult,
  log?: LogFn,
): Promise<void> {
  for (const e of todo) {
    const reason = await copyOne(src, dest, e);
    if (reason) result.skipped.push({ id: e.manifest.id, reason });
    else result.uploaded.push({ id: e.manifest.id, stored_size: e.manifest.stored_size });
    log?.('debug', `${e.manifest.id}: ${reason ?? 'uploaded'}`);
  }
}

/**
 * local+s3 (`backup create`): copy every backup of the local side that the
 * bucket has not, `first` (the backup just taken) before the older ones.
 * The caller holds the backup mutex. Throws the S3 error of the copy that
 * failed: what was copied before it stays, the rest stays local.
 */
export async function backfillLocked(
  src: BackupRepository,
  dest: BackupRepository,
  opts: { first?: string; log?: LogFn } = {},
): Promise<UploadResult> {
  const { result, todo } = await planUpload(src, dest, false);
  todo.sort((a, b) => (a.manifest.id === opts.first ? -1 : b.manifest.id === opts.first ? 1 : 0));
  await copyAll(src, dest, todo, result, opts.log);
  return result;
}

/**
 * Upload the local-only backups of `from` to the configured S3 repository
 * (with a local copy configured: its bucket side).
 * Throws UsageError (2) when no S3 repository is configured, ConflictError
 * (4) when the backup mutex stays held, the repository's errors otherwise.
 */
export async function uploadBackups(config: Config, opts: UploadOptions = {}): Promise<UploadResult> {
  return withRepository(config, opts.log, async (repo) => {
    const dest = repo instanceof MirroredRepository ? repo.remote : repo;
    if (dest.kind !== 's3')
      throw new UsageError('`wks backup upload` copies local backups to an S3 repository, and none is configured', {
        hint: 'set BACKUP_REPOSITORY=s3://bucket/prefix (database.backup.repository), and --from to the local backup directory',
      });
    const src = new LocalRepository(opts.from ?? config.database.backup.storage_path);
    const { result, todo } = await planUpload(src, dest, !!opts.dryRun);
    if (opts.dryRun) {
      result.uploaded = todo.map((e) => ({ id: e.manifest.id, stored_size: e.manifest.stored_size }));
      return result;
    }
    await dest.withMutex(
      { timeoutMs: config.database.backup.lock_timeout_ms, command: 'backup upload', onWait: opts.onLockWait },
      () => copyAll(src, dest, todo, result, opts.log),
    );
    return result;
  });
}
