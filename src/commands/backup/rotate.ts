import type { Action } from '../context.js';
import { logTo, bytes } from './format.js';

interface Opts {
  dryRun?: boolean;
}

/** `wks backup rotate [--dry-run]`: apply the retention policy. */
const rotate: Action<Opts> = async (ctx, _args, opts) => {
  const config = await ctx.config();
  const { rotateBackups } = await import('../../backup/index.js');
  const r = await rotateBackups(config, {
    dryRun: opts.dryRun,
    log: logTo(ctx.out),
    onLockWait: (o) => ctx.out.info(`waiting for the backup lock held by ${o ? `pid ${o.pid} (${o.command})` : 'another wks'}`),
  });
  ctx.out.result({ ok: true, ...r }, (d, out) => {
    const verb = d.dry_run ? 'would delete' : 'deleted';
    if (!d.deleted.length) out.line(`nothing to delete; ${d.kept.length} backup(s) kept`);
    for (const x of d.deleted) out.line(`${out.c.red(verb)}  ${x.id}  ${x.type}  ${bytes(x.stored_size)}  ${out.c.dim(x.reasons.join('; '))}`);
    if (ctx.out.verbose || d.dry_run) for (const x of d.kept) out.line(`${out.c.green('keep')}  ${x.id}  ${x.type}  ${out.c.dim(x.reasons.join('; '))}`);
    if (d.deleted.length) out.line(`${verb} ${d.deleted.length} backup(s), ${bytes(d.freed_bytes)}; kept ${d.kept.length}`);
  });
};
export default rotate;
