/** Small helpers shared by the data checks. */
import type { DatabaseAdapter } from '../../db/index.js';
import { SkipCheck } from '../runner.js';
import type { CheckContext, CheckOutcome } from '../types.js';

/**
 * The run's database, or SkipCheck (reported `unknown: skipped: database
 * unavailable: ...`) when it cannot be opened: the `database` check reports the
 * cause itself, dependants should not repeat it as their own failure.
 */
export async function needDb(ctx: CheckContext): Promise<DatabaseAdapter> {
  try {
    return await ctx.resources.db();
  } catch (err) {
    throw new SkipCheck(`database unavailable: ${(err as Error).message}`);
  }
}

/** True when `err` says a table does not exist (SQLite and PostgreSQL wording). */
export function isMissingTable(err: unknown): boolean {
  const e = err as { message?: string; code?: string; cause?: { code?: string; message?: string } };
  const text = `${e?.message ?? ''} ${e?.cause?.message ?? ''}`;
  return e?.code === '42P01' || e?.cause?.code === '42P01' || /no such table|relation .* does not exist/i.test(text);
}

/** The outcome for a schema that lacks `table` (not migrated yet). */
export function missingTable(table: string): CheckOutcome {
  return {
    status: 'warn',
    detail: `table ${table} does not exist (schema not migrated)`,
    hint: 'run `wks migrate status`, then `wks migrate up`',
  };
}

/** `n thing` / `n things`. */
export function plural(n: number, word: string, pluralWord = `${word}s`): string {
  return `${n} ${n === 1 ? word : pluralWord}`;
}
