/** Plain-text table rendering for people (no dependencies beyond chalk). */
import type { ChalkInstance } from 'chalk';

export interface Column<R> {
  /** Header text. */
  header: string;
  /** Row property to show, or a function computing the cell text. */
  value: keyof R | ((row: R) => unknown);
  align?: 'left' | 'right';
  /** Optional styling applied after padding (colour must not change width). */
  style?: (text: string, row: R) => string;
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: matches ANSI escape sequences
const ANSI = /\u001b\[[0-9;]*m/g;
const visibleLength = (s: string): number => [...s.replace(ANSI, '')].length;

function cell(v: unknown): string {
  if (v === null || v === undefined || v === '') return '-';
  if (v instanceof Date) return v.toISOString();
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/** Render rows as an aligned table with a bold header. */
export function renderTable<R>(rows: R[], columns: Column<R>[], c: ChalkInstance): string {
  const texts = rows.map((row) =>
    columns.map((col) => cell(typeof col.value === 'function' ? col.value(row) : row[col.value])),
  );
  const widths = columns.map((col, i) =>
    Math.max(visibleLength(col.header), ...texts.map((t) => visibleLength(t[i]!))),
  );
  const pad = (s: string, i: number, align?: 'left' | 'right') => {
    const gap = ' '.repeat(Math.max(0, widths[i]! - visibleLength(s)));
    return align === 'right' ? gap + s : s + gap;
  };
  const lines = [
    columns
      .map((col, i) => c.bold(pad(col.header, i, col.align)))
      .join('  ')
      .trimEnd(),
  ];
  texts.forEach((t, r) => {
    lines.push(
      columns
        .map((col, i) => {
          const padded = pad(t[i]!, i, col.align);
          return col.style ? col.style(padded, rows[r]!) : padded;
        })
        .join('  ')
        .trimEnd(),
    );
  });
  return lines.join('\n');
}
