/**
 * Crash-safe file writing: write to a temporary name in the same directory,
 * fsync, rename into place, fsync the directory. A reader never sees a
 * half-written file under the final name.
 */
import {
  accessSync,
  constants,
  openSync,
  writeSync,
  fsyncSync,
  closeSync,
  renameSync,
  unlinkSync,
  mkdirSync,
} from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';

/** A unique temporary name beside `target` (`.<base>.tmp-<random>`), recognisable for cleanup. */
export function tempPathFor(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.tmp-${randomBytes(4).toString('hex')}`);
}

/** fsync a directory so that a rename inside it is durable. Ignored where unsupported. */
export function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    /* some filesystems refuse fsync on directories */
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * Atomically replace `target` with `data` (default mode 0600), creating its
 * directory if needed. `tempPath` overrides the temporary name (it must be in
 * the same directory; default tempPathFor(target)), e.g. for names a sweep
 * recognises by owner. The temporary file is removed when any step fails.
 * Throws the filesystem error.
 */
export function writeFileAtomic(
  target: string,
  data: string | Uint8Array,
  opts: { mode?: number; tempPath?: string } = {},
): void {
  mkdirSync(path.dirname(target), { recursive: true });
  const tmp = opts.tempPath ?? tempPathFor(target);
  let fd: number | undefined = openSync(tmp, 'wx', opts.mode ?? 0o600);
  try {
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, target);
  } catch (err) {
    if (fd !== undefined) closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      /* already gone */
    }
    throw err;
  }
  fsyncDir(path.dirname(target));
}

/** True when `file`'s directory is on a read-only file system (EROFS). Never throws. */
export function onReadOnlyFs(file: string): boolean {
  try {
    accessSync(path.dirname(path.resolve(file)), constants.W_OK);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EROFS';
  }
}

/** The one-line reason and hint for a SQLite database that cannot be opened because its file system is read-only. */
export function readOnlyFsText(file: string): { reason: string; hint: string } {
  return {
    reason: `${file} is on a read-only file system`,
    hint: 'remount it read-write, or copy the database (with its -wal file) to a writable disk and point DATABASE_PATH at the copy; SQLite must be able to create its -shm/-journal files even to read',
  };
}
