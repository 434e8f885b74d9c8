import type { Action } from '../context.js';
import { lockWaitNotice, logTo } from './format.js';
import { formatBytes } from '../../util/size.js';

interface Opts {
  dryRun?: boolean;
  allSources?: boolean;
  includeUnauthenticated?: boolean;
}

/**
 * `wks backup rotate [--dry-run]`: apply the retention policy. Destructive:
 * when something would be deleted it asks on a TTY and needs --yes otherwise
 * (nothing to delete never asks, so an idle cron run stays quiet).
 */
const rotate: Action<Opts> = async (ctx, _args, opts) => {
  const config = await ctx.config();
  // A dry run is not a run cron watches: nothing is pushed for it.
  const run = opts.dryRun ? null : ctx.reportRun('backup_rotate');
  const { rotateBackups } = await import('../../backup/index.js');
  const now = new Date();
  const log = logTo(ctx.out);
  const scope = { allSources: opts.allSources, includeUnauthenticated: opts.includeUnauthenticated };
  let r = await rotateBackups(config, { dryRun: true, now, log, ...scope });
  let cancelled = false;
  if (!opts.dryRun && r.deleted.length > 0) {
    const ok = await ctx.out.confirm(
      `Delete ${r.deleted.length} backup(s) (${formatBytes(r.freed_bytes)}) outside the retention policy${unauthNote(r.deleted)}?`,
      { action: `delete ${r.deleted.length} backup(s)` },
    );
    if (ok) {
      r = await rotateBackups(config, {
        now,
        log,
        ...scope,
        onLockWait: lockWaitNotice(ctx.out),
      });
    } else cancelled = true;
  }
  if (run) run.bytes = r.dry_run ? 0 : r.freed_bytes;
  ctx.out.result({ ok: true, cancelled, ...r }, (d, out) => {
    if (d.cancelled) {
      out.line('cancelled; nothing deleted');
      return;
    }
    const verb = d.dry_run ? 'would delete' : 'deleted';
    if (!d.deleted.length) out.line(`nothing to delete; ${d.kept.length} backup(s) kept`);
    // local+s3 rotates each side on its own: say which side each line is about.
    const src = (x: { source: string; location: string }) =>
      `${d.local_policy ? `  ${x.location}` : ''}${d.sources.length > 1 ? `  ${x.source}` : ''}`;
    for (const x of d.deleted)
      out.line(
        `${out.c.red(verb)}  ${x.id}${src(x)}  ${x.type}  ${formatBytes(x.stored_size)}  ${out.c.dim(x.reasons.join('; '))}`,
      );
    if (ctx.out.verbose || d.dry_run)
      for (const x of d.kept)
        out.line(`${out.c.green('keep')}  ${x.id}${src(x)}  ${x.type}  ${out.c.dim(x.reasons.join('; '))}`);
    if (d.deleted.length)
      out.line(`${verb} ${d.deleted.length} backup(s), ${formatBytes(d.freed_bytes)}; kept ${d.kept.length}`);
    for (const b of d.broken)
      out.line(
        `${out.c.red('BROKEN')}  ${b.id}${d.local_policy ? `  ${b.location}` : ''}  ${out.c.dim(`${b.problem}; not counted as kept, not deleted`)}`,
      );
  });
};
/** ", N of them unauthenticated" when --include-unauthenticated selected some, so the prompt says so. */
function unauthNote(deleted: Array<{ reasons: string[] }>): string {
  const n = deleted.filter((d) => d.reasons[0] === 'unauthenticated').length;
  return n ? `, ${n} of them unauthenticated (not made, or not provably made, by this key)` : '';
}
export default rotate;
