/** Free space of the filesystem holding a directory. */
import { statfs } from 'node:fs/promises';
import path from 'node:path';

/**
 * Bytes available to unprivileged users on the filesystem of `dir`. A
 * directory that does not exist yet is measured at its nearest existing
 * parent (the backup directory is created on first backup). Null when even
 * the root cannot be measured.
 */
export async function freeBytes(dir: string): Promise<number | null> {
  let d = path.resolve(dir);
  for (;;) {
    try {
      const s = await statfs(d);
      return s.bavail * s.bsize;
    } catch {
      const up = path.dirname(d);
      if (up === d) return null;
      d = up;
    }
  }
}
