import type { Action } from '../context.js';
import { ago, logTo } from './format.js';
import { formatBytes } from '../../util/size.js';

/** `wks backup list`: the catalog, newest first. */
const list: Action = async (ctx) => {
  const config = await ctx.config();
  const { listBackups } = await import('../../backup/index.js');
  const l = await listBackups(config, { log: logTo(ctx.out) });
  for (const p of l.problems) ctx.out.warn(`${p.file}: ${p.problem}`);
  ctx.out.result(l, (d, r) => {
    r.table(
      d.backups,
      [
        { header: 'ID', value: 'id' },
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
      { empty: `no backups in ${d.directory}` },
    );
  });
};
export default list;
