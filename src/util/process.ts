/** Process helpers shared by the lock and leftover-cleanup code. */

/**
 * True when a process with this pid exists on this host (signal 0 probe;
 * EPERM means it exists but belongs to another user). False for a pid that
 * is not a positive integer. Never throws.
 */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Resolve after `ms` milliseconds (a poll interval; the timer keeps the process alive). */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
