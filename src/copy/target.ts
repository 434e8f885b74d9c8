/**
 * The PostgreSQL side of `wks db copy`: schema introspection (column types,
 * nullability, foreign keys, identity sequences), the wks_copy_progress
 * bookkeeping table, and the read-back checksum.
 *
 * All functions take a raw pg client that the caller owns (one session:
 * the run's advisory lock and session settings live on it).
 */
import type pg from 'pg';
import { TableChecksum } from './checksum.js';
import { canonicalFromTarget, kindOf, type ColumnKind } from './convert.js';
import { quoteIdent } from '../db/index.js';
import { OperationError } from '../errors.js';

export const PROGRESS_TABLE = 'wks_copy_progress';
/** The progress row that stands for the whole run (not a table name). */
export const RUN_ROW = '(run)';
/** pg_advisory_lock key for copy runs: the bytes of "wkscopy". */
export const COPY_LOCK_KEY = '33613665562226809';

export interface TargetColumn {
  name: string;
  dataType: string;
  kind: ColumnKind;
  notNull: boolean;
}

export interface TargetTable {
  name: string;
  columns: TargetColumn[];
  /** Tables this one references (foreign keys), excluding itself. */
  references: string[];
  /** Columns backed by a sequence (identity or serial): column -> sequence name. */
  sequences: Array<{ column: string; sequence: string }>;
}

/** Describe every table in the current schema. */
export async function inspectTarget(client: pg.ClientBase): Promise<Map<string, TargetTable>> {
  const cols = await client.query<{
    table_name: string;
    column_name: string;
    data_type: string;
    udt_name: string;
    is_nullable: string;
    seq: string | null;
  }>(
    `SELECT c.table_name, c.column_name, c.data_type, c.udt_name, c.is_nullable,
            pg_get_serial_sequence(quote_ident(c.table_name), c.column_name) AS seq
       FROM information_schema.columns c
       JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name AND t.table_type = 'BASE TABLE'
      WHERE c.table_schema = current_schema()
      ORDER BY c.table_name, c.ordinal_position`,
  );
  const tables = new Map<string, TargetTable>();
  for (const r of cols.rows) {
    let t = tables.get(r.table_name);
    if (!t) {
      t = { name: r.table_name, columns: [], references: [], sequences: [] };
      tables.set(r.table_name, t);
    }
    t.columns.push({
      name: r.column_name,
      dataType: r.data_type,
      kind: kindOf(r.data_type, r.udt_name),
      notNull: r.is_nullable === 'NO',
    });
    if (r.seq) t.sequences.push({ column: r.column_name, sequence: r.seq });
  }
  const fks = await client.query<{ child: string; parent: string }>(
    `SELECT DISTINCT c.relname AS child, p.relname AS parent
       FROM pg_constraint k
       JOIN pg_class c ON c.oid = k.conrelid
       JOIN pg_class p ON p.oid = k.confrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE k.contype = 'f' AND n.nspname = current_schema()`,
  );
  // Foreign keys an interrupted copy set aside (see deferForeignKeys) still order the tables.
  for (const r of [...fks.rows, ...(await readDeferred(client))]) {
    const t = tables.get(r.child);
    if (t && r.parent !== r.child && !t.references.includes(r.parent)) t.references.push(r.parent);
  }
  return tables;
}

/**
 * Order tables so every table comes after the tables it references
 * (references outside `names` are ignored: they must already hold their
 * rows). Among tables that are ready, bigger ones (by `weight`) go first, so
 * their verification overlaps the copy of the small ones; then alphabetical.
 * Throws OperationError (exit 1) naming the cycle's tables when the foreign keys form a cycle.
 */
export function fkOrder(
  names: string[],
  tables: Map<string, TargetTable>,
  weight: (t: string) => number = () => 0,
): string[] {
  const set = new Set(names);
  const pending = new Map(names.map((n) => [n, (tables.get(n)?.references ?? []).filter((r) => set.has(r))]));
  const out: string[] = [];
  while (pending.size > 0) {
    const ready = [...pending.entries()]
      .filter(([, deps]) => deps.every((d) => !pending.has(d)))
      .map(([n]) => n)
      .sort((a, b) => weight(b) - weight(a) || (a < b ? -1 : 1));
    if (ready.length === 0) {
      throw new OperationError(`foreign keys form a cycle between: ${[...pending.keys()].sort().join(', ')}`, {
        hint: 'copy the tables of the cycle yourself, or make one of the foreign keys DEFERRABLE in a migration',
      });
    }
    // Take only the heaviest ready table, then look again: a table it unblocks may be heavier than the rest.
    out.push(ready[0]!);
    pending.delete(ready[0]!);
  }
  return out;
}

