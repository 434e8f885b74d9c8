/**
 * The repository seam: where backups are stored. The catalog (manifests,
 * verification sidecars), ids, retention and locking are written once over
 * this interface (catalog.ts, create.ts, verify.ts, restore.ts, rotate.ts);
 * only the implementations (local.ts: a directory; s3.ts: an S3-compatible
 * bucket) touch the filesystem or the network.
 *
 * Every write is all-or-nothing under its final name: a reader never sees a
 * half-written manifest, sidecar or data object.
 */
import type { Readable } from 'node:stream';
import type { LockOwner } from '../lock.js';
import type { LogFn } from '../types.js';

/** One side of a repository: this host's backup directory, or the S3 bucket. */
export type RepoSide = 'local' | 's3';

export interface RepoObject {
  /** Name relative to the repository root (`<id>.json`, `<id>.db.gz`, ...). */
  name: string;
  size: number;
  modified: Date;
  /** Where the object is, when the repository has two sides (local plus remote); absent otherwise. */
  sides?: RepoSide[];
}

export interface RepoLockOptions {
  timeoutMs: number;
  command: string;
  onWait?: (owner: LockOwner | null) => void;
}

export interface BackupRepository {
  /** `local+s3`: both sides (repository/mirror.ts), read local first. */
  readonly kind: RepoSide | 'local+s3';
  /** Where it is, for messages: a directory or `s3://bucket/prefix`. Never holds credentials. */
  readonly location: string;
  /**
   * A private (0700) local directory for what must be a file while it is
   * worked on: the SQLite snapshot, a decoded image under verification, a
   * pg_restore input. For `local` it is the backup directory itself.
   */
  readonly stagingDir: string;
  /** Objects without a manifest younger than this are left alone by the orphan sweep (another host may be finishing them). */
  readonly orphanGraceMs: number;
  /** Where one object is, for messages and results (a path or an s3:// URL). */
  describe(name: string): string;
  /** Every object at the root. A missing directory or prefix is empty. */
  list(): Promise<RepoObject[]>;
  /** True when the object exists. */
  exists(name: string): Promise<boolean>;
  /** A small object's text, or null when it does not exist. */
  readText(name: string): Promise<string | null>;
  /** Write a small document under `name`, atomically. */
  writeText(name: string, text: string): Promise<void>;
  /** Store a finished local file as `name` (local: rename within the same directory; s3: upload). The file is consumed. */
  putFile(name: string, file: string): Promise<void>;
  /** Store a stream as `name`; complete or absent. */
  putStream(name: string, body: Readable): Promise<void>;
  /** Read a data object as a stream. */
  read(name: string): Promise<Readable>;
  /** The side a read of `name` uses (the local copy when there is one). */
  sideOf(name: string): RepoSide;
  /** The object's path on this machine's filesystem, when it has one (fast paths); null otherwise. */
  localPath(name: string): string | null;
  /** Delete an object; a missing one is not an error. */
  remove(name: string): Promise<void>;
  /** Create what must exist before writing (the directory, the staging directory). */
  prepare(): Promise<void>;
  /** Remove leftovers of crashed runs: temporary files, abandoned uploads. Returns what was removed. Call under the lock. */
  sweep(log?: LogFn): Promise<string[]>;
  /** Run `fn` under the backup mutex (waits up to timeoutMs, then ConflictError 4). */
  withMutex<T>(opts: RepoLockOptions, fn: () => Promise<T>): Promise<T>;
  /** Release clients; logs request counts at debug level. */
  close(log?: LogFn): void;
}
