import type { Action } from '../context.js';
import { logTo } from '../backup/format.js';

interface Opts {
  to: string;
}

/** `wks db salvage FILE --to NEW`: copy what is still readable in a damaged SQLite file into a new database. */
const salvage: Action<Opts> = async (ctx, args, opts) => {
  const { salvageSqlite } = await import('../../backup/index.js');
  const r = await salvageSqlite(args[0]!, opts.to, { log: logTo(ctx.out) });
  ctx.out.result({ ok: true, ...r }, (d, out) => {
    out.table(d.tables, [
      { header: 'TABLE', value: 'table' },
      { header: 'ROWS', value: (t) => String(t.rows), align: 'right' },
      { header: 'STATE', value: (t) => (t.complete ? out.c.green('complete') : out.c.red(`DAMAGED: ${t.error}`)) },
    ]);
    for (const s of d.skipped) out.line(out.c.dim(`not recreated: ${s}`));
    out.line(`salvaged ${d.rows} rows into ${d.target}`);
  });
};
export default salvage;
