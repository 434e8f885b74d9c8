import type { Action } from '../context.js';
import { OperationError, VerificationError } from '../../errors.js';

interface Opts {
  exitCode?: boolean;
}

/**
 * `wks migrate status [--exit-code]`. Always prints the status, and says when
 * the database is an unfinished `wks db copy` target (foreign keys missing). With
 * --exit-code: exit 3 when an applied file changed or is missing, 1 when a
 * migration is dirty or pending or the copy is unfinished, else 0.
 */
const status: Action<Opts> = async (ctx, _args, opts) => {
  const config = await ctx.config();
  const { migrationStatus } = await import('../../migrate/index.js');
  const { unfinishedCopyOf } = await import('../../copy/index.js');
  const st = { ...(await migrationStatus(config)), unfinishedCopy: await unfinishedCopyOf(config) };
  ctx.out.result(st, (d, r) => {
    r.keyValues([
      ['database', `${d.database}${d.exists ? '' : ' (does not exist yet)'}`],
      ['current', d.current ?? '(none)'],
      // A dirty migration is recorded but not (completely) applied: counted apart, not as applied.
      [
        'applied',
        d.applied.some((x) => x.dirty)
          ? `${d.applied.filter((x) => !x.dirty).length} (+${d.applied.filter((x) => x.dirty).length} DIRTY: failed part-way)`
          : d.applied.length,
      ],
      ['pending', d.pending.length],
    ]);
    const rows = [
      ...d.applied.map((a) => {
        const drift = d.drift.find((x) => x.version === a.version);
        const state = a.dirty
          ? 'DIRTY'
          : drift
            ? drift.kind === 'changed'
              ? 'applied (CHANGED)'
              : 'applied (FILE MISSING)'
            : a.baseline
              ? 'baselined'
              : a.checksum === ''
                ? 'applied by another tool, checksum unknown'
                : 'applied';
        return { version: a.version, name: a.name, source: a.source, state, at: a.appliedAt };
      }),
      ...d.pending.map((p) => ({ version: p.version, name: p.name, source: p.source, state: 'pending', at: null })),
    ];
    r.line();
    r.table(
      rows,
      [
        { header: 'VERSION', value: 'version' },
        { header: 'NAME', value: 'name' },
        { header: 'SOURCE', value: 'source' },
        {
          header: 'STATE',
          value: 'state',
          style: (t, row) =>
            row.state === 'applied' || row.state === 'baselined'
              ? r.c.green(t)
              : row.state === 'pending'
                ? r.c.yellow(t)
                : r.c.red(t),
        },
        { header: 'APPLIED AT', value: 'at' },
      ],
      { empty: 'no migrations' },
    );
    for (const x of d.dirty) r.line(`\n${r.c.red('dirty:')} ${x.recovery}`);
    if (d.unfinishedCopy) r.line(`\n${r.c.red(d.unfinishedCopy.summary)}\n${d.unfinishedCopy.hint}`);
  });
  if (!opts.exitCode) return;
  if (st.drift.length > 0) {
    throw new VerificationError(
      `${st.drift.length} applied migration(s) changed or missing on disk: ${st.drift.map((x) => `${x.version} ${x.kind}`).join(', ')}`,
      {
        hint: 'run `wks migrate validate` for details; restore the original files',
      },
    );
  }
  if (st.dirty.length > 0)
    throw new OperationError(`the database is dirty at ${st.dirty[0]!.version}`, { hint: st.dirty[0]!.recovery });
  if (st.unfinishedCopy) throw new OperationError(st.unfinishedCopy.summary, { hint: st.unfinishedCopy.hint });
  if (st.pending.length > 0) {
    throw new OperationError(
      `${st.pending.length} migration(s) pending: ${st.pending.map((p) => p.version).join(', ')}`,
      { hint: 'run `wks migrate up`' },
    );
  }
};
export default status;
