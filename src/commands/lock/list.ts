import type { Action } from '../context.js';
import { redactText } from '../../redact.js';
import { listLocks, streamLocks, type LockView } from '../../workflow/index.js';
import { dur, ttl } from '../workflow/format.js';
import { durationFlag } from '../flags.js';

interface Opts {
  olderThan?: string;
}

/** `wks lock list [--older-than DUR]`. */
const list: Action<Opts> = async (ctx, _args, opts) => {
  const config = await ctx.config();
  const olderThanMs = durationFlag(opts.olderThan, '--older-than');
  if (ctx.out.json) {
    // Streamed one SCAN batch at a time: memory stays flat at 100k+ locks.
    // holder, key and the id parsed from the key are the only free text (they
    // come from Redis); the rest are numbers and dates. Redacting them one by
    // one is ~30x less text than redacting the JSON.
    const stream = ctx.out.resultStream<LockView>('locks', {
      item: (l) => ({
        ...l,
        holder: l.holder === null ? null : redactText(l.holder),
        key: redactText(l.key),
        executionId: redactText(l.executionId),
      }),
    });
    const summary = await streamLocks(config, { olderThanMs }, (batch) => stream.write(batch));
    await stream.end(summary);
    if (!summary.database.included) ctx.out.warn(`ages and statuses are not included: ${summary.database.reason}`);
    return;
  }
  const res = await listLocks(config, { olderThanMs });
  if (!res.database.included) ctx.out.warn(`ages and statuses are not included: ${res.database.reason}`);
  res.locks.sort((a, b) => (b.ageMs ?? -1) - (a.ageMs ?? -1) || (a.ttlMs ?? Infinity) - (b.ttlMs ?? Infinity));
  ctx.out.result(res, (d, r) => {
    r.table(
      d.locks,
      [
        { header: 'EXECUTION', value: 'executionId', align: 'right' },
        { header: 'WORKER', value: 'holder' },
        {
          header: 'TTL LEFT',
          value: (l) => ttl(l.ttlMs),
          align: 'right',
          style: (t, l) => (l.ttlMs === null ? r.c.red(t) : t),
        },
        { header: 'AGE', value: (l) => dur(l.ageMs), align: 'right' },
        {
          header: 'STATUS',
          value: (l) => l.status ?? (d.database.included ? 'no row' : '-'),
          style: (t, l) => (l.status === 'completed' || l.status === 'failed' || t === 'no row' ? r.c.yellow(t) : t),
        },
        {
          header: 'TRACKING WORKER',
          value: (l) =>
            l.trackingWorker && l.trackingWorker !== l.holder
              ? r.c.yellow(l.trackingWorker)
              : (l.trackingWorker ?? '-'),
        },
      ],
      { empty: `no execution locks in namespace ${d.namespace}` },
    );
    if (d.locks.length) r.line(r.c.dim(`${d.count} lock(s) in namespace ${d.namespace}`));
    if (d.unknownAge)
      r.line(r.c.dim(`${d.unknownAge} lock(s) of unknown age (no tracking row) not shown by --older-than`));
    if (d.truncated) r.warn('the scan stopped at its cap: more locks exist than are listed');
  });
};
export default list;
