/**
 * File helpers of the backup directory: private modes, temporary names that
 * carry their owner's pid (so a later run can tell a crashed run's leftovers
 * from a live run's work), atomic JSON writes, and the leftover sweep.
 */
import {
  chmodSync,
  closeSync,
  fsyncSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  realpathSync,
  statSync,
  unlinkSync,
} from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { writeFileAtomic } from '../util/fs.js';
import { pidAlive } from '../util/process.js';
import { ConfigError, OperationError } from '../errors.js';

export const DIR_MODE = 0o700;
export const FILE_MODE = 0o600;

/** Prefix of every temporary file wks creates in a backup directory or beside a restore target. */
export const TEMP_PREFIX = '.wks-tmp-';

/** `<dir>/.wks-tmp-<pid>-<rand>-<desc>`: a temporary name owned by this process. */
export function ownedTempPath(dir: string, desc: string): string {
  return path.join(dir, `${TEMP_PREFIX}${process.pid}-${randomBytes(4).toString('hex')}-${desc}`);
}

/** The pid encoded in an owned temp name, or null for other names. */
export function tempOwnerPid(name: string): number | null {
  const m = /^\.wks-tmp-(\d+)-[0-9a-f]{8}-/.exec(name);
  return m ? Number(m[1]) : null;
}

/**
 * Create the backup directory (0700) if needed, and tighten its mode if it is
 * looser. The directory itself is checked, never what a symbolic link points
 * at (lstat): a symlinked directory is refused, and so is one owned by
 * another user than the running one or root (someone else could plant or
 * swap backups there) unless `allowForeignOwner`
 * (database.backup.allow_foreign_owner). Throws ConfigError (78) for a
 * symlink or a foreign owner, OperationError (exit 1) with a hint when it
 * cannot be created or written.
 */
export function ensurePrivateDir(dir: string, opts: { allowForeignOwner?: boolean } = {}): void {
  const where = 'BACKUP_STORAGE_PATH (database.backup.storage_path)';
  let st: import('node:fs').Stats;
  try {
    mkdirSync(dir, { recursive: true, mode: DIR_MODE });
    st = lstatSync(dir);
  } catch (err) {
    throw fsError(err, `cannot use backup directory ${dir}`, `set ${where} to a writable directory`);
  }
  if (st.isSymbolicLink())
    throw new ConfigError(`the backup directory ${dir} is a symbolic link`, [], {
      hint: `point ${where} at the real directory (${realpathOr(dir)})`,
    });
  if (!st.isDirectory())
    throw fsError(
      Object.assign(new Error('not a directory'), { code: 'ENOTDIR' }),
      `cannot use backup directory ${dir}`,
    );
  const uid = process.getuid?.() ?? st.uid;
  if (st.uid !== uid && st.uid !== 0 && !opts.allowForeignOwner)
    throw new ConfigError(
      `the backup directory ${dir} is owned by uid ${st.uid}, not by this user (${uid}) or root`,
      [],
      {
        hint: `chown it to the user wks runs as, or set database.backup.allow_foreign_owner: true if that owner is trusted`,
      },
    );
  if ((st.mode & 0o777) !== DIR_MODE && st.uid === uid) {
    try {
      chmodSync(dir, DIR_MODE);
    } catch (err) {
      throw fsError(err, `cannot make backup directory ${dir} private (0700)`);
    }
  }
}

const realpathOr = (p: string): string => {
  try {
    return realpathSync(p);
  } catch {
    return 'readlink -f it';
  }
};

/** Turn a filesystem error into one operator-facing line (ENOSPC, EACCES, EROFS get their own wording). */
export function fsError(err: unknown, what: string, hint?: string): OperationError {
  const code = (err as NodeJS.ErrnoException)?.code;
  const reason =
    code === 'ENOSPC'
      ? 'no space left on device'
      : code === 'EACCES' || code === 'EPERM'
        ? 'permission denied'
        : code === 'EROFS'
          ? 'read-only file system'
          : code === 'EDQUOT'
            ? 'disk quota exceeded'
            : code === 'ENOTDIR'
              ? 'not a directory'
              : ((err as Error)?.message ?? String(err));
  return new OperationError(`${what}: ${reason}`, {
    hint:
      hint ??
      (code === 'ENOSPC' ? 'free space in the backup directory (or run `wks backup rotate`), then retry' : undefined),
    cause: err,
    details: code ? { errno: code } : undefined,
  });
}

/** Atomically write a text file (0600) under an owned temp name, so sweepLeftovers can tell a crashed writer's file by its pid. */
export function writeTextAtomic(target: string, text: string): void {
  writeFileAtomic(target, text, {
    mode: FILE_MODE,
    tempPath: ownedTempPath(path.dirname(target), path.basename(target)),
  });
}

/** fsync a file by path. */
export function fsyncFile(file: string): void {
  const fd = openSync(file, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** unlink, ignoring "already gone". Other errors are thrown. */
export function removeQuietly(file: string): void {
  try {
    unlinkSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/**
 * Remove the temporary files that crashed runs left in `dir`: owned temp
 * names whose pid is no longer alive (live owners keep theirs), plus, unless
 * `ownedOnly`, util/fs `.name.tmp-xxxx` files older than `staleMs` (default
 * 10 min). Returns the names removed.
 * Call it only while holding the backup mutex.
 */
export function sweepLeftovers(
  dir: string,
  opts: { staleMs?: number; now?: number; ownedOnly?: boolean } = {},
): string[] {
  const removed: string[] = [];
  const now = opts.now ?? Date.now();
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return removed;
  }
  for (const name of names) {
    const pid = tempOwnerPid(name);
    let stale = false;
    if (pid !== null) stale = pid !== process.pid && !pidAlive(pid);
    else if (!opts.ownedOnly && /^\..+\.tmp-[0-9a-f]{8}$/.test(name)) {
      try {
        stale = now - statSync(path.join(dir, name)).mtimeMs > (opts.staleMs ?? 10 * 60_000);
      } catch {
        stale = false;
      }
    }
    if (!stale) continue;
    try {
      removeQuietly(path.join(dir, name));
      removed.push(name);
    } catch {
      /* best effort: a later run retries */
    }
  }
  return removed;
}
