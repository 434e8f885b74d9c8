import { formatDuration } from '../../util/duration.js';
import type { Action, CommandContext } from '../context.js';
import type { Config } from '../../config/index.js';
import type { DatabaseAdapter } from '../../db/index.js';
import type { MigrationInfo } from '../../migrate/index.js';
import { OperationError, isWksError } from '../../errors.js';
import { lockWaitNotice, parseLockTimeout, printPlan } from './shared.js';

interface Opts {
  to?: string;
  dryRun?: boolean;
  backup?: boolean;
  lockTimeout?: string;
}

/**
 * The pre-migration backup (createBackup type 'pre-migration'), taken once
 * the lock is held and something is pending. A failed backup aborts the run
 * before anything is applied.
 */
function preMigrationBackup(ctx: CommandContext, config: Config, result: { backup: unknown }) {
  return async (pending: MigrationInfo[], db: DatabaseAdapter): Promise<void> => {
    const { userTableCount } = await import('../../migrate/index.js');
    if ((await userTableCount(db)) === 0) {
      ctx.out.debug('fresh database: no pre-migration backup needed');
      result.backup = { skipped: 'fresh database' };
      return;
    }
    const { createBackup } = await import('../../backup/index.js');
    const p = await ctx.out.progress(`taking a pre-migration backup before ${pending.length} migration(s)`);
    try {
      const b = await createBackup(config, { type: 'pre-migration' });
      p.succeed(`pre-migration backup ${b.manifest.id} written to ${b.path}`);
      result.backup = { id: b.manifest.id, path: b.path };
    } catch (err) {
      p.fail('pre-migration backup failed; no migration was applied');
      if (isWksError(err) && !err.hint?.includes('--no-backup')) {
        throw new OperationError(`pre-migration backup failed: ${err.message}`, {
          cause: err,
          hint: `${err.hint ? `${err.hint}; ` : ''}or re-run with --no-backup to migrate without one`,
        });
      }
      throw err;
    }
  };
}

/** `wks migrate up [--to V] [--dry-run] [--no-backup]`. */
const up: Action<Opts> = async (ctx, _args, opts) => {
  const config = await ctx.config();
  const { migrateUp } = await import('../../migrate/index.js');
  const extra: { backup: unknown } = { backup: opts.backup === false ? { skipped: '--no-backup' } : null };
  const res = await migrateUp(config, {
    to: opts.to,
    dryRun: !!opts.dryRun,
    lockTimeoutMs: parseLockTimeout(opts.lockTimeout),
    onLockWait: lockWaitNotice(ctx),
    beforeApply: opts.backup === false ? undefined : preMigrationBackup(ctx, config, extra),
    onStart: (m) => ctx.out.debug(`applying ${m.version}_${m.name}${m.transaction ? '' : ' (no transaction)'}`),
    onDone: (r) => ctx.out.info(`applied ${r.version}_${r.name} (${formatDuration(r.durationMs)})`),
  });
  ctx.out.result({ ...res, backup: extra.backup }, (d, r) => {
    if (d.dryRun) {
      if (d.pending.length === 0) {
        r.line(`nothing to apply: ${d.database} is at ${d.current ?? '(empty)'}`);
        return;
      }
      r.line(`would apply ${d.pending.length} migration(s) to ${d.database} (dry run, nothing changed):`);
      printPlan(r, d.pending);
      return;
    }
    if (d.applied.length === 0)
      r.line(`${r.c.green('✔')} database is up to date at ${d.current ?? '(no migrations)'} (${d.database})`);
    else r.line(`${r.c.green('✔')} applied ${d.applied.length} migration(s); now at ${d.current} (${d.database})`);
  });
};
export default up;
