/**
 * Time values as the two dialects return them: SQLite stores UTC text
 * `YYYY-MM-DD HH:MM:SS` (no zone), PostgreSQL returns Date; manifests carry
 * ISO strings; some rows carry epoch milliseconds.
 */

/** Parse a DB/manifest time value. Zone-less text is UTC. Returns null for null/unparseable input. */
export function toDate(v: unknown): Date | null {
  if (v === null || v === undefined || v === '') return null;
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? null : v;
  if (typeof v === 'number') return new Date(v);
  if (typeof v === 'string') {
    let s = v.trim();
    if (/^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(s)) s = `${s.replace(' ', 'T')}Z`;
    const d = new Date(s);
    return Number.isNaN(d.getTime()) ? null : d;
  }
  return null;
}

/** Unix seconds (fractional) of a Date. */
export const tsSeconds = (d: Date): number => d.getTime() / 1000;

/** A time parameter for SQL in `dialect`: UTC text for SQLite (matches CURRENT_TIMESTAMP), a Date for PostgreSQL. */
export function dbTime(dialect: 'sqlite' | 'postgres', d: Date): string | Date {
  return dialect === 'sqlite' ? d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, '') : d;
}
