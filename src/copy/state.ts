/**
 * Is this PostgreSQL database an unfinished `wks db copy` target? A copy that was interrupted (kill,
 * lost connection, a value that did not fit) leaves its run row short of `verified` and the foreign
 * keys it set aside listed in wks_copy_deferred: such a database lacks constraints of the platform's
 * schema (docs/platform-schema.md) and maybe rows. `migrate status`, `health` and `migrate up` say so
 * loudly through these functions. (Indexes are never missing: each table's are dropped and built
 * again in the table's own transaction.)
 */
import type { Config } from '../config/index.js';
import { openDatabase, type DatabaseAdapter } from '../db/index.js';
import { OperationError } from '../errors.js';
import { DEFERRED_TABLE, PROGRESS_TABLE, RUN_ROW } from './target.js';

export interface UnfinishedCopy {
  /** The run row's status (`in_progress`: running or interrupted; `failed`: verification failed), or null. */
  status: string | null;
  /** The SQLite file the run copies from (the run row's), when recorded. */
  source: string | null;
  /** Foreign keys of the platform's schema missing from the target until the copy finishes. */
  deferredForeignKeys: Array<{ table: string; name: string; references: string }>;
  /** One line for people: what is wrong. */
  summary: string;
  /** The commands that finish the copy, or start it again. */
  hint: string;
}

/** A path as a shell word: as is when it is plain, else single-quoted. */
const shellWord = (s: string) => (/^[\w./@%+=:,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

/** The commands that finish (or restart) the copy of `source` into the configured database. */
export function finishCopyHint(source: string | null): string {
  const from = source ? ` --from ${shellWord(source)}` : '';
  return `finish it: \`wks db copy --resume${from}\` (add the --tables/--on-type-error the copy used), or start again from empty tables: \`wks db copy --truncate${from}\``;
}

/** The unfinished copy this database is the target of, or null (SQLite, never a copy target, or verified). */
export async function unfinishedCopy(db: DatabaseAdapter): Promise<UnfinishedCopy | null> {
  if (db.dialect !== 'postgres') return null;
  const [t] = await db.query<{ p: string | null; d: string | null }>(
    'SELECT to_regclass($1)::text AS p, to_regclass($2)::text AS d',
    [PROGRESS_TABLE, DEFERRED_TABLE],
  );
  if (!t?.p) return null;
  const [run] = await db.query<{ status: string; source: string | null }>(
    `SELECT status, source FROM ${PROGRESS_TABLE} WHERE table_name = $1`,
    [RUN_ROW],
  );
  const fks = t.d
    ? await db.query<{ table: string; name: string; references: string }>(
        `SELECT child AS "table", name, parent AS "references" FROM ${DEFERRED_TABLE} ORDER BY child, name`,
      )
    : [];
  if ((!run || run.status === 'verified') && fks.length === 0) return null;
  const names = fks.map((f) => f.name).join(', ');
  const summary =
    fks.length > 0
      ? `unfinished \`wks db copy\` target: ${fks.length} foreign key(s) deferred (${names})`
      : `unfinished \`wks db copy\` target: the copy is ${run?.status === 'failed' ? 'not verified (verification failed)' : 'running or was interrupted'}`;
  return {
    status: run?.status ?? null,
    source: run?.source ?? null,
    deferredForeignKeys: fks,
    summary,
    hint: finishCopyHint(run?.source ?? null),
  };
}

/** unfinishedCopy() of the configured database (SQLite: null without opening it). */
export async function unfinishedCopyOf(config: Config): Promise<UnfinishedCopy | null> {
  if (config.database.type === 'sqlite') return null;
  const db = await openDatabase(config, { create: false });
  try {
    return await unfinishedCopy(db);
  } finally {
    await db.close();
  }
}

/**
 * `migrate up` refuses an unfinished copy target (OperationError, exit 1): migrations on top of it
 * would change tables whose foreign keys are set aside (the recorded statements may no longer apply)
 * and the data is incomplete anyway. The copy runs `migrate up` itself when it resumes.
 */
export async function assertNoUnfinishedCopy(config: Config): Promise<void> {
  const u = await unfinishedCopyOf(config);
  if (u) throw new OperationError(`${u.summary}; not migrating it`, { hint: u.hint, details: { unfinishedCopy: u } });
}
