/**
 * The SQLite side of `wks db copy`: introspection inside one read snapshot,
 * and the chunk producer that turns a table's rows into COPY text.
 *
 * Runs synchronously on a better-sqlite3 handle, either in the copy worker
 * thread (worker.ts) or inline on the main thread. Integers are read with
 * safeIntegers(true) so an INTEGER is a bigint and a REAL is a number: the
 * storage class is known exactly and no 64-bit id loses precision.
 */
import type Database from 'better-sqlite3';
import { TableChecksum } from './checksum.js';
import {
  convertValue,
  formatFloat,
  escapeCopyText,
  isCanonicalJson,
  isPlainDateTime,
  preview,
  type ColumnKind,
} from './convert.js';
import { IDENTITY_TABLE, quoteIdent } from '../db/index.js';

/** Tables wks owns (never copied: each database keeps its own bookkeeping). */
export const INTERNAL_TABLES = new Set([
  'schema_migrations',
  'wks_migration_lock',
  'wks_copy_progress',
  'wks_backup_lock',
  IDENTITY_TABLE,
]);

export interface SourceColumn {
  name: string;
  declType: string;
  notNull: boolean;
}

export interface SourceTable {
  name: string;
  columns: SourceColumn[];
  rows: number;
  /** False for WITHOUT ROWID tables (problems then name the row's position). */
  hasRowid: boolean;
  /** The INTEGER PRIMARY KEY column that aliases rowid, if any (then rowid is not selected separately). */
  rowidAlias: string | null;
  /** sqlite_sequence value for AUTOINCREMENT tables (highest id ever handed out), else null. */
  sequence: number | null;
}

/**
 * Read the table list, columns, row counts and AUTOINCREMENT sequences.
 * Call inside the read transaction that the copy will use, so the counts
 * match the rows copied. Skips sqlite_* and wks's own tables.
 */
export function inspectSource(db: Database.Database): SourceTable[] {
  const names = db
    .prepare(
      `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name`,
    )
    .all() as Array<{ name: string }>;
  let seqs = new Map<string, number>();
  try {
    seqs = new Map(
      (db.prepare('SELECT name, seq FROM sqlite_sequence').all() as Array<{ name: string; seq: number }>).map((r) => [
        r.name,
        Number(r.seq),
      ]),
    );
  } catch {
    /* no AUTOINCREMENT table: no sqlite_sequence */
  }
  const out: SourceTable[] = [];
  for (const { name } of names) {
    if (INTERNAL_TABLES.has(name)) continue;
    const cols = db.prepare(`PRAGMA table_info(${quoteIdent(name)})`).all() as Array<{
      name: string;
      type: string;
      notnull: number;
      pk: number;
    }>;
    const pks = cols.filter((c) => Number(c.pk) > 0);
    let hasRowid = true;
    try {
      db.prepare(`SELECT rowid FROM ${quoteIdent(name)} LIMIT 0`).all();
    } catch {
      hasRowid = false;
    }
    const rows = Number((db.prepare(`SELECT COUNT(*) AS n FROM ${quoteIdent(name)}`).get() as { n: number }).n);
    out.push({
      name,
      columns: cols.map((c) => ({ name: c.name, declType: String(c.type ?? ''), notNull: Number(c.notnull) === 1 })),
      rows,
      hasRowid,
      rowidAlias:
        hasRowid && pks.length === 1 && String(pks[0]!.type).toUpperCase() === 'INTEGER' ? pks[0]!.name : null,
      sequence: seqs.get(name) ?? null,
    });
  }
  return out;
}

/** A chunk ends after batchRows rows or once it holds this many bytes, whichever comes first. */
export const MAX_CHUNK_BYTES = 1 << 20;

export type OnTypeError = 'fail' | 'skip-row' | 'null';

/** What the producer needs to know about one table. */
export interface TableSpec {
  table: string;
  /** Columns to copy, in target order, each with the target's kind and nullability. */
  columns: Array<{ name: string; kind: ColumnKind; notNull: boolean }>;
  hasRowid: boolean;
  /** Index in `columns` of the column that aliases rowid (-1: select rowid separately). */
  rowidColumn: number;
  /** `copy` produces COPY text; `hash` only computes the checksum (resumed tables). */
  mode: 'copy' | 'hash';
  onTypeError: OnTypeError;
  batchRows: number;
}

/** One type problem, as listed in the report file and in errors. */
export interface ProblemRecord {
  table: string;
  rowid: string | null;
  column: string;
  problem: string;
  value: string;
  action: 'failed' | 'skipped-row' | 'nulled';
  /** skip-row: the whole source row, so it can be fixed and re-inserted by hand. */
  row?: Record<string, unknown>;
}

/** A chunk's COPY text as UTF-8: `bytes[0, len)`; `slot` when it sits in a shared slot (worker). */
export interface Encoded {
  bytes: Uint8Array;
  len: number;
  slot?: number;
}

const textEncoder = new TextEncoder();

