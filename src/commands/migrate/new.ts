import path from 'node:path';
import type { Action } from '../context.js';

interface Opts {
  dir?: string;
}

/**
 * `wks migrate new <name> [--dir PATH]`: create an empty dbmate-format migration.
 * Reads only database.migrations.directory: no database, and other settings may be invalid.
 */
const create: Action<Opts> = async (ctx, args, opts) => {
  const configured = await ctx.setting<string | null>('database.migrations.directory');
  const { newMigration } = await import('../../migrate/index.js');
  const dir = configured ? path.resolve(ctx.cwd, configured) : null;
  const res = newMigration(dir, args[0] ?? '', { directory: opts.dir });
  if (res.unconfigured)
    ctx.out.warn(
      `${res.file} is outside database.migrations.directory: \`wks migrate up\` will not apply it until that directory is configured`,
    );
  ctx.out.result(res, (d, r) => r.line(`${r.c.green('✔')} created ${d.file}`));
};
export default create;
