import type { Action } from '../context.js';
import { ago } from './format.js';
import { formatBytes } from '../../util/size.js';

interface Opts {
  source?: string;
}

/** `wks backup list [--source S]`: the catalog, newest first, with each backup's source. */
const list: Action<Opts> = async (ctx, _args, opts) => {
  const config = await ctx.config();
  const { listBackups } = await import('../../backup/index.js');
  const l = await listBackups(config, { source: opts.source });
  for (const p of l.problems) ctx.out.warn(`${p.file}: ${p.problem}`);
  ctx.out.result(l, (d, r) => {
    r.table(
      d.backups,
      [
        { header: 'ID', value: 'id' },
        { header: 'SOURCE', value: (b) => (b.own ? b.source : r.c.dim(b.source)) },
        { header: 'TYPE', value: (b) => b.type + (b.label ? ` (${b.label})` : '') },
        { header: 'AGE', value: (b) => ago(b.age_ms) },
        { header: 'SIZE', value: (b) => formatBytes(b.stored_size), align: 'right' },
        {
          header: 'CODEC',
          value: (b) => [b.compression, b.encrypted ? 'aes-256-gcm' : null].filter(Boolean).join('+'),
        },
        { header: 'SCHEMA', value: (b) => b.schema_version ?? '-' },
        {
          header: 'VERIFIED',
          value: (b) =>
            !b.data_present
              ? r.c.red('DATA MISSING')
              : !b.verification
                ? r.c.dim('never')
                : b.verification.ok
                  ? r.c.green(`ok ${b.verification.at.slice(0, 16)}Z`)
                  : r.c.red(`FAILED (${b.verification.failed})`),
        },
      ],
      { empty: d.filter ? `no backups of source "${d.filter}" in ${d.directory}` : `no backups in ${d.directory}` },
    );
    if (d.backups.some((b) => !b.own)) r.line(r.c.dim(`this database is ${d.configured_source}`));
  });
};
export default list;
