import type { Action } from '../context.js';
import { revokeSession } from '../../redis/index.js';
import { when } from '../workflow/format.js';

/** `wks session revoke <userId> [--dry-run]`: confirm, or --yes. */
const revoke: Action<{ dryRun?: boolean }> = async (ctx, args, opts) => {
  const config = await ctx.config();
  const userId = args[0]!;
  const res = await revokeSession(config, userId, {
    dryRun: !!opts.dryRun,
    confirm: (s) =>
      ctx.out.confirm(`Revoke the session of user ${s.userId} (last active ${when(s.lastActivity)})?`, {
        action: 'revoke the session',
      }),
  });
  ctx.out.result({ ...res, dryRun: !!opts.dryRun }, (d, r) => {
    if (d.dryRun) r.line(`dry run: would revoke the session of user ${d.userId}; nothing changed`);
    else if (d.revoked) r.success(`revoked the session of user ${d.userId}`);
    else r.line('nothing changed');
  });
};
export default revoke;
