/**
 * Value conversion for `wks db copy`: one SQLite value (as better-sqlite3
 * returns it with safeIntegers on: INTEGER -> bigint, REAL -> number,
 * TEXT -> string, BLOB -> Buffer, NULL -> null) becomes one field of
 * PostgreSQL's COPY text format, chosen by the TARGET column's type (which
 * comes from wks's own migrations, never from guessing).
 *
 * Contract:
 *  - Nothing is silently coerced. A value whose SQLite storage class does not
 *    fit the target type (a string in an INTEGER column, a REAL in a BIGINT,
 *    invalid JSON, an unparseable DATETIME, a NUL character, a NULL in a NOT
 *    NULL column) is a TypeProblem; the caller decides (fail, skip the row,
 *    or write NULL).
 *  - REAL -> double precision is bit-exact: JS `String(x)` is the shortest
 *    text that round-trips to the same double, and PostgreSQL's float8 input
 *    is correctly rounded; -0 keeps its sign.
 *  - DATETIME text without a zone is taken as UTC (what SQLite's
 *    CURRENT_TIMESTAMP writes); an explicit offset is honoured. Fractional
 *    seconds keep up to 6 digits (PostgreSQL's resolution).
 *
 * The canonical rendering used by the checksum (see checksum.ts) is the
 * COPY field itself for every kind except json, whose canonical form is a
 * parsed-and-sorted rendering, so the source side and the target side
 * (which reads PostgreSQL's own output back) agree exactly.
 */

/** How a target column is written and checked. */
export type ColumnKind =
  | 'int2'
  | 'int4'
  | 'int8'
  | 'float'
  | 'numeric'
  | 'text'
  | 'timestamptz'
  | 'timestamp'
  | 'json'
  | 'bool'
  | 'bytea'
  | 'other';

/** Map a PostgreSQL information_schema data_type / udt_name to a ColumnKind. */
export function kindOf(dataType: string, udtName = ''): ColumnKind {
  const t = dataType.toLowerCase();
  const u = udtName.toLowerCase();
  if (t === 'smallint' || u === 'int2') return 'int2';
  if (t === 'integer' || u === 'int4') return 'int4';
  if (t === 'bigint' || u === 'int8') return 'int8';
  if (t === 'double precision' || t === 'real' || u === 'float8' || u === 'float4') return 'float';
  if (t === 'numeric' || u === 'numeric') return 'numeric';
  if (
    t === 'text' ||
    t === 'character varying' ||
    t === 'character' ||
    u === 'text' ||
    u === 'varchar' ||
    u === 'bpchar'
  )
    return 'text';
  if (t === 'timestamp with time zone' || u === 'timestamptz') return 'timestamptz';
  if (t === 'timestamp without time zone' || u === 'timestamp') return 'timestamp';
  if (t === 'jsonb' || t === 'json' || u === 'jsonb' || u === 'json') return 'json';
  if (t === 'boolean' || u === 'bool') return 'bool';
  if (t === 'bytea' || u === 'bytea') return 'bytea';
  return 'other';
}

/** A value that cannot be copied faithfully. */
export interface TypeProblem {
  problem: string;
}

const INT_RANGE: Record<'int2' | 'int4' | 'int8', [bigint, bigint]> = {
  int2: [-32768n, 32767n],
  int4: [-2147483648n, 2147483647n],
  int8: [-9223372036854775808n, 9223372036854775807n],
};
const MAX_EXACT = 9007199254740992n; // 2^53

/** Escape a string for COPY text format (the same set PostgreSQL's COPY TO escapes, so output == input). */
export function escapeCopyText(s: string): string {
  // Fast path: most values need no escaping.
  if (!/[\\\t\n\r\b\f\v]/.test(s)) return s;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    switch (c) {
      case 92:
        out += '\\\\';
        break;
      case 9:
        out += '\\t';
        break;
      case 10:
        out += '\\n';
        break;
      case 13:
        out += '\\r';
        break;
      case 8:
        out += '\\b';
        break;
      case 12:
        out += '\\f';
        break;
      case 11:
        out += '\\v';
        break;
      default:
        out += s[i];
    }
  }
  return out;
}

