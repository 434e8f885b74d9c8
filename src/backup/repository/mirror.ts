/**
 * The `local+s3` repository (database.backup.local_copy with an S3
 * repository): every backup is kept in the local backup directory for fast
 * restores and copied to the bucket, off the host, as pgBackRest keeps
 * several repositories.
 *
 * This is the reading view over both sides: the catalog is the union of the
 * two (each object says where it is), and a read uses the local copy when
 * there is one, else the remote one. Writes go to the local side: `create`
 * stores a backup locally, then copies it with the upload path (upload.ts);
 * `rotate` applies each side's retention to that side (rotate.ts, through
 * `local` and `remote`). When the bucket cannot be listed, the listing is the
 * local side's and `remoteProblem` says why (list and health show it).
 *
 * The bucket's listing here is for reads the local copy can serve (list,
 * verify, restore, health, metrics), so it waits at most `fallbackMs`
 * (database.backup.s3.local_fallback_ms), not the whole retry budget: with
 * the store unreachable, a restore from the local copy starts in seconds.
 * When the local side holds no backup, nothing can be served locally and the
 * bucket gets the full budget. Writes (create's copy, upload, rotate) use
 * `remote` directly, with the full budget.
 */
import type { Readable } from 'node:stream';
import type { LogFn } from '../types.js';
import type { LocalRepository } from './local.js';
import type { S3Repository } from './s3.js';
import type { BackupRepository, RepoLockOptions, RepoObject, RepoSide } from './types.js';

/** `<id>.verify.json` / `<id>.drill.json`: the sidecar's backup id. */
const SIDECAR = /^(.+)\.(?:verify|drill)\.json$/;
/** A backup's manifest, `<id>.json`. */
const MANIFEST = /^\d{8}T\d{6}Z-[0-9a-f]{4}\.json$/;

export class MirroredRepository implements BackupRepository {
  readonly kind = 'local+s3' as const;
  readonly location: string;
  readonly stagingDir: string;
  readonly orphanGraceMs: number;
  /** Why the last listing has only the local side (the bucket could not be listed), or null. */
  remoteProblem: string | null = null;
  /** The bucket's names in the last listing. */
  private remoteNames = new Set<string>();

  constructor(
    readonly local: LocalRepository,
    readonly remote: S3Repository,
    /** How long a read that the local copy can serve waits for the bucket's listing; 0: the full retry budget. */
    private readonly fallbackMs = 0,
  ) {
    this.location = `${local.location} + ${remote.location}`;
    this.stagingDir = local.stagingDir;
    this.orphanGraceMs = Math.max(local.orphanGraceMs, remote.orphanGraceMs);
  }

  /** True when the local side holds `name` (a cheap stat). */
  private here(name: string): boolean {
    return this.local.existsSync(name);
  }

  /** The local side when it holds `name` or nobody is known to (a new object is written locally), else the bucket. */
  sideOf(name: string): RepoSide {
    return this.here(name) || !this.remoteNames.has(name) ? 'local' : 's3';
  }

  describe(name: string): string {
    return this.sideOf(name) === 'local' ? this.local.describe(name) : this.remote.describe(name);
  }

  async list(): Promise<RepoObject[]> {
    this.remoteProblem = null;
    const failed = (err: Error): RepoObject[] => {
      this.remoteProblem = `${this.remote.location} cannot be listed (${err.message}); showing the local copies only`;
      return [];
    };
    const [local, quick] = await Promise.all([
      this.local.list(),
      this.remote.list({ deadlineMs: this.fallbackMs }).catch((err: Error) => err),
    ]);
    // Nothing to serve locally: the bucket's listing is the catalog, worth the full retry budget.
    const remote =
      quick instanceof Error
        ? local.some((o) => MANIFEST.test(o.name))
          ? failed(quick)
          : await this.remote.list().catch(failed)
        : quick;
    this.remoteNames = new Set(remote.map((o) => o.name));
    const byName = new Map<string, RepoObject>();
    for (const o of local) byName.set(o.name, { ...o, sides: ['local'] });
    for (const o of remote) {
      const had = byName.get(o.name);
      if (had) had.sides!.push('s3');
      else byName.set(o.name, { ...o, sides: ['s3'] });
    }
    return [...byName.values()];
  }

  /**
   * `name` read from the bucket by its key, with the full retry budget (a GET, no listing): for an
   * explicit id the last listing could not show (catalog.ts). Found, it is the bucket's from now on.
   */
  async readRemote(name: string): Promise<string | null> {
    const text = await this.remote.readText(name);
    if (text !== null) this.remoteNames.add(name);
    return text;
  }

  /** Whether the bucket holds `name` (a HEAD, full retry budget); see readRemote. */
  async existsRemote(name: string): Promise<boolean> {
    const found = await this.remote.exists(name);
    if (found) this.remoteNames.add(name);
    return found;
  }

  /** On either side. An unreachable bucket counts as not holding it (new ids are checked here: the local side must still work). */
  async exists(name: string): Promise<boolean> {
    if (this.here(name)) return true;
    return !this.remoteProblem && (await this.remote.exists(name).catch(() => false));
  }

  async readText(name: string): Promise<string | null> {
    return (await this.local.readText(name)) ?? (await this.remote.readText(name));
  }

  /** A sidecar goes to the side whose copy was read (the local one when that backup has one); anything else to the local side. */
  async writeText(name: string, text: string): Promise<void> {
    const id = SIDECAR.exec(name)?.[1];
    if (id && !this.here(`${id}.json`)) await this.remote.writeText(name, text);
    else await this.local.writeText(name, text);
  }

  async putFile(name: string, file: string): Promise<void> {
    await this.local.putFile(name, file);
  }

  async putStream(name: string, body: Readable): Promise<void> {
    await this.local.putStream(name, body);
  }

  async read(name: string): Promise<Readable> {
    return this.here(name) ? this.local.read(name) : this.remote.read(name);
  }

  /** The local copy's path when there is one; null sends readers to the bucket. */
  localPath(name: string): string | null {
    return this.here(name) ? this.local.localPath(name) : null;
  }

  /** Delete from both sides. */
  async remove(name: string): Promise<void> {
    await this.local.remove(name);
    await this.remote.remove(name);
  }

  async prepare(): Promise<void> {
    await this.local.prepare();
  }

  /**
   * Both sides' leftovers; a bucket that cannot be swept now is logged, never an error (the local
   * side still works). A bucket the last listing could not reach is not tried again (a restore from
   * the local copy does not wait out the retry budget for it).
   */
  async sweep(log?: LogFn): Promise<string[]> {
    const removed = await this.local.sweep();
    if (this.remoteProblem) {
      log?.('debug', `${this.remote.location}: leftovers not swept: the bucket could not be listed`);
      return removed;
    }
    try {
      removed.push(...(await this.remote.sweep(log)));
    } catch (err) {
      log?.('warn', `${this.remote.location}: leftovers not swept: ${(err as Error).message}`);
    }
    return removed;
  }

  /** One backup mutex for both sides: the local directory's (the S3 side's staging directory is the same). */
  withMutex<T>(opts: RepoLockOptions, fn: () => Promise<T>): Promise<T> {
    return this.local.withMutex(opts, fn);
  }

  close(log?: LogFn): void {
    this.local.close();
    this.remote.close(log);
  }
}
