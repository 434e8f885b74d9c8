import type { Action } from '../context.js';
import { OperationError, VerificationError } from '../../errors.js';

/**
 * `wks migrate validate`: exit 3 when an applied migration's file changed
 * (after normalising line endings and trailing whitespace) or is missing,
 * 1 when a file does not parse or the database is dirty, else 0.
 */
const validate: Action = async (ctx) => {
  const config = await ctx.config();
  const { validateMigrations } = await import('../../migrate/index.js');
  const v = await validateMigrations(config);
  ctx.out.result(v, (d, r) => {
    for (const x of d.drift) {
      r.line(
        x.kind === 'changed'
          ? `${r.c.red('✖')} ${x.version}_${x.name}: ${x.file} changed since it was applied (recorded ${x.recorded.slice(0, 12)}, now ${x.actual?.slice(0, 12)})`
          : `${r.c.red('✖')} ${x.version}_${x.name}: applied, but its file is missing`,
      );
    }
    for (const x of d.invalid) r.line(`${r.c.red('✖')} ${x.message}`);
    for (const x of d.dirty) r.line(`${r.c.red('✖')} dirty: ${x.recovery}`);
    if (d.ok) r.line(`${r.c.green('✔')} ${d.checked} applied migration(s) match their files`);
  });
  if (v.drift.length > 0) {
    throw new VerificationError(`${v.drift.length} applied migration(s) do not match their files`, {
      hint: 'an applied migration must not be edited: restore the file (git checkout), and put the change in a new migration (`wks migrate new`)',
      details: { drift: v.drift },
    });
  }
  if (v.invalid.length > 0)
    throw new OperationError(`${v.invalid.length} migration file(s) cannot be parsed`, {
      hint: 'fix them: dbmate format, -- migrate:up / -- migrate:down',
    });
  if (v.dirty.length > 0)
    throw new OperationError(`the database is dirty at ${v.dirty[0]!.version}`, { hint: v.dirty[0]!.recovery });
};
export default validate;
