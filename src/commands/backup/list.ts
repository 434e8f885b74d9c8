import type { Action } from '../context.js';
import { ago, logTo } from './format.js';
import { formatBytes } from '../../util/size.js';

interface Opts {
  source?: string;
  location?: string;
}

/** `wks backup list [--source S] [--location L]`: the catalog, newest first, with each backup's source (and where it is). */
const list: Action<Opts> = async (ctx, _args, opts) => {
  const config = await ctx.config();
  const { listBackups } = await import('../../backup/index.js');
  const l = await listBackups(config, { log: logTo(ctx.out), source: opts.source, location: opts.location });
  for (const w of l.warnings) ctx.out.warn(w);
  for (const p of l.problems) ctx.out.warn(`backup ${p.id} is BROKEN: ${p.file}: ${p.problem}`);
  ctx.out.result(l, (d, r) => {
    // Broken backups (unusable manifest) are listed as failed rows, newest first with the others.
    type Row = (typeof d.backups)[number] | { broken: (typeof d.problems)[number] };
    const rows: Row[] = [...d.backups, ...d.problems.map((p) => ({ broken: p }))].sort((a, b) => {
      const ida = 'broken' in a ? a.broken.id : a.id;
      const idb = 'broken' in b ? b.broken.id : b.id;
      return ida < idb ? 1 : ida > idb ? -1 : 0;
    });
    const ok = (f: (b: (typeof d.backups)[number]) => string) => (b: Row) => ('broken' in b ? '-' : f(b));
    r.table(
      rows,
      [
        { header: 'ID', value: (b) => ('broken' in b ? b.broken.id : b.id) },
        { header: 'SOURCE', value: ok((b) => (b.own ? b.source : r.c.dim(b.source))) },
        // Where each backup is, when there are two sides (a local copy plus the bucket).
        ...(d.kind === 'local+s3'
          ? [
              {
                header: 'LOCATION',
                value: ok((b) => (b.location === 'local+s3' ? b.location : r.c.yellow(b.location))),
              },
            ]
          : []),
        { header: 'TYPE', value: ok((b) => b.type + (b.label ? ` (${b.label})` : '')) },
        { header: 'AGE', value: ok((b) => ago(b.age_ms)) },
        { header: 'SIZE', value: ok((b) => formatBytes(b.stored_size)), align: 'right' },
        {
          header: 'CODEC',
          value: ok((b) => [b.compression, b.encrypted ? 'aes-256-gcm' : null].filter(Boolean).join('+')),
        },
        { header: 'SCHEMA', value: ok((b) => b.schema_version ?? '-') },
        {
          header: 'VERIFIED',
          value: (b) =>
            'broken' in b
              ? r.c.red(`BROKEN (manifest: ${b.broken.problem})`)
              : !b.data_present
                ? r.c.red('DATA MISSING')
                : !b.verification
                  ? r.c.dim('never')
                  : b.verification.ok
                    ? r.c.green(`ok ${b.verification.at.slice(0, 16)}Z`)
                    : r.c.red(`FAILED (${b.verification.failed})`),
        },
      ],
      {
        empty: `no backups${d.filter ? ` of source "${d.filter}"` : ''}${d.location ? ` with location ${d.location}` : ''} in ${d.directory}`,
      },
    );
    if (d.backups.some((b) => !b.own)) r.line(r.c.dim(`this database is ${d.configured_source}`));
  });
};
export default list;
