/**
 * Timestamps across dialects. SQLite stores UTC text `YYYY-MM-DD HH:MM:SS`
 * (what CURRENT_TIMESTAMP writes; wks adds `.mmm` only when milliseconds are
 * non-zero, which still sorts correctly as text); PostgreSQL uses timestamptz
 * and pg returns Date objects.
 */
import type { Dialect } from './types.js';

const SQLITE_TEXT = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?$/;

/**
 * Parse a timestamp read from either database into a Date.
 * Accepts Date, SQLite UTC text (`2026-01-02 03:04:05[.678]`, no zone = UTC),
 * ISO-8601 with a zone, and numbers (epoch ms; values below 1e11 are taken as
 * epoch seconds). Returns null for null/undefined/'' and for unparseable input.
 */
export function parseDbTime(v: unknown): Date | null {
  if (v === null || v === undefined || v === '') return null;
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? null : v;
  if (typeof v === 'number' || typeof v === 'bigint') {
    const n = Number(v);
    if (!Number.isFinite(n)) return null;
    return new Date(Math.abs(n) < 1e11 ? n * 1000 : n);
  }
  if (typeof v !== 'string') return null;
  const s = v.trim();
  const m = SQLITE_TEXT.exec(s);
  if (m) {
    const ms = m[7] ? Number(m[7].padEnd(3, '0').slice(0, 3)) : 0;
    const d = new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, m[6] ? +m[6] : 0, ms));
    return Number.isNaN(d.getTime()) ? null : d;
  }
  const d = new Date(s);
  return Number.isNaN(d.getTime()) ? null : d;
}

/** Format a Date as SQLite UTC text (`YYYY-MM-DD HH:MM:SS`, plus `.mmm` when ms != 0). */
export function formatSqliteTime(d: Date): string {
  const iso = d.toISOString(); // 2026-01-02T03:04:05.678Z
  const base = `${iso.slice(0, 10)} ${iso.slice(11, 19)}`;
  return d.getUTCMilliseconds() === 0 ? base : `${base}.${iso.slice(20, 23)}`;
}

/**
 * The value to bind for a timestamp parameter: SQLite UTC text, or the Date
 * itself for PostgreSQL (pg sends it with its zone).
 */
export function toDbTime(d: Date, dialect: Dialect): string | Date {
  return dialect === 'sqlite' ? formatSqliteTime(d) : d;
}

/** The SQL expression for "now" in UTC in the given dialect (for defaults and ad-hoc statements). */
export function dbNow(dialect: Dialect): string {
  return dialect === 'sqlite' ? 'CURRENT_TIMESTAMP' : 'now()';
}
