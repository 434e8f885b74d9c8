import type { Action } from '../context.js';
import { lockWaitNotice, logTo } from './format.js';
import { formatBytes } from '../../util/size.js';
import { OperationError } from '../../errors.js';

interface Opts {
  from?: string;
  dryRun?: boolean;
}

/** `wks backup upload [--from DIR] [--dry-run]`: back-fill the S3 repository with local-only backups. */
const upload: Action<Opts> = async (ctx, _args, opts) => {
  const config = await ctx.config();
  const { uploadBackups } = await import('../../backup/index.js');
  const r = await uploadBackups(config, {
    from: opts.from,
    dryRun: opts.dryRun,
    log: logTo(ctx.out),
    onLockWait: lockWaitNotice(ctx.out),
  });
  for (const s of r.skipped) ctx.out.warn(`${s.id}: not uploaded: ${s.reason}`);
  if (r.skipped.length)
    throw new OperationError(
      `${r.skipped.length} backup(s) were not uploaded (${r.uploaded.length} uploaded, ${r.present.length} already there)`,
      { hint: 'see the warnings above; verify them with `wks backup verify`', details: { ...r } },
    );
  ctx.out.result({ ok: true, ...r }, (d, out) => {
    const bytes = d.uploaded.reduce((a, b) => a + b.stored_size, 0);
    out.line(
      `${d.dry_run ? 'would upload' : 'uploaded'} ${d.uploaded.length} backup(s) (${formatBytes(bytes)}) from ${d.from} to ${d.to}; ${d.present.length} already there`,
    );
  });
};
export default upload;
