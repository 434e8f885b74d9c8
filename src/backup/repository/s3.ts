/**
 * The `s3` repository: an S3-compatible bucket (AWS S3, MinIO, Cloudflare R2,
 * Backblaze B2, Ceph), through the AWS SDK for JavaScript v3, loaded lazily.
 *
 * - Objects are `<prefix>/<name>`, the same names as in a local directory.
 * - Every upload goes through lib-storage's `Upload` (multipart above one
 *   part) with `ChecksumAlgorithm: SHA256`: each part and each small object
 *   carries its checksum, which the server verifies; streams are cut into
 *   parts in memory, so nothing is staged on disk for the upload.
 * - Listing is ListObjectsV2 at the prefix (one request per 1000 objects);
 *   callers then GET only the small documents they need, never data objects.
 * - Retries: 5xx, 503 SlowDown, throttling, resets and timeouts are retried
 *   with exponential backoff and full jitter, at most `max_attempts` times
 *   and never past `retry_budget_ms` for one request; a stalled request is
 *   abandoned after `request_timeout_ms`. Errors say how many attempts were made.
 * - Credentials come from the SDK's default chain and are never printed;
 *   access errors are one line naming the bucket, operation and permission.
 * - The lock is the host-local backup mutex in the staging directory; the
 *   bucket itself needs none: a backup exists only once its manifest (written
 *   last) does, deletions start with the manifest, and the sweeps leave
 *   objects and uploads younger than a grace period alone.
 * - A multipart upload is recorded while it runs: right after
 *   CreateMultipartUpload, before any part, a small in-progress record
 *   (`.wks-uploads/<random>.json`: key, upload id, start) is written under the
 *   prefix, and deleted once the upload is completed or aborted. The sweep
 *   aborts the uploads of records older than the stale threshold, so a killed
 *   run's parts are removed on every server, including those that cannot list
 *   multipart uploads (ListMultipartUploads is used as well where it works).
 */
import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import { ConfigError, OperationError, WksError } from '../../errors.js';
import { registerSecret } from '../../redact.js';
import { ensurePrivateDir, removeQuietly, sweepLeftovers } from '../files.js';
import { withBackupMutex } from '../lock.js';
import type { LogFn } from '../types.js';
import type { BackupRepository, RepoLockOptions, RepoObject } from './types.js';

export interface S3Settings {
  bucket: string;
  /** Key prefix without leading or trailing slash; '' for the bucket root. */
  prefix: string;
  endpoint: string | null;
  region: string | null;
  forcePathStyle: boolean;
  storageClass: string | null;
  sse: string | null;
  sseKmsKeyId: string | null;
  partSizeMb: number;
  maxAttempts: number;
  retryBudgetMs: number;
  requestTimeoutMs: number;
  /** Uploads and manifest-less objects older than this are leftovers of a dead run. */
  staleUploadMs: number;
}

/** Parse `s3://bucket/prefix`. Throws ConfigError (78) for anything else. */
export function parseS3Url(url: string): { bucket: string; prefix: string } {
  const m = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/.exec(url.trim());
  if (!m) {
    throw new ConfigError(`the backup repository "${url}" is not an s3:// URL`, [], {
      hint: 'set BACKUP_REPOSITORY (database.backup.repository) to s3://bucket or s3://bucket/prefix',
    });
  }
  return { bucket: m[1]!, prefix: (m[2] ?? '').replace(/^\/+|\/+$/g, '') };
}

/** The IAM permission an S3 operation needs (for the one-line access error). */
const PERMISSION: Record<string, string> = {
  ListObjectsV2: 's3:ListBucket',
  GetObject: 's3:GetObject',
  HeadObject: 's3:GetObject',
  PutObject: 's3:PutObject',
  CreateMultipartUpload: 's3:PutObject',
  UploadPart: 's3:PutObject',
  CompleteMultipartUpload: 's3:PutObject',
  DeleteObject: 's3:DeleteObject',
  ListMultipartUploads: 's3:ListBucketMultipartUploads',
  AbortMultipartUpload: 's3:AbortMultipartUpload',
};

