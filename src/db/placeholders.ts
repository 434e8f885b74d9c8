/**
 * `$1, $2, ...` -> `?` rewriting for SQLite, aware of quotes and comments so
 * that a `$1` inside a string literal, identifier or comment is left alone.
 * Each occurrence becomes one positional `?` and the parameter list is
 * expanded to match, so `$1` may appear several times.
 */

export interface Rewritten {
  sql: string;
  /** For each `?` in order, the 0-based index into the caller's params. */
  order: number[];
}

const cache = new Map<string, Rewritten>();

/** Rewrite `$n` placeholders to `?` (cached per SQL text). Throws on `$0`. */
export function rewritePlaceholders(sql: string): Rewritten {
  const hit = cache.get(sql);
  if (hit) return hit;
  let out = '';
  const order: number[] = [];
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const ch = sql[i]!;
    if (ch === "'" || ch === '"' || ch === '`') {
      const end = skipQuoted(sql, i, ch);
      out += sql.slice(i, end);
      i = end;
    } else if (ch === '-' && sql[i + 1] === '-') {
      const nl = sql.indexOf('\n', i);
      const end = nl < 0 ? n : nl;
      out += sql.slice(i, end);
      i = end;
    } else if (ch === '/' && sql[i + 1] === '*') {
      const close = sql.indexOf('*/', i + 2);
      const end = close < 0 ? n : close + 2;
      out += sql.slice(i, end);
      i = end;
    } else if (ch === '$' && /[0-9]/.test(sql[i + 1] ?? '')) {
      let j = i + 1;
      while (j < n && /[0-9]/.test(sql[j]!)) j++;
      const k = Number(sql.slice(i + 1, j));
      if (k < 1) throw new Error(`invalid placeholder $${k} (placeholders start at $1)`);
      order.push(k - 1);
      out += '?';
      i = j;
    } else {
      out += ch;
      i++;
    }
  }
  const r = { sql: out, order };
  if (cache.size > 2000) cache.clear();
  cache.set(sql, r);
  return r;
}

function skipQuoted(sql: string, start: number, q: string): number {
  let i = start + 1;
  while (i < sql.length) {
    if (sql[i] === q) {
      if (sql[i + 1] === q) {
        i += 2;
        continue;
      }
      return i + 1;
    }
    i++;
  }
  return sql.length;
}