/** Shortest round-trip rendering of a double, keeping the sign of -0. */
export function formatFloat(x: number): string {
  if (x === 0 && Object.is(x, -0)) return '-0';
  return String(x); // 'Infinity', '-Infinity' are accepted by float8in; NaN cannot be stored by SQLite
}

const DT =
  /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$/i;

let lastDay = '';

/** Fast check for the common `YYYY-MM-DD HH:MM:SS` form (what CURRENT_TIMESTAMP writes), valid date and time. */
export function isPlainDateTime(s: string): boolean {
  const c = (i: number) => s.charCodeAt(i) - 48;
  const d = (i: number) => {
    const x = c(i);
    return x >= 0 && x <= 9;
  };
  if (s[4] !== '-' || s[7] !== '-' || s[10] !== ' ' || s[13] !== ':' || s[16] !== ':') return false;
  if (!(d(11) && d(12) && d(14) && d(15) && d(17) && d(18))) return false;
  if (c(11) * 10 + c(12) > 23 || c(14) * 10 + c(15) > 59 || c(17) * 10 + c(18) > 59) return false;
  if (lastDay !== '' && s.startsWith(lastDay)) return true;
  if (!(d(0) && d(1) && d(2) && d(3) && d(5) && d(6) && d(8) && d(9))) return false;
  const y = c(0) * 1000 + c(1) * 100 + c(2) * 10 + c(3);
  const mo = c(5) * 10 + c(6);
  const dd = c(8) * 10 + c(9);
  if (y < 1 || mo < 1 || mo > 12 || dd < 1 || dd > new Date(Date.UTC(y, mo, 0)).getUTCDate()) return false;
  lastDay = s.slice(0, 10);
  return true;
}

function pad(n: number, w = 2): string {
  return String(n).padStart(w, '0');
}

/**
 * Parse SQLite DATETIME text into PostgreSQL's own ISO output form in UTC:
 * `YYYY-MM-DD HH:MM:SS[.ffffff]+00` (timestamptz) or without `+00`
 * (timestamp). No zone = UTC. Returns a TypeProblem when the text is not a
 * date SQLite's date functions would accept or names an impossible date.
 * More than 6 fractional digits is a problem (PostgreSQL would round).
 */
export function convertDateTime(s: string, withZone: boolean): string | TypeProblem {
  if (s.length === 19 && isPlainDateTime(s)) return withZone ? `${s}+00` : s;
  const m = DT.exec(s.trim());
  if (!m) return { problem: `not a DATETIME text (expected YYYY-MM-DD HH:MM:SS, UTC)` };
  const year = +m[1]!,
    month = +m[2]!,
    day = +m[3]!;
  const hh = m[4] ? +m[4] : 0,
    mi = m[5] ? +m[5] : 0,
    ss = m[6] ? +m[6] : 0;
  const frac = m[7] ?? '';
  if (frac.length > 6 && /[1-9]/.test(frac.slice(6))) return { problem: 'more than microsecond precision' };
  if (year < 1 || month < 1 || month > 12 || day < 1 || hh > 23 || mi > 59 || ss > 59)
    return { problem: 'impossible date or time' };
  const dim = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (day > dim) return { problem: 'impossible date' };
  let offsetMin = 0;
  const z = m[8];
  if (z && z.toUpperCase() !== 'Z') {
    const sign = z[0] === '-' ? -1 : 1;
    const digits = z.slice(1).replace(':', '');
    const oh = +digits.slice(0, 2),
      om = digits.length > 2 ? +digits.slice(2, 4) : 0;
    if (oh > 15 || om > 59) return { problem: 'impossible zone offset' };
    offsetMin = sign * (oh * 60 + om);
  }
  let y = year,
    mo = month,
    d = day,
    h = hh,
    mn = mi;
  if (offsetMin !== 0) {
    const t = new Date(0);
    t.setUTCFullYear(year, month - 1, day);
    t.setUTCHours(hh, mi - offsetMin, ss, 0);
    y = t.getUTCFullYear();
    mo = t.getUTCMonth() + 1;
    d = t.getUTCDate();
    h = t.getUTCHours();
    mn = t.getUTCMinutes();
    if (y < 1 || y > 9999) return { problem: 'date out of range' };
  }
  const micros = frac.padEnd(6, '0').slice(0, 6).replace(/0+$/, '');
  return `${pad(y, 4)}-${pad(mo)}-${pad(d)} ${pad(h)}:${pad(mn)}:${pad(ss)}${micros ? `.${micros}` : ''}${withZone ? '+00' : ''}`;
}