interface SdkError extends Error {
  Code?: string;
  code?: string;
  $metadata?: { httpStatusCode?: number; attempts?: number };
}

const CREDENTIAL_CODES = new Set([
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'ExpiredToken',
  'InvalidToken',
  'TokenRefreshRequired',
  'CredentialsProviderError',
]);

/**
 * One operator-facing line for an SDK error: names the repository, the
 * operation, the permission when access is denied, and the attempts made.
 * Missing bucket and bad or missing credentials are ConfigError (78); the
 * rest OperationError (1). Never includes a credential.
 */
export function s3Error(err: unknown, op: string, where: string, bucket: string): WksError {
  if (err instanceof WksError) return err;
  const e = err as SdkError;
  const code = e?.Code ?? e?.name ?? e?.code ?? 'Error';
  const status = e?.$metadata?.httpStatusCode;
  const attempts = e?.$metadata?.attempts ?? 1;
  const tries = attempts > 1 ? ` after ${attempts} attempts` : '';
  const perm = PERMISSION[op] ?? 's3:*';
  const details = { operation: op, code, status: status ?? null, attempts, permission: perm };
  if (code === 'NoSuchBucket') {
    return new ConfigError(`${where}: ${op} failed: bucket "${bucket}" does not exist`, [], {
      hint: 'create the bucket, or fix BACKUP_REPOSITORY (database.backup.repository) and BACKUP_S3_ENDPOINT',
      details,
      cause: err,
    });
  }
  if (CREDENTIAL_CODES.has(code) || /credential/i.test(code) || e?.name === 'CredentialsProviderError') {
    return new ConfigError(`${where}: ${op} failed: the S3 credentials were refused or not found (${code})`, [], {
      hint: 'check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (or AWS_PROFILE, the instance role) for this bucket',
      details,
      cause: err,
    });
  }
  if (code === 'AccessDenied' || code === 'Forbidden' || status === 403) {
    return new OperationError(`${where}: ${op} denied: the credentials lack ${perm} on bucket "${bucket}"`, {
      hint: `grant ${perm} on the bucket/prefix to these credentials (see templates/s3-bucket-policy.json)`,
      details,
      cause: err,
    });
  }
  const reason = status
    ? `HTTP ${status} ${code}`
    : `${code}${e?.message && e.message !== code ? `: ${e.message}` : ''}`;
  return new OperationError(`${where}: ${op} failed${tries}: ${reason.split('\n')[0]}`, {
    hint: 'check that the S3 endpoint is reachable (BACKUP_S3_ENDPOINT) and retry; -v shows the request counts',
    details,
    cause: err,
  });
}

/** The retry policy as an SDK RetryStrategyV2: backoff with full jitter, bounded attempts and total time. */
export function boundedRetryStrategy(maxAttempts: number, budgetMs: number, baseMs = 100, capMs = 5000) {
  interface Token {
    count: number;
    delay: number;
    started: number;
    getRetryCount(): number;
    getRetryDelay(): number;
  }
  const token = (count: number, delay: number, started: number): Token => ({
    count,
    delay,
    started,
    getRetryCount: () => count,
    getRetryDelay: () => delay,
  });
  return {
    mode: 'standard',
    async acquireInitialRetryToken(): Promise<Token> {
      return token(0, 0, Date.now());
    },
    async refreshRetryTokenForRetry(t: Token, info: { errorType: string }): Promise<Token> {
      // As the SDK's standard mode: 500/502/503/504, resets and timeouts (TRANSIENT), throttling
      // (503 SlowDown); never a client error or 501 NotImplemented.
      if (info.errorType !== 'TRANSIENT' && info.errorType !== 'THROTTLING') throw new Error('not retryable');
      const next = t.count + 1;
      if (next >= maxAttempts) throw new Error('attempts exhausted');
      const delay = Math.floor(Math.random() * Math.min(capMs, baseMs * 2 ** next));
      if (Date.now() + delay - t.started > budgetMs) throw new Error('retry budget exhausted');
      return token(next, delay, t.started);
    },
    recordSuccess(): void {},
  };
}

