import type { Action } from '../context.js';

interface Opts {
  channel: 'slack' | 'email' | 'pagerduty';
}

/** `wks alerts test --channel X`: send a test notification through one channel (with retries). */
const test: Action<Opts> = async (ctx, _args, opts) => {
  const config = await ctx.config();
  const { requireChannel, sendTestNotification } = await import('../../alerts/index.js');
  // A channel that is not configured is a config error before any spinner starts.
  requireChannel(config, opts.channel);
  const p = await ctx.out.progress(`sending a test notification to ${opts.channel}`);
  try {
    const res = await sendTestNotification(config, opts.channel);
    p.stop();
    ctx.out.result(res, (d, r) =>
      r.line(
        `${r.c.green('✓')} test notification sent to ${d.channel}${d.channel === 'pagerduty' ? ' (trigger + resolve)' : ''}`,
      ),
    );
  } catch (err) {
    p.fail(`${opts.channel} test failed`);
    throw err;
  }
};
export default test;
