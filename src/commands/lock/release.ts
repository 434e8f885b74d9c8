import type { Action } from '../context.js';
import { UsageError } from '../../errors.js';
import { releaseLock } from '../../workflow/index.js';
import { ttl } from '../workflow/format.js';

interface Opts {
  worker?: string;
  force?: boolean;
  reason?: string;
  dryRun?: boolean;
}

/** `wks lock release <executionId> [--worker ID] [--force --reason TEXT] [--dry-run]`. */
const release: Action<Opts> = async (ctx, args, opts) => {
  if (opts.force && !opts.reason?.trim()) {
    throw new UsageError('--force requires --reason', {
      hint: 'say why, e.g. --force --reason "worker-3 died, INC-1234"',
    });
  }
  if (opts.force && opts.worker !== undefined) {
    throw new UsageError('--force and --worker contradict each other', {
      hint: 'use --worker ID to release only that holder, or --force --reason "..." to release whoever holds it',
    });
  }
  const config = await ctx.config();
  const id = args[0]!;
  const res = await releaseLock(config, id, {
    worker: opts.worker,
    force: !!opts.force,
    reason: opts.reason,
    dryRun: !!opts.dryRun,
    // A person who reads the holder at the prompt and says yes has named it; -y alone has not.
    confirmShowsHolder: ctx.out.asksPerson,
    confirm: (p) =>
      ctx.out.confirm(
        `${p.force ? 'FORCE-release' : 'Release'} the lock on execution ${p.executionId} held by ${p.holder} (TTL ${ttl(p.ttlMs)}, execution ${p.status ?? 'status unknown'})${p.force ? ` because "${p.reason}"` : ''}?`,
        { action: 'release the lock' },
      ),
  });
  if (!res.audit.recorded && res.outcome !== 'dry-run' && res.outcome !== 'declined')
    ctx.out.warn(`release not audited: ${res.audit.reason}`);
  ctx.out.result(res, (d, r) => {
    const p = d.plan;
    if (d.outcome === 'dry-run') {
      r.line(
        `dry run: would ${p.force ? 'force-' : ''}release ${p.key} held by ${p.holder} (TTL ${ttl(p.ttlMs)}${p.proof ? `; ${p.proof}` : ''}); nothing changed`,
      );
      return;
    }
    if (d.outcome === 'declined') {
      r.line('declined: the lock was left in place');
      return;
    }
    if (d.outcome === 'expired') r.line(`the lock expired before it was released (was held by ${p.holder})`);
    else
      r.success(
        `released the lock on execution ${p.executionId} (was held by ${p.holder})${p.force ? ' [forced]' : ''}`,
      );
    if (d.trackingRowsCleared) r.line(r.c.dim("cleared the tracking row's lock columns"));
  });
};
export default release;