export interface ProgressRow {
  table_name: string;
  status: 'in_progress' | 'done' | 'verified' | 'failed';
  source: string | null;
  source_rows: number | null;
  rows: number | null;
  skipped: number | null;
  checksum: string | null;
  run_id: string | null;
  started_at: Date | null;
  finished_at: Date | null;
}

const PROGRESS_DDL = `CREATE TABLE IF NOT EXISTS ${PROGRESS_TABLE} (
  table_name TEXT PRIMARY KEY,
  status TEXT NOT NULL CHECK (status IN ('in_progress', 'done', 'verified', 'failed')),
  source TEXT,
  source_rows BIGINT,
  rows BIGINT,
  skipped BIGINT,
  checksum TEXT,
  run_id TEXT,
  started_at TIMESTAMPTZ,
  finished_at TIMESTAMPTZ
)`;

/**
 * Foreign keys set aside while their tables are copied, with the statement that puts each back.
 * A row here is a constraint of the platform's schema that is missing from the target until the
 * copy that removed it (or the next run, --resume or --truncate) adds it again.
 */
export const DEFERRED_TABLE = 'wks_copy_deferred';

const DEFERRED_DDL = `CREATE TABLE IF NOT EXISTS ${DEFERRED_TABLE} (
  child TEXT NOT NULL,
  name TEXT NOT NULL,
  parent TEXT NOT NULL,
  ddl TEXT NOT NULL,
  PRIMARY KEY (child, name)
)`;

export interface DeferredForeignKey {
  /** The referencing table, its constraint, and the referenced table (current schema). */
  child: string;
  name: string;
  parent: string;
  /** ALTER TABLE ... ADD CONSTRAINT ... (validates every row when run). */
  ddl: string;
}

async function readDeferred(client: pg.ClientBase): Promise<DeferredForeignKey[]> {
  const exists = await client.query(`SELECT to_regclass($1) AS t`, [DEFERRED_TABLE]);
  if (!exists.rows[0]?.t) return [];
  return (await client.query<DeferredForeignKey>(`SELECT child, name, parent, ddl FROM ${DEFERRED_TABLE}`)).rows;
}

/**
 * Set aside (drop, and record in wks_copy_deferred) every foreign key between tables of the current
 * schema that has `tables` at one end, so COPY checks no row one by one and the tables' own indexes
 * can be dropped and rebuilt. Foreign keys an earlier run set aside whose tables are not copied now
 * are added back here. Run inside the caller's transaction: the drops and the records commit together.
 */