type Sdk = typeof import('@aws-sdk/client-s3');

/** Where in-progress records of multipart uploads live, under the prefix; the catalog's listing (Delimiter '/') never shows them. */
const UPLOADS = '.wks-uploads/';

/** An in-progress record: what the sweep needs to abort the upload. */
interface UploadRecord {
  key: string;
  upload_id: string;
  started: string;
  host: string;
  pid: number;
}

/** True when an S3 error says the server does not implement the operation. */
const unsupported = (err: unknown): boolean => {
  const d = (err as WksError).details;
  return !!d && (d.code === 'NotImplemented' || d.code === 'MethodNotAllowed' || d.status === 501 || d.status === 405);
};

/** True when an S3 error says the upload is already gone (completed or aborted). */
const uploadGone = (err: unknown): boolean => {
  const d = (err as WksError).details;
  return d?.code === 'NoSuchUpload' || d?.status === 404;
};

export class S3Repository implements BackupRepository {
  readonly kind = 's3' as const;
  readonly location: string;
  readonly orphanGraceMs: number;
  /** Requests sent (attempts, retries included) per operation; shown with -v. */
  readonly requests: Record<string, number> = {};
  private client: Promise<{ sdk: Sdk; client: S3Client }> | null = null;

  constructor(
    private readonly s: S3Settings,
    readonly stagingDir: string,
  ) {
    this.location = `s3://${s.bucket}${s.prefix ? `/${s.prefix}` : ''}`;
    this.orphanGraceMs = s.staleUploadMs;
    registerSecret(process.env.AWS_SECRET_ACCESS_KEY);
    registerSecret(process.env.AWS_SESSION_TOKEN);
  }

  private key(name: string): string {
    return this.s.prefix ? `${this.s.prefix}/${name}` : name;
  }

  describe(name: string): string {
    return `${this.location}/${name}`;
  }

  private sdk(): Promise<{ sdk: Sdk; client: S3Client }> {
    this.client ??= (async () => {
      // The SDK warns on stderr that its future versions will need Node 22; wks supports Node 20
      // with the pinned version, and its output stays its own.
      process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
      const sdk = await import('@aws-sdk/client-s3');
      const client = new sdk.S3Client({
        region: this.s.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1',
        ...(this.s.endpoint ? { endpoint: this.s.endpoint } : {}),
        forcePathStyle: this.s.forcePathStyle,
        maxAttempts: this.s.maxAttempts,
        retryStrategy: boundedRetryStrategy(this.s.maxAttempts, this.s.retryBudgetMs),
        // Responses: the SDK checks a GET's checksum only when the request asks (ChecksumMode). A data
        // object is never asked: every byte wks reads of one (read(): verify, restore, drill, upload) is
        // hashed by wks itself and compared with the manifest's sha256, so a second hash in the SDK
        // would only cost CPU. The small documents (readText: manifests, verification records, upload
        // records) are not hashed by wks: readText asks, and the SDK checks them.
        responseChecksumValidation: 'WHEN_REQUIRED',
        // Requests: the default is kept. Every upload names ChecksumAlgorithm SHA256 (lib-storage passes
        // it to CreateMultipartUpload and to each UploadPart), so each object or part carries
        // x-amz-checksum-sha256, which the server verifies.
        // A request with no response (or a socket idle) for request_timeout_ms is abandoned and retried.
        requestHandler: {
          requestTimeout: this.s.requestTimeoutMs,
          socketTimeout: this.s.requestTimeoutMs,
          throwOnRequestTimeout: true,
          connectionTimeout: Math.min(10_000, this.s.requestTimeoutMs),
        },
      });
      // Count every attempt (this step runs inside the retry loop).
      client.middlewareStack.add(
        (next, context) => async (args) => {
          const op = String(context.commandName ?? 'request').replace(/Command$/, '');
          this.requests[op] = (this.requests[op] ?? 0) + 1;
          return next(args);
        },
        { step: 'deserialize', name: 'wksRequestCounter' },
      );
      return { sdk, client };
    })();
    return this.client;
  }