function utf8Len(s: string): number {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the ASCII range test is the point
  return /^[\x00-\x7f]*$/.test(s) ? s.length : Buffer.byteLength(s);
}

/** jsonb's key order: shorter (in UTF-8 bytes) first, then bytewise. */
function jsonbKeyOrder(a: string, b: string): number {
  const la = utf8Len(a);
  const lb = utf8Len(b);
  if (la !== lb) return la - lb;
  if (la === a.length && lb === b.length) return a < b ? -1 : a > b ? 1 : 0;
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

// Key orders seen so far, by the keys' original order joined with NUL: JSON
// columns usually repeat a few shapes, so sorting is done once per shape.
const orderCache = new Map<string, string[]>();

function jsonbOrdered(v: unknown): unknown {
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) {
    for (const x of v) if (x !== null && typeof x === 'object') return v.map(jsonbOrdered);
    return v;
  }
  const own = Object.keys(v as object);
  // the count first: {} and {"": ...} must not share an entry
  const sig = `${own.length}\u0000${own.join('\u0000')}`;
  let keys = orderCache.get(sig);
  if (!keys) {
    keys = [...own].sort(jsonbKeyOrder);
    if (orderCache.size < 10_000) orderCache.set(sig, keys);
  }
  const o: Record<string, unknown> = {};
  for (const k of keys) o[k] = jsonbOrdered((v as Record<string, unknown>)[k]);
  return o;
}

/**
 * The checksum's canonical rendering of a parsed JSON value: its keys put in
 * jsonb's order (what PostgreSQL's output already has), then JSON.stringify.
 * Both sides pass their text through JSON.parse, so number formatting and
 * JS's own key enumeration order apply identically on both sides.
 */
export function canonicalJson(v: unknown): string {
  return JSON.stringify(jsonbOrdered(v)) ?? 'null';
}

/** jsonb's order for two ASCII keys (shorter first, then bytewise): negative when `a` comes first. */
function asciiKeyOrder(s: string, a0: number, a1: number, b0: number, b1: number): number {
  if (a1 - a0 !== b1 - b0) return a1 - a0 - (b1 - b0);
  for (let i = 0; i < a1 - a0; i++) {
    const d = s.charCodeAt(a0 + i) - s.charCodeAt(b0 + i);
    if (d !== 0) return d;
  }
  return 0;
}

/**
 * True when `s` is valid JSON that is already its own canonical form, i.e.
 * `canonicalJson(JSON.parse(s)) === s`: compact (no whitespace), object keys
 * ASCII, unique and in jsonb's order, not array-index-like, numbers as JS
 * prints them, strings without escapes or control characters (lone
 * surrogates excluded). What JSON.stringify writes for flat records usually
 * is. One scan, no parse; anything else returns false (the caller parses).
 */
