import type { Action } from '../context.js';

/**
 * `wks _backup-ids` (hidden; the completion scripts call it): the catalog's
 * backup ids, newest first, one per line. Reads the manifests only; prints
 * nothing (and exits 0) when the configuration or the directory is unusable,
 * so a completion never shows an error.
 */
const ids: Action = async (ctx) => {
  try {
    const config = await ctx.config();
    const { catalogOf } = await import('../../backup/index.js');
    const { entries } = await catalogOf(config);
    ctx.out.result({ ids: entries.map((e) => e.manifest.id) }, (d, r) => {
      for (const id of d.ids) r.line(id);
    });
  } catch {
    /* nothing to offer */
  }
};
export default ids;
