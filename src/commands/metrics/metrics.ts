import type { Action } from '../context.js';

interface Opts {
  textfile?: string;
}

/** `wks metrics [--textfile PATH]`: one scrape to stdout or to an atomically written file. */
const metrics: Action<Opts> = async (ctx, _args, opts) => {
  const config = await ctx.config();
  const { scrapeOnce } = await import('../../metrics/index.js');
  const r = await scrapeOnce(config, { textfile: opts.textfile });
  if (ctx.out.json) {
    ctx.out.result({ file: r.file, families: r.families, ...(r.file ? {} : { text: r.text }) });
    return;
  }
  if (r.file) {
    ctx.out.success(`wrote ${r.families} metric families to ${r.file}`);
    return;
  }
  // Through the reporter like all output (redacted); the exposition already ends with a newline.
  ctx.out.line(r.text.replace(/\n$/, ''));
};
export default metrics;
