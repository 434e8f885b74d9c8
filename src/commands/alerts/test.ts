import type { Action } from '../context.js';

interface Opts {
  channel: 'slack' | 'email' | 'pagerduty';
}

/** `wks alerts test --channel X`: send a test notification through one channel (with retries). */
const test: Action<Opts> = async (ctx, _args, opts) => {
  const config = await ctx.config();
  const { requireChannel, sendToChannel, testEvent } = await import('../../alerts/notify.js');
  requireChannel(config, opts.channel);
  const now = new Date();
  const p = await ctx.out.progress(`sending a test notification to ${opts.channel}`);
  try {
    const fired = testEvent('firing', now);
    let attempts = await sendToChannel(config, opts.channel, fired);
    if (opts.channel === 'pagerduty') attempts += await sendToChannel(config, opts.channel, { ...testEvent('resolved', now), dedupKey: fired.dedupKey });
    p.stop();
    ctx.out.result({ channel: opts.channel, sent: true, attempts, dedupKey: fired.dedupKey }, (d, r) =>
      r.line(`${r.c.green('✓')} test notification sent to ${d.channel}${d.channel === 'pagerduty' ? ' (trigger + resolve)' : ''}`),
    );
  } catch (err) {
    p.fail(`${opts.channel} test failed`);
    throw err;
  }
};
export default test;
