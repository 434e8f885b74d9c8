import type { Action } from '../context.js';

/** `wks config validate`: exit 0 when valid; otherwise the loader's ConfigError (exit 78) lists every problem. */
const validate: Action = async (ctx) => {
  const loaded = await ctx.loadConfig();
  ctx.out.result({ valid: true, file: loaded.file, warnings: loaded.warnings }, (d, r) => {
    r.line(`${r.c.green('✔')} configuration is valid (${d.file ?? 'defaults and environment; no config file'})`);
  });
};
export default validate;