export async function deferForeignKeys(client: pg.ClientBase, tables: string[]): Promise<void> {
  const fks = await client.query<DeferredForeignKey>(
    `SELECT c.relname AS child, k.conname AS name, p.relname AS parent,
            format('ALTER TABLE %I ADD CONSTRAINT %I %s', c.relname, k.conname, pg_get_constraintdef(k.oid)) AS ddl
       FROM pg_constraint k
       JOIN pg_class c ON c.oid = k.conrelid
       JOIN pg_class p ON p.oid = k.confrelid
      WHERE k.contype = 'f' AND c.relnamespace = current_schema()::regnamespace
        AND p.relnamespace = current_schema()::regnamespace
        AND (c.relname = ANY($1) OR p.relname = ANY($1))
      ORDER BY c.relname, k.conname`,
    [tables],
  );
  for (const f of fks.rows) {
    await client.query(`ALTER TABLE ${quoteIdent(f.child)} DROP CONSTRAINT ${quoteIdent(f.name)}`);
    await client.query(
      `INSERT INTO ${DEFERRED_TABLE} (child, name, parent, ddl) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
      [f.child, f.name, f.parent, f.ddl],
    );
  }
  const copying = new Set(tables);
  await restoreForeignKeys(client, (f) => !copying.has(f.child) && !copying.has(f.parent));
}

/**
 * Add back (validating every row: PostgreSQL refuses an orphan with 23503) the set-aside foreign
 * keys that `ready` accepts, and forget them; in the caller's transaction. Returns how many.
 */
export async function restoreForeignKeys(
  client: pg.ClientBase,
  ready: (f: DeferredForeignKey) => boolean,
): Promise<number> {
  const todo = (await readDeferred(client)).filter(ready);
  for (const f of todo) {
    await client.query(f.ddl);
    await client.query(`DELETE FROM ${DEFERRED_TABLE} WHERE child = $1 AND name = $2`, [f.child, f.name]);
  }
  return todo.length;
}

/**
 * Drop the table's indexes (primary key and unique constraints included) and return the
 * statements that build them again, constraints first, exactly as they were defined. Left in
 * place: an index a foreign key from another schema depends on, and invalid, clustered or
 * replica-identity indexes (rebuilding them would change more than the index).
 */
export async function dropIndexes(client: pg.ClientBase, table: string): Promise<string[]> {
  const r = await client.query<{ idx: string; conname: string | null; ddl: string }>(
    `SELECT i.indexrelid::regclass::text AS idx, k.conname,
            CASE WHEN k.oid IS NULL THEN pg_get_indexdef(i.indexrelid)
                 ELSE format('ALTER TABLE %I ADD CONSTRAINT %I %s', $1::text, k.conname, pg_get_constraintdef(k.oid)) END AS ddl
       FROM pg_index i
       LEFT JOIN pg_constraint k ON k.conindid = i.indexrelid AND k.conrelid = i.indrelid AND k.contype IN ('p', 'u', 'x')
      WHERE i.indrelid = $2::regclass AND i.indisvalid AND NOT i.indisclustered AND NOT i.indisreplident
        AND NOT EXISTS (SELECT 1 FROM pg_constraint f WHERE f.contype = 'f' AND f.conindid = i.indexrelid)
      ORDER BY (k.oid IS NULL), 1`,
    [table, quoteIdent(table)],
  );
  for (const x of r.rows) {
    if (x.conname) await client.query(`ALTER TABLE ${quoteIdent(table)} DROP CONSTRAINT ${quoteIdent(x.conname)}`);
    else await client.query(`DROP INDEX ${x.idx}`);
  }
  return r.rows.map((x) => x.ddl);
}

/** True when a foreign key references the table (then it cannot be truncated on its own). */
export async function isReferenced(client: pg.ClientBase, table: string): Promise<boolean> {
  const r = await client.query(
    `SELECT EXISTS (SELECT 1 FROM pg_constraint WHERE contype = 'f' AND confrelid = $1::regclass) AS x`,
    [quoteIdent(table)],
  );
  return r.rows[0]?.x === true;
}

/** Create wks_copy_progress and wks_copy_deferred when missing. */
export async function ensureProgressTable(client: pg.ClientBase): Promise<void> {
  await client.query(PROGRESS_DDL);
  await client.query(DEFERRED_DDL);
}

/** The progress rows by table name (empty when the table does not exist). */
export async function readProgress(client: pg.ClientBase): Promise<Map<string, ProgressRow>> {
  const exists = await client.query(`SELECT to_regclass($1) AS t`, [PROGRESS_TABLE]);
  if (!exists.rows[0]?.t) return new Map();
  const r = await client.query<ProgressRow>(`SELECT * FROM ${PROGRESS_TABLE}`);
  return new Map(
    r.rows.map((x) => [
      x.table_name,
      { ...x, source_rows: num(x.source_rows), rows: num(x.rows), skipped: num(x.skipped) },
    ]),
  );
}

function num(v: unknown): number | null {
  return v === null || v === undefined ? null : Number(v);
}

/** Insert or replace one progress row. */
export async function writeProgress(
  client: pg.ClientBase,
  row: Partial<ProgressRow> & Pick<ProgressRow, 'table_name' | 'status'>,
): Promise<void> {
  await client.query(
    `INSERT INTO ${PROGRESS_TABLE} (table_name, status, source, source_rows, rows, skipped, checksum, run_id, started_at, finished_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
     ON CONFLICT (table_name) DO UPDATE SET status = EXCLUDED.status, source = EXCLUDED.source, source_rows = EXCLUDED.source_rows,
       rows = EXCLUDED.rows, skipped = EXCLUDED.skipped, checksum = EXCLUDED.checksum, run_id = EXCLUDED.run_id,
       started_at = EXCLUDED.started_at, finished_at = EXCLUDED.finished_at`,
    [
      row.table_name,
      row.status,
      row.source ?? null,
      row.source_rows ?? null,
      row.rows ?? null,
      row.skipped ?? null,
      row.checksum ?? null,
      row.run_id ?? null,
      row.started_at ?? null,
      row.finished_at ?? null,
    ],
  );
}

/** True when the table has at least one row. */
export async function hasRows(client: pg.ClientBase, table: string): Promise<boolean> {
  const r = await client.query(`SELECT EXISTS (SELECT 1 FROM ${quoteIdent(table)}) AS x`);
  return r.rows[0]?.x === true;
}

/**
 * Set each sequence of the table so the next value is max(id) + 1 (or the
 * SQLite AUTOINCREMENT high-water mark + 1 when that is larger, so ids of
 * deleted rows are not handed out again). Empty table: next value 1.
 */
export async function resetSequences(
  client: pg.ClientBase,
  t: TargetTable,
  sqliteSeq: number | null,
): Promise<Array<{ column: string; next: string }>> {
  const out: Array<{ column: string; next: string }> = [];
  for (const s of t.sequences) {
    const r = await client.query<{ next: string }>(
      `SELECT (CASE WHEN m IS NULL THEN setval($1::regclass, 1, false) ELSE setval($1::regclass, m, true) + 1 END)::text AS next
         FROM (SELECT GREATEST((SELECT max(${quoteIdent(s.column)}) FROM ${quoteIdent(t.name)}), $2::bigint) AS m) x`,
      [s.sequence, sqliteSeq],
    );
    out.push({ column: s.column, next: r.rows[0]!.next });
  }
  return out;
}

/**
 * Write the canonical form of one COPY TO row (bytes [start, end) of `b`)
 * into `out` and return its length, or -1 when the row needs the string path.
 */
export function canonicalRowBytes(
  b: Uint8Array,
  start: number,
  end: number,
  kinds: ColumnKind[],
  out: Uint8Array,
): number {
  let o = 0;
  let pos = start;
  for (let i = 0; i < kinds.length; i++) {
    let fe = i === kinds.length - 1 ? end : b.indexOf(9, pos);
    if (fe < 0 || fe > end) fe = end;
    if (i > 0) out[o++] = 9;
    const k = kinds[i]!;
    if (k === 'numeric') return -1;
    if (k === 'float') {
      for (let j = pos; j < fe; j++) if (b[j] === 101) return -1; // exponent form: JS renders it differently
    } else if (k === 'json' && !(fe - pos === 2 && b[pos] === 92 && b[pos + 1] === 78)) {
      let inStr = false;
      let keyStart = -1;
      for (let j = pos; j < fe; j++) {
        const c = b[j]!;
        if (c === 92) return -1; // escapes inside: string path
        if (inStr) {
          out[o++] = c;
          if (c === 34) {
            inStr = false;
            // a key that JS would enumerate first (array-index-like): string path
            let k2 = j + 1;
            while (k2 < fe && b[k2] === 32) k2++;
            if (b[k2] === 58 && j - keyStart - 1 >= 1 && j - keyStart - 1 <= 9) {
              let digits = true;
              for (let d = keyStart + 1; d < j; d++) if (b[d]! < 48 || b[d]! > 57) digits = false;
              if (digits && !(b[keyStart + 1] === 48 && j - keyStart - 1 > 1)) return -1;
            }
          }
          continue;
        }
        if (c === 34) {
          inStr = true;
          keyStart = j;
          out[o++] = c;
          continue;
        }
        if (c === 32) continue;
        if (c === 45 || (c >= 48 && c <= 57)) {
          let j2 = j;
          let digits = 0;
          while (j2 < fe) {
            const d = b[j2]!;
            if (d >= 48 && d <= 57) digits++;
            else if (d !== 45) break;
            j2++;
          }
          if (digits > 15 || b[j2] === 46 || b[j2] === 101 || b[j2] === 69) return -1; // fractions, exponents, long numbers: string path
          if (c === 45 && digits === 1 && b[j + 1] === 48) return -1; // -0
          for (let d = j; d < j2; d++) out[o++] = b[d]!;
          j = j2 - 1;
          continue;
        }
        out[o++] = c;
      }
      pos = fe + 1;
      continue;
    }
    for (let j = pos; j < fe; j++) out[o++] = b[j]!;
    pos = fe + 1;
  }
  return o;
}

/** Add two digests lane by lane (the checksum of the union of two disjoint row sets). */
export function combineDigests(x: string, y: string): string {
  const lane = (d: string, i: number) => parseInt(d.slice(i * 8, i * 8 + 8), 16);
  const a = (lane(x, 0) + lane(y, 0)) >>> 0;
  const b = (lane(x, 1) + lane(y, 1)) >>> 0;
  return a.toString(16).padStart(8, '0') + b.toString(16).padStart(8, '0');
}

/** ctid ranges splitting a table's heap in `parts` (TID range scans, PostgreSQL 14+). */
export async function ctidParts(client: pg.ClientBase, table: string, parts: number): Promise<string[]> {
  const r = await client.query<{ pages: string }>(
    `SELECT (pg_relation_size($1::regclass) / current_setting('block_size')::int)::text AS pages`,
    [quoteIdent(table)],
  );
  const pages = Number(r.rows[0]?.pages ?? 0);
  if (parts < 2 || pages < parts * 8) return [];
  const out: string[] = [];
  for (let i = 0; i < parts; i++) {
    const lo = Math.floor((pages * i) / parts);
    const hi = Math.floor((pages * (i + 1)) / parts);
    out.push(
      i === parts - 1
        ? `ctid >= '(${lo},0)'::tid`
        : i === 0
          ? `ctid < '(${hi},0)'::tid`
          : `ctid >= '(${lo},0)'::tid AND ctid < '(${hi},0)'::tid`,
    );
  }
  return out;
}

/**
 * The target side of verification: stream the table out with COPY TO
 * (DateStyle ISO, TimeZone UTC, bytea hex: set on the session by the
 * caller) and checksum each row in the same canonical form the source side
 * used. Returns row count and digest.
 */
export async function targetChecksum(
  client: pg.ClientBase,
  table: string,
  columns: TargetColumn[],
  onRows?: (n: number) => void,
  /** Optional row filter, e.g. a ctid range when the table is verified in parts. */
  where?: string,
): Promise<{ rows: number; checksum: string }> {
  const { to: copyTo } = await import('pg-copy-streams');
  const kinds = columns.map((c) => c.kind);
  const normalize = kinds.map((k) => k === 'float' || k === 'numeric' || k === 'json');
  const needs = normalize.some(Boolean);
  const sum = new TableChecksum();
  const stream = client.query(
    copyTo(
      `COPY (SELECT ${columns.map((c) => quoteIdent(c.name)).join(', ')} FROM ${quoteIdent(table)}${where ? ` WHERE ${where}` : ''}) TO STDOUT`,
    ),
  );
  // Rows are canonicalised from the bytes when that is safe (no float in
  // exponent form, jsonb without backslashes, long or fractional numbers or
  // index-like keys); other rows take the string path (canonicalFromTarget).
  const line = (l: string) => {
    const f = l.split('\t');
    for (let i = 0; i < f.length; i++) if (normalize[i]) f[i] = canonicalFromTarget(f[i]!, kinds[i]!);
    sum.add(f.join('\t'));
  };
  let scratch = new Uint8Array(1 << 16);
  // Without float/numeric/json columns, PostgreSQL's COPY text is already canonical: hash the bytes as they arrive.
  const row = !needs
    ? (b: Buffer, start: number, end: number) => sum.addBytes(b, start, end)
    : (b: Buffer, start: number, end: number) => {
        if (scratch.length < end - start) scratch = new Uint8Array((end - start) * 2);
        const len = canonicalRowBytes(b, start, end, kinds, scratch);
        if (len >= 0) sum.addBytes(scratch, 0, len);
        else line(b.toString('utf8', start, end));
      };
  let carry: Buffer | null = null;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    let from = 0;
    if (carry) {
      const nl = chunk.indexOf(10);
      if (nl < 0) {
        carry = Buffer.concat([carry, chunk]);
        continue;
      }
      const first = Buffer.concat([carry, chunk.subarray(0, nl)]);
      row(first, 0, first.length);
      from = nl + 1;
      carry = null;
    }
    for (;;) {
      const nl = chunk.indexOf(10, from);
      if (nl < 0) break;
      row(chunk, from, nl);
      from = nl + 1;
    }
    if (from < chunk.length) carry = Buffer.from(chunk.subarray(from));
    onRows?.(sum.rows);
  }
  if (carry && carry.length > 0) row(carry, 0, carry.length);
  return { rows: sum.rows, checksum: sum.digest() };
}
