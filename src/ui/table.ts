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
const SURROGATE = /[\uD800-\uDFFF]/;
/** Width in code points without colour codes (the common case, plain BMP text, is its length). */
const visibleLength = (s: string): number => {
  const plain = s.includes('\u001b') ? s.replace(ANSI, '') : s;
  return SURROGATE.test(plain) ? [...plain].length : plain.length;
};

function cell(v: unknown): string {
  if (v === null || v === undefined || v === '') return '-';
  if (v instanceof Date) return v.toISOString();
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/**
 * Render rows as an aligned table with a bold header. Each cell's width is measured once, and
 * widths are folded in a loop (not `Math.max(...cells)`, whose arguments overflow the stack on
 * very long tables): `lock list` renders 100k+ rows.
 */
export function renderTable<R>(rows: R[], columns: Column<R>[], c: ChalkInstance): string {
  const texts = rows.map((row) =>
    columns.map((col) => cell(typeof col.value === 'function' ? col.value(row) : row[col.value])),
  );
  const lengths = texts.map((t) => t.map(visibleLength));
  const widths = columns.map((col, i) => {
    let w = visibleLength(col.header);
    for (const l of lengths) if (l[i]! > w) w = l[i]!;
    return w;
  });
  const pad = (s: string, length: number, i: number, align?: 'left' | 'right') => {
    const gap = ' '.repeat(Math.max(0, widths[i]! - length));
    return align === 'right' ? gap + s : s + gap;
  };
  const lines = [
    columns
      .map((col, i) => c.bold(pad(col.header, visibleLength(col.header), i, col.align)))
      .join('  ')
      .trimEnd(),
  ];
  for (let r = 0; r < texts.length; r++) {
    const t = texts[r]!;
    const l = lengths[r]!;
    let line = '';
    for (let i = 0; i < columns.length; i++) {
      const col = columns[i]!;
      const padded = pad(t[i]!, l[i]!, i, col.align);
      line += (i ? '  ' : '') + (col.style ? col.style(padded, rows[r]!) : padded);
    }
    lines.push(line.trimEnd());
  }
  return lines.join('\n');
}
