/**
 * File helpers of the backup directory: private modes, temporary names that
 * carry their owner's pid (so a later run can tell a crashed run's leftovers
 * from a live run's work), atomic JSON writes, and the leftover sweep.
 */
import { chmodSync, closeSync, fsyncSync, mkdirSync, openSync, readdirSync, statSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { writeFileAtomic } from '../util/fs.js';
import { pidAlive } from '../util/process.js';
import { OperationError } from '../errors.js';

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
 * looser. Throws OperationError (exit 1) with a hint when it cannot be created
 * or written.
 */
export function ensurePrivateDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: DIR_MODE });
    const st = statSync(dir);
    if (!st.isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
    if ((st.mode & 0o777) !== DIR_MODE) chmodSync(dir, DIR_MODE);
  } catch (err) {
    throw fsError(
      err,
      `cannot use backup directory ${dir}`,
      'set BACKUP_STORAGE_PATH (database.backup.storage_path) to a writable directory',
    );
  }
}

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
 * Call it only while holding the backup lock.
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
