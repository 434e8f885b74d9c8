import { stringify } from 'yaml';
import type { Action } from '../context.js';
import { configWithSources, redactedConfig } from '../../config/index.js';

const clip = (s: string): string => (s.length > 60 ? `${s.slice(0, 57)}...` : s);

interface Opts {
  sources?: boolean;
}

/** `wks config show [--sources]`: effective config, secrets redacted. */
const show: Action<Opts> = async (ctx, _args, opts) => {
  const loaded = await ctx.loadConfig();
  if (opts.sources) {
    const rows = configWithSources(loaded);
    ctx.out.result({ file: loaded.file, values: rows }, (d, r) => {
      r.line(r.c.dim(`# config file: ${d.file ?? '(none: defaults and environment)'}`));
      r.table(d.values, [
        { header: 'KEY', value: 'key' },
        {
          header: 'VALUE',
          value: (row) => clip(typeof row.value === 'string' ? row.value : JSON.stringify(row.value)),
        },
        { header: 'SOURCE', value: 'origin', style: (t, row) => (row.layer === 'default' ? r.c.dim(t) : r.c.cyan(t)) },
      ]);
    });
    return;
  }
  const config = redactedConfig(loaded.config);
  ctx.out.result({ file: loaded.file, config: { phase4: config } }, (d, r) => {
    r.line(r.c.dim(`# config file: ${d.file ?? '(none: defaults and environment)'}`));
    r.line(stringify(d.config).trimEnd());
  });
};
export default show;
