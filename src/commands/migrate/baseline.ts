import type { Action } from '../context.js';
import { lockWaitNotice } from './shared.js';

interface Opts {
  version?: string;
  dryRun?: boolean;
}

/** `wks migrate baseline [--version V] [--dry-run]`. */
const baseline: Action<Opts> = async (ctx, _args, opts) => {
  const config = await ctx.config();
  const { baselineDatabase } = await import('../../migrate/index.js');
  const res = await baselineDatabase(config, {
    version: opts.version,
    dryRun: !!opts.dryRun,
    onLockWait: lockWaitNotice(ctx),
  });
  for (const n of res.notes) ctx.out.info(n);
  ctx.out.result(res, (d, r) => {
    const list = d.marked.map((m) => `${m.version}_${m.name}`).join(', ');
    r.line(
      d.dryRun
        ? `the tables match: would mark ${list} as applied on ${d.database} (dry run, nothing changed)`
        : `${r.c.green('✔')} the tables match: marked ${list} as applied on ${d.database}; run \`wks migrate up\` for the rest`,
    );
  });
};
export default baseline;
