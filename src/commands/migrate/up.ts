import { formatDuration } from '../../util/duration.js';
import type { Action, CommandContext } from '../context.js';
import type { PreMigrationBackupOptions } from '../../migrate/index.js';
import type { Progress } from '../../ui/index.js';
import { lockWaitNotice, parseLockTimeout, printPlan } from './shared.js';
import { lockWaitNotice as backupMutexWait } from '../backup/format.js';

interface Opts {
  to?: string;
  dryRun?: boolean;
  backup?: boolean;
  lockTimeout?: string;
  allowDrift?: boolean;
}

/** The pre-migration backup's spinner: the backup runs under the migration mutex, once something is pending. */
function preMigrationProgress(ctx: CommandContext): Omit<PreMigrationBackupOptions, 'db' | 'what'> {
  let p: Progress | null = null;
  return {
    onStart: async () => {
      p = await ctx.out.progress('taking a pre-migration backup');
    },
    onLockWait: (o) => backupMutexWait(ctx.out, p ?? undefined)(o),
    onEnd: (o) => {
      if (o.ok) p?.succeed(`pre-migration backup ${o.id} written to ${o.path}`);
      else p?.fail('pre-migration backup failed; no migration was applied');
    },
  };
}

/** `wks migrate up [--to V] [--dry-run] [--no-backup]`. */
const up: Action<Opts> = async (ctx, _args, opts) => {
  const config = await ctx.config();
  if (!opts.dryRun) ctx.reportRun('migrate_up');
  const { migrateUp } = await import('../../migrate/index.js');
  // An unfinished `db copy` target lacks foreign keys: finish (or restart) the copy, which migrates itself.
  await (await import('../../copy/index.js')).assertNoUnfinishedCopy(config);
  // Who accepts drift (--allow-drift) is recorded: the OS user@host, as lock releases are.
  const acceptedBy = opts.allowDrift ? (await import('../../workflow/index.js')).operatorIdentity() : null;
  const res = await migrateUp(config, {
    to: opts.to,
    dryRun: !!opts.dryRun,
    allowDrift: acceptedBy ? { by: acceptedBy } : undefined,
    lockTimeoutMs: parseLockTimeout(opts.lockTimeout),
    onLockWait: lockWaitNotice(ctx),
    backup: opts.backup === false ? false : preMigrationProgress(ctx),
    onStart: (m) => ctx.out.debug(`applying ${m.version}_${m.name}${m.transaction ? '' : ' (no transaction)'}`),
    onDone: (r) => ctx.out.info(`applied ${r.version}_${r.name} (${formatDuration(r.durationMs)})`),
  });
  for (const d of res.driftAccepted ?? [])
    ctx.out.warn(
      `accepted the changed migration ${d.version}_${d.name} (${d.file}: ${d.recorded.slice(0, 12)}... -> ${d.actual?.slice(0, 12)}...), recorded as accepted by ${acceptedBy}`,
    );
  const backup = opts.backup === false ? { skipped: '--no-backup' } : (res.backup ?? null);
  ctx.out.result({ ...res, backup }, (d, r) => {
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
