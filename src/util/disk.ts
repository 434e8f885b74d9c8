/** Directories that may not exist yet, and the free space of their filesystem. */
import { statSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import path from 'node:path';

/** The nearest existing directory at or above `p` (for "could it be created?" questions); the root at worst. */
export function nearestExistingDir(p: string): string {
  let cur = path.resolve(p);
  for (;;) {
    try {
      if (statSync(cur).isDirectory()) return cur;
    } catch {
      /* keep climbing */
    }
    const up = path.dirname(cur);
    if (up === cur) return cur;
    cur = up;
  }
}

/**
 * Free bytes (for an unprivileged writer) and total bytes of the filesystem
 * holding `dir`, measured at its nearest existing ancestor (the backup
 * directory is created on first backup); `path` is where it was measured.
 * @throws the statfs error when that directory cannot be measured.
 */
export async function freeSpace(dir: string): Promise<{ path: string; freeBytes: number; totalBytes: number }> {
  const p = nearestExistingDir(dir);
  const st = await statfs(p);
  return { path: p, freeBytes: Number(st.bavail) * Number(st.bsize), totalBytes: Number(st.blocks) * Number(st.bsize) };
}

/** freeSpace(dir).freeBytes, or null when it cannot be measured. Never throws. */
export async function freeBytes(dir: string): Promise<number | null> {
  return freeSpace(dir).then(
    (s) => s.freeBytes,
    () => null,
  );
}
