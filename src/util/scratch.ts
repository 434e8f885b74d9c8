/**
 * The private scratch area for decrypted or decompressed data (a verify's
 * decoded image, an encrypted backup's raw snapshot, a PostgreSQL archive
 * being restored): `$TMPDIR/wks-<uid>/` (0700, owned by the running user,
 * never a symlink) holding one `<pid>-<random>/` directory (0700) per
 * process. It is never inside the backup directory, so copying the
 * repository off the host never ships plaintext.
 *
 * The process's own directory is removed when it exits, when it is
 * interrupted (SIGINT/SIGTERM), and, after a kill -9, by the next wks that
 * calls `sweepScratch()` (every command that holds the backup mutex or starts
 * a verify). Files in it are created 0600 with `createPrivateFile`.
 *
 * A private file that must live elsewhere (a restore's verified image beside
 * its target, renamed into place) is tracked with `trackPrivateFile`: a
 * pointer in the process's directory names it, so it is removed on exit, on
 * an interrupt, and by the sweep that removes a dead process's directory.
 */
import {
  chmodSync,
  closeSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { OperationError } from '../errors.js';
import { onInterrupt } from './interrupt.js';
import { pidAlive } from './process.js';

const uid = (): number => (typeof process.getuid === 'function' ? process.getuid() : 0);

/** `$TMPDIR/wks-<uid>`: the parent of every process's scratch directory. */
export function scratchRoot(): string {
  return path.join(tmpdir(), `wks-${uid()}`);
}

/** Create the root (0700) or check an existing one: a real directory, ours, tightened to 0700. Throws OperationError. */
function ensureRoot(): string {
  const root = scratchRoot();
  const hint = 'set TMPDIR to a private directory with room for the decoded image';
  try {
    mkdirSync(root, { mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST')
      throw new OperationError(`cannot create the scratch directory ${root}: ${(err as Error).message}`, {
        hint,
        cause: err,
      });
  }
  const st = lstatSync(root);
  if (!st.isDirectory() || st.isSymbolicLink() || st.uid !== uid())
    throw new OperationError(`the scratch directory ${root} is not a private directory of this user`, {
      hint: `remove it, or ${hint}`,
    });
  if ((st.mode & 0o777) !== 0o700) chmodSync(root, 0o700);
  return root;
}

let mine: string | null = null;
let removeOnExit: (() => void) | null = null;
/** Private files outside the scratch directory that this process still owns (see trackPrivateFile). */
const outside = new Set<string>();
/** Name prefix of a pointer file: its content is the absolute path of a tracked private file elsewhere. */
const POINTER = 'outside-';

function removeMine(): void {
  for (const f of outside) removeScratch(f);
  outside.clear();
  if (mine) rmSync(mine, { recursive: true, force: true });
  mine = null;
}

/** This process's scratch directory (created on first use, 0700). */
export function processScratch(): string {
  if (mine) return mine;
  mine = mkdtempSync(path.join(ensureRoot(), `${process.pid}-`));
  if (!removeOnExit) {
    process.on('exit', removeMine);
    removeOnExit = onInterrupt(removeMine);
  }
  return mine;
}

/** A fresh path `<process scratch>/<desc>` (not created). */
export function scratchPath(desc: string): string {
  return path.join(processScratch(), `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}-${desc}`);
}

/** Create an empty file at `file`, mode 0600 from creation (O_EXCL). Returns `file`. */
export function createPrivateFile(file: string): string {
  closeSync(openSync(file, 'wx', 0o600));
  return file;
}

/** Remove a scratch file and SQLite's side files; never throws. */
export function removeScratch(file: string): void {
  for (const f of [file, `${file}-journal`, `${file}-wal`, `${file}-shm`]) rmSync(f, { force: true });
}

/**
 * Track a private file outside the scratch directory (`file`, an absolute path, not yet created):
 * it is removed (with SQLite's side files) when the process exits or is interrupted, and after a
 * kill -9 by the next `sweepScratch()`. The returned function stops tracking it (call it once the
 * file is renamed away or removed). Throws OperationError when the scratch directory cannot be made.
 */
export function trackPrivateFile(file: string): () => void {
  const pointer = path.join(processScratch(), `${POINTER}${Math.random().toString(36).slice(2, 10)}`);
  writeFileSync(pointer, file, { mode: 0o600, flag: 'wx' });
  outside.add(file);
  return () => {
    outside.delete(file);
    rmSync(pointer, { force: true });
  };
}

/** Remove the files a dead process's scratch directory points at (trackPrivateFile). Never throws. */
function removePointed(dir: string): void {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.startsWith(POINTER));
  } catch {
    return;
  }
  for (const n of names) {
    try {
      const file = readFileSync(path.join(dir, n), 'utf8');
      if (path.isAbsolute(file)) removeScratch(file);
    } catch {
      /* unreadable pointer or file: a later run retries */
    }
  }
}

/** Remove the scratch directories of processes that are gone (kill -9), and the private files they tracked elsewhere. Returns the names removed. Never throws. */
export function sweepScratch(): string[] {
  return sweepDeadOwners(scratchRoot(), '', removePointed);
}

/**
 * Remove the entries of `dir` named `<prefix><pid>-...` whose process is gone (kill -9), recursively.
 * The one sweep of private leftovers (scratch directories, passfile directories). Returns the names
 * removed. Never throws: an entry it cannot remove (another user's) is left for a later run.
 */
export function sweepDeadOwners(dir: string, prefix: string, before?: (entry: string) => void): string[] {
  const removed: string[] = [];
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return removed;
  }
  const owner = new RegExp(`^${prefix}(\\d+)-`);
  for (const name of names) {
    const m = owner.exec(name);
    if (!m || Number(m[1]) === process.pid || pidAlive(Number(m[1]))) continue;
    try {
      before?.(path.join(dir, name));
      rmSync(path.join(dir, name), { recursive: true, force: true });
      removed.push(name);
    } catch {
      /* not removable now (another user's, or busy): a later run retries */
    }
  }
  return removed;
}

/**
 * Throw OperationError (exit 1) before any work when the scratch directory's
 * filesystem has less than `bytes` free: a compressed or encrypted SQLite
 * backup stages the whole raw image there (as large as the database) before
 * it is encoded into the backup directory. Unmeasurable space is not an error.
 */
export async function assertScratchSpace(bytes: number, what: string): Promise<void> {
  const { freeSpace } = await import('./disk.js');
  const { formatBytes } = await import('./size.js');
  const dir = processScratch();
  const free = await freeSpace(dir).then(
    (s) => s.freeBytes,
    () => null,
  );
  if (free === null || free >= bytes) return;
  throw new OperationError(
    `not enough space for ${what}: it stages the raw image (~${formatBytes(bytes)}) in the scratch directory ${dir}, which has ${formatBytes(free)} free`,
    {
      hint: `point TMPDIR at a private directory with at least ${formatBytes(bytes)} free (it holds the raw image only while the backup is encoded), or use --compress none without encryption`,
      details: { scratch: dir, needed_bytes: bytes, free_bytes: free },
    },
  );
}
