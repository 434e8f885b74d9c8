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

/** The only variables a child process of wks inherits (locale and paths; no credentials). */
const CHILD_ENV_KEYS = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'LC_CTYPE', 'LC_MESSAGES', 'TZ', 'TMPDIR'];

/**
 * A minimal environment for a child process (pg_dump, pg_restore, zstd, ...):
 * PATH, HOME, locale, TZ and TMPDIR from wks's own environment plus `extra`.
 * Nothing else is inherited, so no secret (PG_PASSWORD, BACKUP_ENCRYPTION_KEY,
 * AWS_SECRET_ACCESS_KEY, ...) reaches a child, its core dumps or its logs.
 */
export function minimalEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const k of CHILD_ENV_KEYS) if (process.env[k] !== undefined) env[k] = process.env[k];
  if (env.PATH === undefined) env.PATH = '/usr/bin:/bin';
  return { ...env, ...extra };
}