// long: one scanner for the whole grammar, kept in one loop (db copy's per-value hot path).
export function isCanonicalJson(s: string): boolean {
  const n = s.length;
  // per open container: 1 = object, 2 = array; and for objects the previous key's [start, end)
  const kind: number[] = [];
  const prevKey: number[] = [];
  let i = 0;
  let expectValue = true;
  while (i < n) {
    const c = s.charCodeAt(i);
    if (expectValue) {
      if (c === 123 || c === 91) {
        kind.push(c === 123 ? 1 : 2);
        prevKey.push(-1, -1);
        i++;
        const close = c === 123 ? 125 : 93;
        if (s.charCodeAt(i) === close) {
          kind.pop();
          prevKey.length -= 2;
          i++;
          expectValue = false;
          continue;
        }
        if (c === 91) continue; // first element: a value
        // first key: fall through to the key parser below
      } else if (c === 34) {
        const e = scanString(s, i + 1);
        if (e < 0) return false;
        i = e + 1;
        expectValue = false;
        continue;
      } else if (c === 45 || (c >= 48 && c <= 57)) {
        let j = i + 1;
        while (j < n) {
          const d = s.charCodeAt(j);
          if ((d >= 48 && d <= 57) || d === 46 || d === 101 || d === 69 || d === 43 || d === 45) j++;
          else break;
        }
        const tok = s.slice(i, j);
        if (String(Number(tok)) !== tok) return false;
        i = j;
        expectValue = false;
        continue;
      } else if (s.startsWith('true', i) || s.startsWith('null', i)) {
        i += 4;
        expectValue = false;
        continue;
      } else if (s.startsWith('false', i)) {
        i += 5;
        expectValue = false;
        continue;
      } else return false;
    } else {
      const top = kind.length - 1;
      if (top < 0) return false; // text after the value
      if (c === (kind[top] === 1 ? 125 : 93)) {
        kind.pop();
        prevKey.length -= 2;
        i++;
        continue;
      }
      if (c !== 44) return false;
      i++;
      if (kind[top] === 2) {
        expectValue = true;
        continue;
      }
    }
    // an object key at s[i], then ':'
    if (s.charCodeAt(i) !== 34) return false;
    const k0 = i + 1;
    let k1 = k0;
    let digits = true;
    for (;;) {
      if (k1 >= n) return false;
      const d = s.charCodeAt(k1);
      if (d === 34) break;
      if (d < 0x20 || d > 0x7e || d === 92) return false;
      if (d < 48 || d > 57) digits = false;
      k1++;
    }
    if (digits && k1 > k0 && k1 - k0 <= 10) return false; // array-index-like: JS enumerates it first
    const p = prevKey.length - 2;
    if (prevKey[p]! >= 0 && asciiKeyOrder(s, prevKey[p]!, prevKey[p + 1]!, k0, k1) >= 0) return false;
    prevKey[p] = k0;
    prevKey[p + 1] = k1;
    if (s.charCodeAt(k1 + 1) !== 58) return false;
    i = k1 + 2;
    expectValue = true;
  }
  return !expectValue && kind.length === 0;
}

/** The index of the closing quote of a JSON string starting at `i` (after its quote), or -1 if it needs escapes or is not canonical. */
function scanString(s: string, i: number): number {
  for (; i < s.length; i++) {
    const d = s.charCodeAt(i);
    if (d === 34) return i;
    if (d < 0x20 || d === 92 || (d >= 0xd800 && d <= 0xdfff) || d === 0x7f) return -1;
  }
  return -1;
}

const LONE_SURROGATE = /\\u(?:[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F])|[dD][c-fC-F][0-9a-fA-F]{2})/;

