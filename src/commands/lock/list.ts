import type { Action } from '../context.js';
import { redactDeep, redactText } from '../../redact.js';
import { listLocks, streamLocks, type LockView } from '../../workflow/locks.js';
import { dur, durationFlag, ttl } from '../workflow/format.js';

interface Opts {
  olderThan?: string;
}

/**
 * Write to stdout honouring back-pressure. With --json the lock list is
 * streamed (one SCAN batch at a time) instead of being built as one giant
 * string: memory stays flat at 100k+ locks. The document is still exactly
 * one JSON object: `{ "locks": [...], "count", "namespace", ... }`.
 */
let stdoutClosed = false;
function write(text: string): Promise<void> | void {
  if (stdoutClosed) return;
  if (!process.stdout.write(text)) {
    return new Promise((resolve) => {
      process.stdout.once('drain', () => resolve());
      process.stdout.once('close', () => resolve());
    });
  }
}

/** `wks lock list --json | head`: a closed pipe ends the output quietly (like any Unix filter), not with an EPIPE crash. */
function watchStdout(): void {
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    stdoutClosed = true;
    process.stdout.emit('close');
  });
}

/** `wks lock list [--older-than DUR]`. */
const list: Action<Opts> = async (ctx, _args, opts) => {
  const config = await ctx.config();
  const olderThanMs = durationFlag(opts.olderThan, '--older-than');
  if (ctx.out.json) {
    watchStdout();
    let first = true;
    let opened = false;
    const summary = await streamLocks(config, { olderThanMs }, async (batch: LockView[]) => {
      let chunk = opened ? '' : '{\n  "locks": [';
      opened = true;
      for (const l of batch) {
        // holder and key are the only free text (they come from Redis); the
        // rest are numbers, dates and the id parsed from the key. Redacting
        // them one by one is ~30x less text than redacting the JSON.
        l.holder = l.holder === null ? null : redactText(l.holder);
        l.key = redactText(l.key);
        l.executionId = redactText(l.executionId);
        chunk += `${first ? '\n    ' : ',\n    '}${JSON.stringify(l)}`;
        first = false;
      }
      await write(chunk);
    });
    const tail = JSON.stringify(redactDeep(summary), null, 2).slice(1).replace(/^\n/, '');
    await write(`${opened ? '' : '{\n  "locks": ['}${first ? '' : '\n  '}],\n${tail}\n`);
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
        { header: 'TTL LEFT', value: (l) => ttl(l.ttlMs), align: 'right', style: (t, l) => (l.ttlMs === null ? r.c.red(t) : t) },
        { header: 'AGE', value: (l) => dur(l.ageMs), align: 'right' },
        { header: 'STATUS', value: (l) => l.status ?? (d.database.included ? 'no row' : '-'), style: (t, l) => (l.status === 'completed' || l.status === 'failed' || t === 'no row' ? r.c.yellow(t) : t) },
        { header: 'TRACKING WORKER', value: (l) => (l.trackingWorker && l.trackingWorker !== l.holder ? r.c.yellow(l.trackingWorker) : (l.trackingWorker ?? '-')) },
      ],
      { empty: `no execution locks in namespace ${d.namespace}` },
    );
    if (d.locks.length) r.line(r.c.dim(`${d.count} lock(s) in namespace ${d.namespace}`));
    if (d.unknownAge) r.line(r.c.dim(`${d.unknownAge} lock(s) of unknown age (no tracking row) not shown by --older-than`));
    if (d.truncated) r.warn('the scan stopped at its cap: more locks exist than are listed');
  });
};
export default list;