export interface Chunk {
  /** COPY text for `rows` rows; null in hash mode or when no row was written. */
  encoded: Encoded | null;
  /** Rows written in this chunk. */
  rows: number;
  /** Rows read from SQLite for this chunk (rows + skipped). */
  read: number;
  problems: ProblemRecord[];
}

export interface TableSummary {
  table: string;
  /** Rows read from SQLite. */
  sourceRows: number;
  /** Rows written (sourceRows - skipped). */
  rows: number;
  skipped: number;
  nulled: number;
  /** Checksum over the rows written, canonical form. */
  checksum: string;
  /** Worker reader only: ms spent reading/converting, and ms waiting for PostgreSQL to take the chunks (where the bottleneck is). */
  readerBusyMs?: number;
  readerWaitMs?: number;
}

/** Thrown by the producer under --on-type-error=fail (first problem). */
export class SourceTypeError extends Error {
  constructor(readonly record: ProblemRecord) {
    super(
      `${record.table}: row ${record.rowid ?? '?'}, column ${record.column}: ${record.problem} (value ${record.value})`,
    );
  }
}

function jsonSafe(row: unknown[], cols: string[]): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  cols.forEach((c, i) => {
    const v = row[i];
    o[c] =
      typeof v === 'bigint'
        ? v >= -9007199254740991n && v <= 9007199254740991n
          ? Number(v)
          : v.toString()
        : Buffer.isBuffer(v)
          ? `\\x${v.toString('hex')}`
          : v;
  });
  return o;
}

/** Appends UTF-8 bytes to a growable buffer; ASCII is written char by char, no intermediate strings. */
class ByteWriter {
  buf = new Uint8Array(1 << 20);
  pos = 0;
  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.pos + n));
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }
  byte(c: number): void {
    this.ensure(1);
    this.buf[this.pos++] = c;
  }
  /** A string that needs no COPY escaping (digits, an already escaped field). */
  raw(s: string): void {
    const n = s.length;
    this.ensure(n * 3);
    const b = this.buf;
    let p = this.pos;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) {
        this.pos += textEncoder.encodeInto(s, b.subarray(this.pos)).written;
        return;
      }
      b[p++] = c;
    }
    this.pos = p;
  }
  /** A string escaped for COPY text format on the way (the same escapes as escapeCopyText). A deliberate twin of raw(): one loop each, on db copy's hot path. */
  text(s: string): void {
    const n = s.length;
    this.ensure(n * 3);
    const b = this.buf;
    let p = this.pos;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) {
        this.pos += textEncoder.encodeInto(escapeCopyText(s), b.subarray(this.pos)).written;
        return;
      }
      if (c === 92 || (c >= 8 && c <= 13)) {
        // at most 2 bytes per ASCII char: within the n * 3 ensured above
        b[p++] = 92;
        b[p++] = c === 92 ? 92 : c === 8 ? 98 : c === 9 ? 116 : c === 10 ? 110 : c === 11 ? 118 : c === 12 ? 102 : 114;
        continue;
      }
      b[p++] = c;
    }
    this.pos = p;
  }
  bytes(src: Uint8Array, start: number, end: number): void {
    this.ensure(end - start);
    this.buf.set(src.subarray(start, end), this.pos);
    this.pos += end - start;
  }
}

/**
 * The record of a value that cannot be converted, with the action --on-type-error takes: `skipped-row`
 * or `nulled`. Throws SourceTypeError under `fail`, and under `null` when the column is NOT NULL.
 */
function problemRecord(
  spec: TableSpec,
  column: number,
  rowid: string,
  problem: string,
  value: unknown,
  row: unknown[],
  notNull: boolean,
): ProblemRecord {
  const rec: ProblemRecord = {
    table: spec.table,
    rowid,
    column: spec.columns[column]!.name,
    problem,
    value: preview(value),
    action: 'failed',
  };
  if (spec.onTypeError === 'skip-row') {
    rec.action = 'skipped-row';
    rec.row = jsonSafe(
      row,
      spec.columns.map((c) => c.name),
    );
    return rec;
  }
  if (spec.onTypeError === 'null' && !notNull) {
    rec.action = 'nulled';
    return rec;
  }
  if (spec.onTypeError === 'null') rec.problem += ' (cannot write NULL: the target column is NOT NULL)';
  throw new SourceTypeError(rec);
}

/** The table's rows in rowid order, raw, integers as bigint; `off`: where the copied columns start; `rowidAt`: the rowid's column (-1: none). */
function selectRows(db: Database.Database, spec: TableSpec) {
  const sel = spec.columns.map((c) => quoteIdent(c.name)).join(', ');
  const ownRowid = spec.hasRowid && spec.rowidColumn < 0;
  const stmt = db.prepare(
    `SELECT ${ownRowid ? 'rowid, ' : ''}${sel} FROM ${quoteIdent(spec.table)}${spec.hasRowid ? ' ORDER BY rowid' : ''}`,
  );
  stmt.raw(true);
  stmt.safeIntegers(true);
  return { stmt, off: ownRowid ? 1 : 0, rowidAt: ownRowid ? 0 : spec.rowidColumn >= 0 ? spec.rowidColumn : -1 };
}