/** Validate JSON text for jsonb. Returns the parsed value or a TypeProblem. */
export function parseJsonForJsonb(s: string): { value: unknown } | TypeProblem {
  let value: unknown;
  try {
    value = JSON.parse(s);
  } catch (err) {
    return { problem: `invalid JSON (${(err as Error).message.replace(/\s+/g, ' ').slice(0, 80)})` };
  }
  if (s.includes('\\u')) {
    if (/\\u0000/.test(s)) return { problem: 'JSON contains \\u0000, which jsonb cannot store' };
    // a high surrogate escape not followed by a low one, or a low one on its own
    const stripped = s.replace(/\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}/g, '');
    if (LONE_SURROGATE.test(stripped))
      return { problem: 'JSON contains an unpaired surrogate escape, which jsonb rejects' };
  }
  return { value };
}

/** The result of converting one value: the COPY field and, for json, the canonical form. */
export interface Converted {
  field: string;
  /** Present only when the checksum's canonical form differs from `field` (json). */
  canonical?: string;
}

function describe(v: unknown): string {
  if (typeof v === 'bigint') return 'INTEGER';
  if (typeof v === 'number') return 'REAL';
  if (typeof v === 'string') return 'TEXT';
  if (Buffer.isBuffer(v)) return 'BLOB';
  return typeof v;
}

