/**
 * Time helpers for collectors: the database layer's parsers (src/db/time.ts)
 * under the names the metrics code uses, plus Unix seconds.
 */
import { parseDbTime, toDbTime } from '../db/time.js';
import type { Dialect } from '../db/types.js';

/** Parse a DB/manifest time value (see parseDbTime). Null for null/unparseable input. */
export const toDate = (v: unknown): Date | null => parseDbTime(v);

/** Unix seconds (fractional) of a Date. */
export const tsSeconds = (d: Date): number => d.getTime() / 1000;

/** A time parameter for SQL in `dialect` (see toDbTime). */
export const dbTime = (dialect: Dialect, d: Date): string | Date => toDbTime(d, dialect);
