import type { Action } from '../context.js';
import { UsageError } from '../../errors.js';
import { releaseExecution, type ExecutionReleasePlan } from '../../workflow/index.js';
import { dur, ttl } from './format.js';
import { durationFlag } from '../flags.js';

interface Opts {
  olderThan?: string;
  force?: boolean;
  reason?: string;
  dryRun?: boolean;
}

/** What will change, in one sentence (the prompt and the dry run). */
function describe(p: ExecutionReleasePlan): string {
  const parts: string[] = [];
  if (p.markFailed) parts.push('mark it failed (as `workflow reap` does)');
  if (p.active) parts.push(`remove it from ${p.activeKey}`);
  if (p.lock)
    parts.push(
      `${p.force && p.failedCheck ? 'force-' : ''}release its lock held by ${p.lock.holder} (TTL ${ttl(p.lock.ttlMs)})`,
    );
  return parts.join(', ') || 'nothing';
}

/** `wks workflow release <executionId> [--older-than DUR] [--force --reason TEXT] [--dry-run]`. */
const release: Action<Opts> = async (ctx, args, opts) => {
  if (opts.force && !opts.reason?.trim())
    throw new UsageError('--force requires --reason', {
      hint: 'say why, e.g. --force --reason "worker-3 died, INC-1234"',
    });
  const config = await ctx.config();
  const id = args[0]!;
  const res = await releaseExecution(config, id, {
    olderThanMs: durationFlag(opts.olderThan, '--older-than'),
    force: !!opts.force,
    reason: opts.reason,
    dryRun: !!opts.dryRun,
    confirm: (p) => {
      if (p.failedCheck) ctx.out.warn(`overriding a check: ${p.failedCheck}`);
      return ctx.out.confirm(
        `Execution ${p.executionId} (${p.status ?? 'no database row'}, ${p.proof ?? `forced: "${p.reason}"`}): ${describe(p)}?`,
        { action: 'release the execution' },
      );
    },
  });
  for (const w of res.auditWarnings) ctx.out.warn(w);
  ctx.out.result(res, (d, r) => {
    const p = d.plan;
    const why = p.proof ?? `FORCED ("${p.reason}") although ${p.failedCheck}`;
    if (d.outcome === 'dry-run') {
      r.line(`dry run: execution ${p.executionId} (${why}): would ${describe(p)}; nothing changed`);
      return;
    }
    if (d.outcome === 'declined') {
      r.line('declined: nothing changed');
      return;
    }
    if (d.outcome === 'skipped') {
      r.line(`execution ${p.executionId} is no longer running (a worker finished it meanwhile): left alone`);
      return;
    }
    r.keyValues([
      ['execution', `${p.executionId}${p.workflowName ? ` (${p.workflowName})` : ''}`],
      ['why', why],
      ['database', d.markedFailed ? 'marked failed' : `unchanged (${p.status ?? 'no row'})`],
      ['active set', d.removedFromActive ? 'removed' : 'not a member'],
      [
        'lock',
        d.lock === 'kept'
          ? `kept: now held by ${d.lockHolder} (a new owner)`
          : d.lock === 'released'
            ? `released (was held by ${d.lockHolder})`
            : 'none',
      ],
      ['age', dur(p.ageMs)],
    ]);
    r.success(`released execution ${p.executionId}${p.force && p.failedCheck ? ' [forced]' : ''}`);
  });
};
export default release;