/** Short preview of a bad value for reports (never the whole value). */
export function preview(v: unknown): string {
  if (v === null) return 'NULL';
  if (Buffer.isBuffer(v)) return `<${v.length} bytes>`;
  const s = typeof v === 'string' ? JSON.stringify(v) : String(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/**
 * Convert one non-null SQLite value for a target column of `kind`.
 * Returns the COPY field (escaped) or a TypeProblem naming what is wrong.
 */
export function convertValue(v: unknown, kind: ColumnKind): Converted | TypeProblem {
  switch (kind) {
    case 'int2':
    case 'int4':
    case 'int8': {
      if (typeof v !== 'bigint') return { problem: `${describe(v)} value in an integer column` };
      const [lo, hi] = INT_RANGE[kind];
      if (v < lo || v > hi) return { problem: `integer out of range for ${kind}` };
      return { field: v.toString() };
    }
    case 'float':
    case 'numeric': {
      if (typeof v === 'number') return { field: formatFloat(v) };
      if (typeof v === 'bigint') {
        if (kind === 'numeric') return { field: v.toString() };
        if (v > MAX_EXACT || v < -MAX_EXACT)
          return { problem: 'integer not exactly representable as double precision' };
        return { field: formatFloat(Number(v)) };
      }
      return { problem: `${describe(v)} value in a REAL column` };
    }
    case 'text': {
      if (typeof v !== 'string') return { problem: `${describe(v)} value in a TEXT column` };
      if (v.includes('\u0000')) return { problem: 'text contains a NUL character, which PostgreSQL cannot store' };
      return { field: escapeCopyText(v) };
    }
    case 'timestamptz':
    case 'timestamp': {
      if (typeof v !== 'string') return { problem: `${describe(v)} value in a DATETIME column (expected UTC text)` };
      const r = convertDateTime(v, kind === 'timestamptz');
      return typeof r === 'string' ? { field: r } : r;
    }
    case 'json': {
      if (typeof v !== 'string') return { problem: `${describe(v)} value in a JSON column` };
      const r = parseJsonForJsonb(v);
      if ('problem' in r) return r;
      if (v.includes('\u0000')) return { problem: 'JSON text contains a NUL character' };
      return { field: escapeCopyText(v), canonical: canonicalJson(r.value) };
    }
    case 'bool': {
      if (v === 0n) return { field: 'f' };
      if (v === 1n) return { field: 't' };
      return { problem: `${describe(v)} ${preview(v)} in a boolean column (expected 0 or 1)` };
    }
    case 'bytea': {
      if (!Buffer.isBuffer(v)) return { problem: `${describe(v)} value in a BLOB column` };
      return { field: `\\\\x${v.toString('hex')}` };
    }
    default: {
      if (typeof v === 'string') {
        if (v.includes('\u0000')) return { problem: 'text contains a NUL character' };
        return { field: escapeCopyText(v) };
      }
      if (typeof v === 'bigint') return { field: v.toString() };
      if (typeof v === 'number') return { field: formatFloat(v) };
      if (Buffer.isBuffer(v)) return { field: `\\\\x${v.toString('hex')}` };
      return { problem: `unsupported value ${describe(v)}` };
    }
  }
}

/**
 * Normalise one field read back from PostgreSQL (COPY TO text output with
 * DateStyle ISO, TimeZone UTC, bytea_output hex) to the canonical form the
 * source side produced. Only float/numeric and json need work.
 */
export function canonicalFromTarget(field: string, kind: ColumnKind): string {
  if (field === '\\N') return field;
  // PostgreSQL prints float8 in fixed notation only for 1e-4 <= |x| < 1e15, where
  // JS prints the same shortest digits the same way: only exponent forms need work.
  if (kind === 'float') return field.includes('e') ? formatFloat(Number(field)) : field;
  if (kind === 'numeric') return formatFloat(Number(field));
  if (kind === 'json') {
    const text = unescapeCopyText(field);
    // PostgreSQL's jsonb output is already in jsonb key order; compact it without parsing when possible.
    return compactJsonbText(text) ?? JSON.stringify(JSON.parse(text)) ?? 'null';
  }
  return field;
}

const INDEX_KEY = /^(?:0|[1-9]\d{0,8})$/;

/**
 * JSON.stringify(JSON.parse(t)) for `t` in PostgreSQL's jsonb output format
 * (`{"a": 1, "b": [true, null]}`: ", " and ": " separators, canonical string
 * escapes, numbers without exponents), computed by a single scan: spaces
 * outside strings are dropped and each number is re-rendered the way JS
 * would. Returns null (caller parses instead) for a key that looks like an
 * array index (JS would enumerate it first) or anything unexpected.
 */
export function compactJsonbText(t: string): string | null {
  let out = '';
  let i = 0;
  const n = t.length;
  let segStart = 0;
  while (i < n) {
    const c = t.charCodeAt(i);
    if (c === 34) {
      // a string: copy up to the closing quote (escapes are already canonical)
      let j = i + 1;
      for (;;) {
        if (j >= n) return null;
        const d = t.charCodeAt(j);
        if (d === 92) j += 2;
        else if (d === 34) break;
        else j++;
      }
      // a key that JS would reorder (array-index-like): let the caller parse
      let k = j + 1;
      while (k < n && t.charCodeAt(k) === 32) k++;
      if (k < n && t.charCodeAt(k) === 58 && INDEX_KEY.test(t.slice(i + 1, j))) return null;
      i = j + 1;
      continue;
    }
    if (c === 32 || c === 10 || c === 9 || c === 13) {
      out += t.slice(segStart, i);
      i++;
      segStart = i;
      continue;
    }
    if (c === 45 || (c >= 48 && c <= 57)) {
      let j = i + 1;
      while (j < n) {
        const d = t.charCodeAt(j);
        if ((d >= 48 && d <= 57) || d === 46 || d === 101 || d === 69 || d === 43 || d === 45) j++;
        else break;
      }
      const tok = t.slice(i, j);
      const x = Number(tok);
      const js = Number.isFinite(x) ? String(x) : 'null';
      if (js !== tok) {
        out += t.slice(segStart, i) + js;
        segStart = j;
      }
      i = j;
      continue;
    }
    i++;
  }
  return out + t.slice(segStart);
}

/** Undo COPY text escaping (the subset PostgreSQL writes, plus octal/hex forms). */
export function unescapeCopyText(s: string): string {
  if (!s.includes('\\')) return s;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    if (ch !== '\\' || i === s.length - 1) {
      out += ch;
      continue;
    }
    const n = s[++i]!;
    switch (n) {
      case 't':
        out += '\t';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'v':
        out += '\v';
        break;
      default:
        out += n;
    }
  }
  return out;
}
