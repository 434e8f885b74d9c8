import type { Action } from '../context.js';
import { writeConfigTemplate } from '../../config/index.js';

interface Opts {
  path: string;
  force?: boolean;
}

/** `wks init [--path FILE] [--force]` */
const init: Action<Opts> = async (ctx, _args, opts) => {
  const res = writeConfigTemplate(opts.path, { force: opts.force });
  ctx.out.result(res, (d, r) => {
    r.success(`wrote ${d.path}${d.backup ? ` (previous file kept as ${d.backup})` : ''}`);
    r.info('Next: edit it, then run `wks config validate` and `wks migrate up`.');
  });
};
export default init;
