import type { Action } from '../context.js';
import { listSessions } from '../../redis/index.js';
import { ttl, when } from '../workflow/format.js';

/** `wks session list [--user ID]`. */
const list: Action<{ user?: string }> = async (ctx, _args, opts) => {
  const config = await ctx.config();
  const res = await listSessions(config, { user: opts.user });
  ctx.out.result(res, (d, r) => {
    r.table(
      d.sessions,
      [
        { header: 'USER', value: 'userId' },
        { header: 'TOKEN', value: (s) => (s.tokenFingerprint ? `sha256:${s.tokenFingerprint}` : '-') },
        { header: 'LAST ACTIVITY', value: (s) => when(s.lastActivity) },
        { header: 'EXPIRES', value: (s) => when(s.expiresAt) },
        { header: 'TTL', value: (s) => ttl(s.ttlMs), align: 'right' },
      ],
      { empty: opts.user ? `no session for user ${opts.user}` : `no sessions in namespace ${d.namespace}` },
    );
    if (d.truncated) r.warn('the scan stopped at its cap: more sessions exist than are listed');
  });
};
export default list;
