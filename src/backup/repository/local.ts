/**
 * The `local` repository: today's backup directory (BACKUP_STORAGE_PATH),
 * 0700 with 0600 files. Writes go to an owned temporary name (pid in the
 * name, so a later run can tell a crashed run's leftovers), are fsynced and
 * renamed into place; the directory is fsynced after every rename and delete.
 */
import {
  chmodSync,
  createReadStream,
  createWriteStream,
  existsSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fsyncDir } from '../../util/fs.js';
import { onInterrupt } from '../../util/interrupt.js';
import {
  FILE_MODE,
  ensurePrivateDir,
  fsError,
  fsyncFile,
  ownedTempPath,
  removeQuietly,
  sweepLeftovers,
  writeTextAtomic,
} from '../files.js';
import { withBackupMutex } from '../lock.js';
import type { BackupRepository, RepoLockOptions, RepoObject } from './types.js';

const READ_HWM = 1024 * 1024;

export class LocalRepository implements BackupRepository {
  readonly kind = 'local' as const;
  readonly orphanGraceMs = 0;
  readonly stagingDir: string;
  constructor(
    readonly location: string,
    /** database.backup.allow_foreign_owner: accept a directory owned by another user (see ensurePrivateDir). */
    private readonly allowForeignOwner = false,
  ) {
    this.stagingDir = location;
  }

  describe(name: string): string {
    return path.join(this.location, name);
  }

  async list(): Promise<RepoObject[]> {
    let names: string[];
    try {
      names = readdirSync(this.location);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw fsError(
        err,
        `cannot read the backup directory ${this.location}`,
        'check BACKUP_STORAGE_PATH (database.backup.storage_path) and its permissions',
      );
    }
    const out: RepoObject[] = [];
    for (const name of names) {
      try {
        const st = statSync(path.join(this.location, name));
        if (st.isFile()) out.push({ name, size: st.size, modified: st.mtime });
      } catch {
        /* removed meanwhile */
      }
    }
    return out;
  }

  async exists(name: string): Promise<boolean> {
    return existsSync(this.describe(name));
  }

  existsSync(name: string): boolean {
    return existsSync(this.describe(name));
  }

  async readText(name: string): Promise<string | null> {
    try {
      return readFileSync(this.describe(name), 'utf8');
    } catch {
      return null;
    }
  }

  async writeText(name: string, text: string): Promise<void> {
    try {
      writeTextAtomic(this.describe(name), text);
    } catch (err) {
      throw fsError(err, `cannot write ${this.describe(name)}`);
    }
  }

  async putFile(name: string, file: string): Promise<void> {
    fsyncFile(file);
    chmodSync(file, FILE_MODE);
    renameSync(file, this.describe(name));
    fsyncDir(this.location);
  }

  async putStream(name: string, body: Readable): Promise<void> {
    const tmp = ownedTempPath(this.location, name);
    const unregister = onInterrupt(() => rmSync(tmp, { force: true }));
    try {
      await pipeline(
        body,
        createWriteStream(tmp, { flags: 'wx', mode: FILE_MODE, flush: true, highWaterMark: READ_HWM }),
      );
      chmodSync(tmp, FILE_MODE);
      renameSync(tmp, this.describe(name));
    } catch (err) {
      removeQuietly(tmp);
      throw err;
    } finally {
      unregister();
    }
    fsyncDir(this.location);
  }

  async read(name: string): Promise<Readable> {
    return createReadStream(this.describe(name), { highWaterMark: READ_HWM });
  }

  sideOf(): 'local' {
    return 'local';
  }

  localPath(name: string): string {
    return this.describe(name);
  }

  async remove(name: string): Promise<void> {
    removeQuietly(this.describe(name));
    fsyncDir(this.location);
  }

  async prepare(): Promise<void> {
    ensurePrivateDir(this.location, { allowForeignOwner: this.allowForeignOwner });
  }

  async sweep(): Promise<string[]> {
    return sweepLeftovers(this.location);
  }

  withMutex<T>(opts: RepoLockOptions, fn: () => Promise<T>): Promise<T> {
    return withBackupMutex(this.location, opts, fn);
  }

  close(): void {}
}
