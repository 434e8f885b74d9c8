/**
 * Errors raised by the database layer. A failed statement becomes a
 * DatabaseError (exit 1) that keeps the database's own message and code
 * (SQLITE_CONSTRAINT_FOREIGNKEY, PostgreSQL SQLSTATE 23503, ...), so callers
 * can branch on `dbCode` and operators see what the database said.
 */
import { OperationError, type WksErrorOptions } from '../errors.js';
import { redactText } from '../redact.js';

export class DatabaseError extends OperationError {
  /** The driver's error code: SQLite extended code name or PostgreSQL SQLSTATE. */
  readonly dbCode?: string;
  /** PostgreSQL: 1-based character offset of the error in the statement, when the server reports one. */
  readonly position?: number;
  constructor(message: string, opts: WksErrorOptions & { dbCode?: string; position?: number } = {}) {
    super(redactText(message), opts);
    this.dbCode = opts.dbCode;
    this.position = opts.position;
  }
}

/** Wrap a driver error (better-sqlite3 SqliteError or pg DatabaseError) into a DatabaseError. */
export function wrapDbError(err: unknown, target: string): DatabaseError {
  if (err instanceof DatabaseError) return err;
  const e = err as { message?: string; code?: string; position?: string | number };
  const position = e.position !== undefined ? Number(e.position) : undefined;
  return new DatabaseError(`${e.message ?? String(err)}`, {
    cause: err,
    dbCode: typeof e.code === 'string' ? e.code : undefined,
    position: Number.isFinite(position) ? position : undefined,
    details: { database: target, dbCode: e.code ?? null },
  });
}