/**
 * Produce a table's rows as COPY text chunks (UTF-8) of `batchRows` rows (or
 * about 2 MiB), converting each value for its target kind and checksumming
 * the canonical rows that are written. `publish` receives each chunk's bytes
 * (valid only during the call) and returns where they now live; without it
 * they are copied into a Buffer. Returns the summary when the generator
 * finishes. Throws SourceTypeError on the first problem under `fail` (or
 * when `null` cannot apply because the column is NOT NULL).
 */
// long: the per-row, per-field hot loop of db copy stays in one function, with the fast paths inline,
// so that V8 keeps the buffers and counters in registers; the rare paths live in problemRecord.
export function* produceChunks(
  db: Database.Database,
  spec: TableSpec,
  publish: (bytes: Uint8Array, len: number) => Encoded = (bytes, len) => {
    const b = Buffer.from(bytes.subarray(0, len));
    return { bytes: b, len };
  },
): Generator<Chunk, TableSummary, void> {
  const cols = spec.columns;
  const n = cols.length;
  const { stmt, off, rowidAt } = selectRows(db, spec);
  const kinds = cols.map((c) => c.kind);
  const notNull = cols.map((c) => c.notNull);
  const hasJson = kinds.includes('json');
  const sum = new TableChecksum();
  const copying = spec.mode === 'copy';
  const w = new ByteWriter();
  // The canonical row, built only for a row where a json value's canonical form differs from its field.
  const cw = hasJson ? new ByteWriter() : null;
  let inChunk = 0;
  let readInChunk = 0;
  let problems: ProblemRecord[] = [];
  let sourceRows = 0;
  let skipped = 0;
  let nulled = 0;

  const finish = (): Chunk => {
    const out = copying && w.pos > 0 ? publish(w.buf, w.pos) : null;
    const c: Chunk = { encoded: out, rows: inChunk, read: readInChunk, problems };
    w.pos = 0;
    inChunk = 0;
    readInChunk = 0;
    problems = [];
    return c;
  };

  for (const raw of stmt.iterate() as IterableIterator<unknown[]>) {
    sourceRows++;
    readInChunk++;
    const rowStart = w.pos;
    let canon = false; // cw holds this row's canonical form so far
    let skip = false;
    for (let i = 0; i < n; i++) {
      if (i > 0) {
        w.byte(9);
        if (canon) cw!.byte(9);
      }
      const fieldStart = w.pos;
      const v = raw[i + off];
      const k = kinds[i]!;
      let canonJson: string | undefined;
      let problem: string | undefined;
      // Fast paths for the common, exact cases write straight into the buffer; everything else goes through convertValue.
      if (v === null) {
        if (notNull[i]) problem = 'NULL in a NOT NULL column';
        else {
          w.byte(92);
          w.byte(78);
        }
      } else if (k === 'int8' && typeof v === 'bigint') w.raw(v.toString());
      else if (k === 'float' && typeof v === 'number') w.raw(formatFloat(v));
      else if (k === 'text' && typeof v === 'string' && !v.includes('\u0000')) w.text(v);
      else if (k === 'json' && typeof v === 'string' && isCanonicalJson(v))
        w.raw(v); // valid, needs no escaping
      else if (k === 'timestamptz' && typeof v === 'string' && v.length === 19 && isPlainDateTime(v)) {
        w.raw(v);
        w.byte(43); // +00: UTC
        w.byte(48);
        w.byte(48);
      } else {
        const r = convertValue(v, k);
        if ('problem' in r) problem = r.problem;
        else {
          w.raw(r.field);
          if (r.canonical !== r.field) canonJson = r.canonical;
        }
      }
      if (problem !== undefined) {
        const rowid = rowidAt >= 0 ? String(raw[rowidAt]) : `#${sourceRows}`;
        const rec = problemRecord(spec, i, rowid, problem, v, raw.slice(off), !!notNull[i]);
        problems.push(rec);
        if (rec.action === 'skipped-row') {
          skip = true;
          break;
        }
        nulled++;
        w.pos = fieldStart;
        w.byte(92);
        w.byte(78);
      }
      if (canonJson !== undefined && !canon) {
        canon = true;
        cw!.pos = 0;
        cw!.bytes(w.buf, rowStart, fieldStart);
      }
      if (canon) {
        if (canonJson !== undefined) cw!.raw(canonJson);
        else cw!.bytes(w.buf, fieldStart, w.pos);
      }
    }
    if (skip) {
      w.pos = rowStart;
      skipped++;
    } else {
      if (canon) sum.addBytes(cw!.buf, 0, cw!.pos);
      else sum.addBytes(w.buf, rowStart, w.pos);
      if (copying) w.byte(10);
      else w.pos = 0;
      inChunk++;
    }
    if (readInChunk >= spec.batchRows || w.pos >= MAX_CHUNK_BYTES) yield finish();
  }
  if (readInChunk > 0 || problems.length > 0) yield finish();
  return { table: spec.table, sourceRows, rows: sum.rows, skipped, nulled, checksum: sum.digest() };
}
