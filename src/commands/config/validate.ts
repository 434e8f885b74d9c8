import type { Action } from '../context.js';

/** `wks config validate`: exit 0 when valid; otherwise the loader's ConfigError (exit 78) lists every problem. */
const validate: Action = async (ctx) => {
  const loaded = await ctx.loadConfig();
  const { configAdvice } = await import('../../config/index.js');
  // Values that are valid on their own but contradict each other (schedule vs RPO): warnings, exit 0.
  const advice = configAdvice(loaded.config);
  for (const w of advice) ctx.out.warn(w);
  ctx.out.result({ valid: true, file: loaded.file, warnings: [...loaded.warnings, ...advice] }, (d, r) => {
    r.line(`${r.c.green('✔')} configuration is valid (${d.file ?? 'defaults and environment; no config file'})`);
  });
};
export default validate;
