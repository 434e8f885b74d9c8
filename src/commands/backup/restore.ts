import type { Action } from '../context.js';
import { UsageError } from '../../errors.js';
import { lockWaitNotice, logTo, progressTo } from './format.js';
import { formatBytes } from '../../util/size.js';
import type { Progress } from '../../ui/index.js';

interface Opts {
  latest?: boolean;
  at?: string;
  to?: string;
  toDatabase?: string;
  deep?: boolean;
  allowUnauthenticated?: boolean;
  force?: boolean;
  dryRun?: boolean;
  allowOtherSource?: boolean;
}

/** `wks backup restore [ID | --latest | --at TIME] [--to PATH]`: confirm, verify, safety backup, replace. */
// long: the flags, the question (the spinner stops for it and starts again after), and the three outputs (dry run, declined, restored).
const restore: Action<Opts> = async (ctx, args, opts) => {
  const id = args[0];
  if ([id !== undefined, !!opts.latest, opts.at !== undefined].filter(Boolean).length !== 1) {
    throw new UsageError('say which backup to restore: an id, --latest or --at TIME', {
      hint: 'list them with `wks backup list`',
    });
  }
  if (opts.to !== undefined && opts.toDatabase !== undefined)
    throw new UsageError('give --to (SQLite file) or --to-database (PostgreSQL), not both');
  const config = await ctx.config();
  if (opts.toDatabase !== undefined && config.database.type === 'sqlite') {
    throw new UsageError('--to-database is for PostgreSQL; the configured database is SQLite', {
      hint: 'use --to PATH to restore into a separate file',
    });
  }
  const { restoreBackup, parseAt } = await import('../../backup/index.js');
  const select = id !== undefined ? { id } : opts.latest ? ({ latest: true } as const) : { at: parseAt(opts.at!) };
  let spin = await ctx.out.progress('restoring');
  // The spinner stops for the question and starts again for the verification and install after it.
  const current: Progress = {
    update: (t) => spin.update(t),
    succeed: (t) => spin.succeed(t),
    fail: (t) => spin.fail(t),
    stop: () => spin.stop(),
  };
  let stopped = false;
  try {
    const r = await restoreBackup(config, {
      select,
      to: opts.to ?? opts.toDatabase,
      force: opts.force,
      allowOtherSource: opts.allowOtherSource,
      deep: opts.deep,
      allowUnauthenticated: opts.allowUnauthenticated,
      log: logTo(ctx.out),
      onProgress: progressTo(current, 'restore'),
      onLockWait: lockWaitNotice(ctx.out, current),
      dryRun: opts.dryRun,
      confirm: async (plan) => {
        spin.stop();
        stopped = true;
        const b = plan.backup;
        ctx.out.info(
          `backup ${b.id} (${b.type}${b.label ? `, ${b.label}` : ''}, ${b.created_at}, ${formatBytes(b.raw_size)}); it is verified before anything is replaced`,
        );
        if (plan.source.other)
          ctx.out.warn(`backup ${b.id} is a backup of another database: ${plan.source.description}`);
        const yes =
          !plan.target.live ||
          (await ctx.out.confirm(
            `Replace ${plan.target.description}${plan.target.exists ? ' (a safety backup is taken first)' : ''} with backup ${b.id}?`,
            { action: `replace ${plan.target.description}` },
          ));
        if (yes) {
          spin = await ctx.out.progress('verifying and restoring');
          stopped = false;
        }
        return yes;
      },
    });
    if (!stopped) spin.stop();
    if (r.cancelled) {
      ctx.out.result({ ok: true, dry_run: !!opts.dryRun, ...r }, (d, out) => {
        out.line(
          d.dry_run
            ? `dry run: backup ${d.backup_id} verified ok; would restore ${d.backup_id} (a backup of ${d.backup_source}${d.other_source ? ', another database' : ''}) to ${d.target}${d.live ? ' (after a safety backup)' : ''}; nothing changed`
            : 'cancelled; nothing changed',
        );
      });
      return;
    }
    ctx.out.success(`restored ${r.backup_id} to ${r.target}`);
    ctx.out.result({ ok: true, dry_run: false, ...r }, (d, out) => {
      out.keyValues([
        ['restored', d.backup_id],
        ['backup of', d.other_source ? `${d.backup_source} (another database)` : d.backup_source],
        ['target', d.target],
        ['copy used', `${d.copy.location}: ${d.copy.path}`],
        ['safety backup', d.safety_backup_id ?? '-'],
        ...(d.quarantine ? [['damaged file kept in', d.quarantine] as [string, string]] : []),
        ['integrity', d.integrity],
        ['schema', d.schema_version ?? '(unmigrated)'],
        ['took', `${d.duration_ms} ms`],
      ]);
      out.line();
      out.line('Next:');
      for (const s of d.next_steps) out.line(`  - ${s}`);
    });
  } catch (err) {
    if (!stopped) spin.stop();
    throw err;
  }
};
export default restore;