  private async call<T>(op: string, fn: (sdk: Sdk, client: S3Client) => Promise<T>): Promise<T> {
    const { sdk, client } = await this.sdk();
    try {
      return await fn(sdk, client);
    } catch (err) {
      throw s3Error(err, op, this.location, this.s.bucket);
    }
  }

  /**
   * Every object at the prefix. With `deadlineMs` (a read the local copy can
   * serve, mirror.ts), the listing is given up after that long, retries
   * included, and its requests are aborted: OperationError (1) saying so.
   */
  async list(opts: { deadlineMs?: number } = {}): Promise<RepoObject[]> {
    const ms = opts.deadlineMs;
    if (!ms) return this.listAll();
    const abort = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        abort.abort();
        reject(
          new OperationError(
            `${this.location}: ListObjectsV2 did not succeed within ${ms} ms (BACKUP_S3_LOCAL_FALLBACK_MS)`,
          ),
        );
      }, ms);
    });
    const listing = this.listAll(abort.signal);
    listing.catch(() => undefined); // once late, its rejection (the abort) is nobody's
    try {
      return await Promise.race([listing, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async listAll(abortSignal?: AbortSignal): Promise<RepoObject[]> {
    const out: RepoObject[] = [];
    const prefix = this.s.prefix ? `${this.s.prefix}/` : '';
    let token: string | undefined;
    do {
      const r = await this.call('ListObjectsV2', (sdk, c) =>
        c.send(
          new sdk.ListObjectsV2Command({
            Bucket: this.s.bucket,
            Prefix: prefix,
            Delimiter: '/',
            ContinuationToken: token,
          }),
          { abortSignal },
        ),
      );
      for (const o of r.Contents ?? []) {
        if (!o.Key) continue;
        out.push({ name: o.Key.slice(prefix.length), size: o.Size ?? 0, modified: o.LastModified ?? new Date(0) });
      }
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
    return out;
  }

  async exists(name: string): Promise<boolean> {
    try {
      await this.call('HeadObject', (sdk, c) =>
        c.send(new sdk.HeadObjectCommand({ Bucket: this.s.bucket, Key: this.key(name) })),
      );
      return true;
    } catch (err) {
      const d = (err as WksError).details;
      if (d?.status === 404 || d?.code === 'NotFound' || d?.code === 'NoSuchKey') return false;
      throw err;
    }
  }

  async readText(name: string): Promise<string | null> {
    try {
      return await this.call('GetObject', async (sdk, c) => {
        // Not hashed by wks: the SDK checks the object's stored checksum (see responseChecksumValidation).
        const r = await c.send(
          new sdk.GetObjectCommand({ Bucket: this.s.bucket, Key: this.key(name), ChecksumMode: 'ENABLED' }),
        );
        return (await r.Body?.transformToString('utf8')) ?? '';
      });
    } catch (err) {
      const d = (err as WksError).details;
      if (d?.code === 'NoSuchKey' || d?.status === 404) return null;
      throw err;
    }
  }

  /**
   * The client lib-storage's Upload sends through: a multipart upload gets its in-progress
   * record right after CreateMultipartUpload (before any part; if the record cannot be written,
   * the upload is aborted and the error thrown), and loses it once completed or aborted.
   */
  private recordingClient(sdk: Sdk, client: S3Client): S3Client {
    let record: string | null = null;
    const send = async (command: Parameters<S3Client['send']>[0]): Promise<unknown> => {
      const out = (await client.send(command as never)) as { UploadId?: string };
      if (command instanceof sdk.CreateMultipartUploadCommand && out.UploadId) {
        const key = command.input.Key!;
        const name = `${UPLOADS}${randomUUID()}.json`;
        const rec: UploadRecord = {
          key,
          upload_id: out.UploadId,
          started: new Date().toISOString(),
          host: hostname(),
          pid: process.pid,
        };
        try {
          await this.putSmall(name, JSON.stringify(rec));
        } catch (err) {
          await client
            .send(new sdk.AbortMultipartUploadCommand({ Bucket: this.s.bucket, Key: key, UploadId: out.UploadId }))
            .catch(() => undefined);
          throw err;
        }
        record = name;
      } else if (
        record &&
        (command instanceof sdk.CompleteMultipartUploadCommand || command instanceof sdk.AbortMultipartUploadCommand)
      ) {
        const done = record;
        record = null;
        // Left behind (a failed delete), the record only makes a later sweep abort an upload that is gone.
        await this.remove(done).catch(() => undefined);
      }
      return out;
    };
    return new Proxy(client, { get: (t, p, r) => (p === 'send' ? send : Reflect.get(t, p, r)) });
  }

  /** One small object in a single PutObject (in-progress records). */
  private async putSmall(name: string, text: string): Promise<void> {
    await this.call('PutObject', (sdk, c) =>
      c.send(
        new sdk.PutObjectCommand({
          Bucket: this.s.bucket,
          Key: this.key(name),
          Body: text,
          ContentType: 'application/json',
          ChecksumAlgorithm: sdk.ChecksumAlgorithm.SHA256,
          ...(this.s.sse ? { ServerSideEncryption: this.s.sse as never } : {}),
          ...(this.s.sseKmsKeyId ? { SSEKMSKeyId: this.s.sseKmsKeyId } : {}),
        }),
      ),
    );
  }

  private async upload(name: string, body: Readable | string): Promise<void> {
    const { Upload } = await import('@aws-sdk/lib-storage');
    await this.call('PutObject', async (sdk, client) => {
      const up = new Upload({
        client: this.recordingClient(sdk, client),
        params: {
          Bucket: this.s.bucket,
          Key: this.key(name),
          Body: body,
          ChecksumAlgorithm: sdk.ChecksumAlgorithm.SHA256,
          ...(this.s.storageClass ? { StorageClass: this.s.storageClass as never } : {}),
          ...(this.s.sse ? { ServerSideEncryption: this.s.sse as never } : {}),
          ...(this.s.sseKmsKeyId ? { SSEKMSKeyId: this.s.sseKmsKeyId } : {}),
        },
        partSize: this.s.partSizeMb * 1024 * 1024,
        queueSize: 2,
        leavePartsOnError: false,
      });
      await up.done();
    });
  }

  async writeText(name: string, text: string): Promise<void> {
    await this.upload(name, text);
  }

  async putFile(name: string, file: string): Promise<void> {
    await this.upload(name, createReadStream(file, { highWaterMark: 1024 * 1024 }));
    removeQuietly(file);
  }

  async putStream(name: string, body: Readable): Promise<void> {
    await this.upload(name, body);
  }

  async read(name: string): Promise<Readable> {
    return this.call('GetObject', async (sdk, c) => {
      // No ChecksumMode: the caller hashes every byte against the manifest (see responseChecksumValidation).
      const r = await c.send(new sdk.GetObjectCommand({ Bucket: this.s.bucket, Key: this.key(name) }));
      return r.Body as Readable;
    });
  }

  sideOf(): 's3' {
    return 's3';
  }

  localPath(): null {
    return null;
  }

  async remove(name: string): Promise<void> {
    await this.call('DeleteObject', (sdk, c) =>
      c.send(new sdk.DeleteObjectCommand({ Bucket: this.s.bucket, Key: this.key(name) })),
    );
  }

  async prepare(): Promise<void> {
    ensurePrivateDir(this.stagingDir);
  }

  /**
   * Remove the staging directory's leftovers, and abort multipart uploads
   * under the prefix that were started more than staleUploadMs ago (a killed
   * run's): those of in-progress records (any server), then those
   * ListMultipartUploads reports (a server that cannot list them is logged at
   * debug, not an error).
   */
  async sweep(log?: LogFn): Promise<string[]> {
    const removed = sweepLeftovers(this.stagingDir).map((n) => path.join(this.stagingDir, n));
    const cutoff = Date.now() - this.s.staleUploadMs;
    const aborted = await this.sweepRecords(cutoff, removed);
    const prefix = this.s.prefix ? `${this.s.prefix}/` : '';
    let uploads: Array<{ Key?: string; UploadId?: string; Initiated?: Date }> = [];
    try {
      uploads =
        (
          await this.call('ListMultipartUploads', (sdk, c) =>
            c.send(new sdk.ListMultipartUploadsCommand({ Bucket: this.s.bucket, Prefix: prefix })),
          )
        ).Uploads ?? [];
    } catch (err) {
      if (!unsupported(err)) throw err;
      const d = (err as WksError).details;
      log?.(
        'debug',
        `${this.location}: the server cannot list multipart uploads (${String(d?.code)}); the in-progress records were swept`,
      );
      return removed;
    }
    for (const u of uploads) {
      if (!u.Key || !u.UploadId || aborted.has(u.UploadId) || (u.Initiated && u.Initiated.getTime() > cutoff)) continue;
      await this.abortUpload(u.Key, u.UploadId);
      removed.push(`${this.location}/${u.Key.slice(prefix.length)} (multipart upload ${u.UploadId})`);
    }
    return removed;
  }

  /** Abort the uploads of in-progress records older than `cutoff` and delete the records. Returns the upload ids aborted. */
  private async sweepRecords(cutoff: number, removed: string[]): Promise<Set<string>> {
    const aborted = new Set<string>();
    const dir = this.key(UPLOADS);
    const prefix = this.s.prefix ? `${this.s.prefix}/` : '';
    let token: string | undefined;
    const stale: string[] = [];
    do {
      const r = await this.call('ListObjectsV2', (sdk, c) =>
        c.send(new sdk.ListObjectsV2Command({ Bucket: this.s.bucket, Prefix: dir, ContinuationToken: token })),
      );
      for (const o of r.Contents ?? [])
        if (o.Key && (o.LastModified?.getTime() ?? 0) <= cutoff) stale.push(o.Key.slice(prefix.length));
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
    for (const name of stale) {
      let rec: UploadRecord | null = null;
      try {
        rec = JSON.parse((await this.readText(name)) ?? 'null') as UploadRecord | null;
      } catch {
        rec = null; // not a record of ours: dropped below
      }
      if (rec?.key && rec.upload_id) {
        await this.abortUpload(rec.key, rec.upload_id);
        aborted.add(rec.upload_id);
        removed.push(`${this.location}/${rec.key.slice(prefix.length)} (multipart upload ${rec.upload_id})`);
      }
      await this.remove(name);
    }
    return aborted;
  }

  /** AbortMultipartUpload; an upload already gone (completed or aborted) is not an error. */
  private async abortUpload(key: string, uploadId: string): Promise<void> {
    try {
      await this.call('AbortMultipartUpload', (sdk, c) =>
        c.send(new sdk.AbortMultipartUploadCommand({ Bucket: this.s.bucket, Key: key, UploadId: uploadId })),
      );
    } catch (err) {
      if (!uploadGone(err)) throw err;
    }
  }

  withMutex<T>(opts: RepoLockOptions, fn: () => Promise<T>): Promise<T> {
    ensurePrivateDir(this.stagingDir);
    return withBackupMutex(this.stagingDir, opts, fn);
  }

  close(log?: LogFn): void {
    const total = Object.values(this.requests).reduce((a, b) => a + b, 0);
    const parts = Object.entries(this.requests)
      .sort()
      .map(([op, n]) => `${op} ${n}`);
    log?.('debug', `${this.location}: ${total} S3 request(s)${parts.length ? ` (${parts.join(', ')})` : ''}`);
    void this.client?.then(({ client }) => client.destroy()).catch(() => {});
  }
}
