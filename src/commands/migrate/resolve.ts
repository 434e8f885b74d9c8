import type { Action } from '../context.js';
import { UsageError } from '../../errors.js';
import { lockWaitNotice } from './shared.js';

interface Opts {
  applied?: boolean;
  rolledBack?: boolean;
}

/** `wks migrate resolve <version> --applied|--rolled-back`: clear a dirty migration after fixing it by hand. */
const resolve: Action<Opts> = async (ctx, args, opts) => {
  if (!!opts.applied === !!opts.rolledBack) {
    throw new UsageError('say how you fixed it: --applied or --rolled-back (exactly one)', {
      hint: 'see `wks migrate status` for the recovery steps',
    });
  }
  const config = await ctx.config();
  const { resolveDirty } = await import('../../migrate/index.js');
  const res = await resolveDirty(config, args[0]!, opts.applied ? 'applied' : 'rolled-back', {
    onLockWait: lockWaitNotice(ctx),
  });
  ctx.out.result(res, (d, r) =>
    r.line(
      `${r.c.green('✔')} ${d.version}_${d.name} recorded as ${d.resolution}${d.resolution === 'rolled-back' ? '; `wks migrate up` will run it again' : ''}`,
    ),
  );
};
export default resolve;
