/**
 * `salvageSqlite`: copy what is still readable in a damaged SQLite file (a
 * restore's quarantine copy) into a new database, table by table, so that
 * rows newer than the last backup can be put back. It needs no SQLite build
 * options (the sqlite3 shell's `.recover` needs the sqlite_dbpage table,
 * which Debian's sqlite3 package does not have).
 *
 * Each table is read in rowid order until the first error; the rows read so
 * far are kept and the table is reported as damaged with that error. The
 * result is written to a temporary name, fsynced, chmod 0600 and renamed:
 * a half-written salvage never looks complete.
 */
import { chmodSync, existsSync, renameSync } from 'node:fs';
import path from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import { ConflictError, NotFoundError, OperationError } from '../errors.js';
import { openSqliteHandle, quoteIdent } from '../db/index.js';
import { fsyncDir } from '../util/fs.js';
import { fsyncFile, ownedTempPath, removeQuietly } from './files.js';
import type { LogFn } from './types.js';

export interface SalvagedTable {
  table: string;
  /** Rows copied into the new database. */
  rows: number;
  /** False when reading stopped at an error (the rows before it were kept). */
  complete: boolean;
  error: string | null;
}

export interface SalvageResult {
  source: string;
  target: string;
  tables: SalvagedTable[];
  rows: number;
  /** Indexes and triggers that could not be recreated (e.g. a unique index over salvaged duplicates). */
  skipped: string[];
}

type DB = BetterSqlite3.Database;

/** Copy table `t` row by row until the end or the first error. */
function copyTable(src: DB, dst: DB, t: string): SalvagedTable {
  const cols = (src.prepare(`PRAGMA table_info(${quoteIdent(t)})`).all() as unknown[]).length;
  const ins = dst.prepare(`INSERT INTO ${quoteIdent(t)} VALUES (${Array(cols).fill('?').join(', ')})`);
  let rows = 0;
  try {
    for (const row of src
      .prepare(`SELECT * FROM ${quoteIdent(t)}`)
      .raw()
      .iterate() as Iterable<unknown[]>) {
      ins.run(...row);
      rows++;
    }
    return { table: t, rows, complete: true, error: null };
  } catch (err) {
    return { table: t, rows, complete: false, error: (err as Error).message };
  }
}

/**
 * Salvage `source` into the new file `target`. Throws NotFoundError (5) when
 * the source is missing, ConflictError (4) when the target exists,
 * OperationError (1) when even the schema cannot be read.
 */
export async function salvageSqlite(
  source: string,
  target: string,
  opts: { log?: LogFn } = {},
): Promise<SalvageResult> {
  const from = path.resolve(source);
  const to = path.resolve(target);
  if (!existsSync(from)) throw new NotFoundError(`${from} does not exist`, { hint: 'give the damaged database file' });
  if (existsSync(to))
    throw new ConflictError(`${to} already exists`, { hint: 'choose a new --to path; salvage never overwrites' });
  const src = await openSqliteHandle(from, { readonly: true });
  const tmp = ownedTempPath(path.dirname(to), path.basename(to));
  try {
    let schema: Array<{ type: string; name: string; sql: string }>;
    try {
      schema = src
        .prepare("SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%'")
        .all() as typeof schema;
    } catch (err) {
      throw new OperationError(`cannot read the schema of ${from}: ${(err as Error).message}`, {
        cause: err,
        hint: 'the file is damaged beyond a table-by-table salvage; try `sqlite3 FILE .recover` with a sqlite3 built with SQLITE_ENABLE_DBPAGE_VTAB',
      });
    }
    const dst = await openSqliteHandle(tmp, { fileMustExist: false });
    const tables: SalvagedTable[] = [];
    const skipped: string[] = [];
    try {
      for (const s of schema.filter((x) => x.type === 'table')) dst.exec(s.sql);
      dst.transaction(() => {
        for (const s of schema.filter((x) => x.type === 'table')) {
          const r = copyTable(src, dst, s.name);
          if (!r.complete) opts.log?.('warn', `${s.name}: ${r.rows} rows read before: ${r.error}`);
          tables.push(r);
        }
      })();
      for (const s of schema.filter((x) => x.type !== 'table')) {
        try {
          dst.exec(s.sql);
        } catch (err) {
          skipped.push(`${s.type} ${s.name}: ${(err as Error).message}`);
        }
      }
    } finally {
      dst.close();
    }
    chmodSync(tmp, 0o600);
    fsyncFile(tmp);
    renameSync(tmp, to);
    fsyncDir(path.dirname(to));
    return { source: from, target: to, tables, rows: tables.reduce((n, t) => n + t.rows, 0), skipped };
  } finally {
    src.close();
    for (const f of [tmp, `${tmp}-journal`, `${tmp}-wal`, `${tmp}-shm`]) removeQuietly(f);
  }
}
