/**
 * The backup repository chosen by configuration: `local` (the directory
 * database.backup.storage_path; the default) or `s3` when
 * database.backup.repository is an `s3://bucket/prefix` URL (storage_path is
 * then the local staging directory), or `local+s3` when database.backup.local_copy
 * is also set (storage_path keeps a copy of every backup; mirror.ts). The S3
 * SDK is loaded only when an S3 repository is first used.
 */
import type { Config } from '../../config/index.js';
import { LocalRepository } from './local.js';
import { MirroredRepository } from './mirror.js';
import { S3Repository, parseS3Url } from './s3.js';
import type { BackupRepository } from './types.js';

export type { BackupRepository, RepoObject, RepoLockOptions, RepoSide } from './types.js';
export { MirroredRepository } from './mirror.js';

/**
 * The configured repository. Throws ConfigError (78) for an unusable repository URL.
 * `waitForBucket`: a reader nobody waits on (serve's metrics and alert signals): with a local
 * copy, the bucket's listing gets the full retry budget, not database.backup.s3.local_fallback_ms.
 */
export function openRepository(config: Config, opts: { waitForBucket?: boolean } = {}): BackupRepository {
  const b = config.database.backup;
  if (!b.repository) return new LocalRepository(b.storage_path, b.allow_foreign_owner);
  const { bucket, prefix } = parseS3Url(b.repository);
  const s3 = new S3Repository(
    {
      bucket,
      prefix,
      endpoint: b.s3.endpoint,
      region: b.s3.region,
      forcePathStyle: b.s3.force_path_style,
      storageClass: b.s3.storage_class,
      sse: b.s3.sse,
      sseKmsKeyId: b.s3.sse_kms_key_id,
      partSizeMb: b.s3.part_size_mb,
      maxAttempts: b.s3.max_attempts,
      retryBudgetMs: b.s3.retry_budget_ms,
      requestTimeoutMs: b.s3.request_timeout_ms,
      staleUploadMs: b.s3.stale_upload_minutes * 60_000,
    },
    b.storage_path,
  );
  if (!b.local_copy) return s3;
  const fallbackMs = opts.waitForBucket ? 0 : b.s3.local_fallback_ms;
  return new MirroredRepository(new LocalRepository(b.storage_path, b.allow_foreign_owner), s3, fallbackMs);
}

/**
 * Open the configured repository, run `fn`, and close it (logging its request counts at debug).
 * With `repo` given, `fn` runs on it and it is left open (the caller owns it); `waitForBucket`: see openRepository.
 */
export async function withRepository<T>(
  config: Config,
  log: ((level: 'debug' | 'info' | 'warn', text: string) => void) | undefined,
  fn: (repo: BackupRepository) => Promise<T>,
  opts: { repo?: BackupRepository; waitForBucket?: boolean } = {},
): Promise<T> {
  if (opts.repo) return fn(opts.repo);
  const repo = openRepository(config, { waitForBucket: opts.waitForBucket });
  try {
    return await fn(repo);
  } finally {
    repo.close(log);
  }
}
