/**
 * The pre-migration backup policy, in one place for `migrate up` and `db copy`: before a run changes a
 * schema or copies data, take a `pre-migration` backup of the database, unless it is fresh (no user
 * tables: nothing to lose). A failed backup aborts the run before anything changes.
 */
import type { Config } from '../config/index.js';
import type { DatabaseAdapter } from '../db/index.js';
import { OperationError, isWksError } from '../errors.js';
import { userTableCount } from './store.js';

/** What the pre-migration step did: a backup, or why none was taken. Part of the `--json` shapes. */
export type PreMigrationBackup = { id: string; path: string } | { skipped: string };

export interface PreMigrationBackupOptions {
  /** The open database, to skip a fresh one; null when the caller has none open (always back up). */
  db: DatabaseAdapter | null;
  /** A label stored in the manifest (for example `db copy`). */
  label?: string;
  /** What the run would have done, for the error: `migrated`, `copied`. */
  what: string;
  /** The flag that skips the backup, for the hint. Default `--no-backup`. */
  skipFlag?: string;
  /** Called (and awaited) before the backup starts: a command starts its spinner here. */
  onStart?: () => Promise<void> | void;
  /** Called once if the backup waits for another wks's backup mutex. */
  onLockWait?: (owner: import('../backup/index.js').LockOwner | null) => void;
  /** Called when the backup is written, or failed. */
  onEnd?: (outcome: { ok: true; id: string; path: string } | { ok: false }) => void;
}

/**
 * Take the pre-migration backup (createBackup type `pre-migration`) unless `db` is fresh.
 * Throws OperationError (exit 1) naming the cause and how to go on without a backup.
 */
export async function takePreMigrationBackup(
  config: Config,
  opts: PreMigrationBackupOptions,
): Promise<PreMigrationBackup> {
  if (opts.db && (await userTableCount(opts.db)) === 0) return { skipped: 'fresh database' };
  const { createBackup } = await import('../backup/index.js');
  await opts.onStart?.();
  try {
    const b = await createBackup(config, {
      type: 'pre-migration',
      label: opts.label,
      onLockWait: opts.onLockWait,
    });
    opts.onEnd?.({ ok: true, id: b.manifest.id, path: b.path });
    return { id: b.manifest.id, path: b.path };
  } catch (err) {
    opts.onEnd?.({ ok: false });
    const hint = isWksError(err) && err.hint ? `${err.hint}; ` : '';
    const verb = opts.what === 'copied' ? 'copy' : 'migrate';
    throw new OperationError(`pre-migration backup failed: ${(err as Error).message}; nothing was ${opts.what}`, {
      cause: err,
      hint: `${hint}or re-run with ${opts.skipFlag ?? '--no-backup'} to ${verb} without one`,
    });
  }
}
