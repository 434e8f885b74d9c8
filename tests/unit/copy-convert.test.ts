/**
 * `wks db copy` pure logic: value conversion for each target kind, the
 * canonical forms both sides of the checksum use, the checksum itself, and
 * the foreign-key order.
 */
import { describe, it, expect } from 'vitest';
import {
  convertValue,
  convertDateTime,
  canonicalJson,
  canonicalFromTarget,
  isCanonicalJson,
  escapeCopyText,
  unescapeCopyText,
  formatFloat,
  kindOf,
  parseJsonForJsonb,
  compactJsonbText,
} from '../../src/copy/convert.js';
import { TableChecksum } from '../../src/copy/checksum.js';
import { fkOrder, canonicalRowBytes, type TargetTable } from '../../src/copy/target.js';

const field = (v: unknown, k: Parameters<typeof convertValue>[1]) => {
  const r = convertValue(v, k);
  if ('problem' in r) throw new Error(`unexpected problem: ${r.problem}`);
  return r.field;
};
const problem = (v: unknown, k: Parameters<typeof convertValue>[1]) => {
  const r = convertValue(v, k);
  return 'problem' in r ? r.problem : null;
};

describe('floats', () => {
  it('render the shortest text that parses back to the same double', () => {
    for (const x of [
      0.1,
      1e-300,
      24.716952124633846,
      5e-324,
      1.7976931348623157e308,
      1 / 3,
      123456789.12345679,
      -2.5e-7,
    ]) {
      const f = field(x, 'float');
      expect(Number(f)).toBe(x);
      expect(Buffer.from(new Float64Array([Number(f)]).buffer).equals(Buffer.from(new Float64Array([x]).buffer))).toBe(
        true,
      );
    }
    expect(field(24.716952124633846, 'float')).toBe('24.716952124633846');
    expect(formatFloat(-0)).toBe('-0');
    expect(field(Infinity, 'float')).toBe('Infinity');
  });
  it('accept exactly representable integers, refuse the rest and text', () => {
    expect(field(42n, 'float')).toBe('42');
    expect(problem(2n ** 60n + 1n, 'float')).toMatch(/not exactly representable/);
    expect(problem('1.5', 'float')).toMatch(/TEXT value in a REAL column/);
  });
  it('read back from PostgreSQL in its own format normalise to the same canonical text', () => {
    expect(canonicalFromTarget('1e-05', 'float')).toBe(field(0.00001, 'float'));
    expect(canonicalFromTarget('1e+21', 'float')).toBe(field(1e21, 'float'));
    expect(canonicalFromTarget('-0', 'float')).toBe('-0');
    expect(canonicalFromTarget('\\N', 'float')).toBe('\\N');
  });
});

describe('integers', () => {
  it('take SQLite INTEGER only, within the target range', () => {
    expect(field(9007199254740993n, 'int8')).toBe('9007199254740993');
    expect(problem(2147483648n, 'int4')).toMatch(/out of range/);
    expect(problem('12abc', 'int8')).toMatch(/TEXT value in an integer column/);
    expect(problem(1.5, 'int8')).toMatch(/REAL value/);
  });
  it('booleans are 0/1 only', () => {
    expect(field(1n, 'bool')).toBe('t');
    expect(field(0n, 'bool')).toBe('f');
    expect(problem(2n, 'bool')).toMatch(/boolean/);
  });
});

describe('text', () => {
  it('escapes exactly what COPY text format needs, and round-trips', () => {
    const s = 'tab\there\nnew\\back\rcr ünïcødé 🎉';
    expect(escapeCopyText(s)).toBe('tab\\there\\nnew\\\\back\\rcr ünïcødé 🎉');
    expect(unescapeCopyText(escapeCopyText(s))).toBe(s);
    expect(escapeCopyText('\\N')).toBe('\\\\N'); // a literal backslash-N is not NULL
  });
  it('refuses NUL characters and non-text values', () => {
    expect(problem('a\u0000b', 'text')).toMatch(/NUL/);
    expect(problem(5n, 'text')).toMatch(/INTEGER value in a TEXT column/);
    expect(problem(Buffer.from('x'), 'text')).toMatch(/BLOB/);
  });
  it('bytea is hex, escaped for COPY', () => {
    expect(field(Buffer.from([1, 255]), 'bytea')).toBe('\\\\x01ff');
  });
});

describe('DATETIME -> timestamptz (UTC assumed)', () => {
  it('keeps the common form and states UTC', () => {
    expect(convertDateTime('2026-01-02 03:04:05', true)).toBe('2026-01-02 03:04:05+00');
    expect(convertDateTime('2026-01-02 03:04:05', false)).toBe('2026-01-02 03:04:05');
  });
  it('handles fractions, T separator, date-only and explicit zones', () => {
    expect(convertDateTime('2026-01-02 03:04:05.120', true)).toBe('2026-01-02 03:04:05.12+00');
    expect(convertDateTime('2026-01-02T03:04:05.123456Z', true)).toBe('2026-01-02 03:04:05.123456+00');
    expect(convertDateTime('2026-01-02', true)).toBe('2026-01-02 00:00:00+00');
    expect(convertDateTime('2026-01-02 01:30:00+02:00', true)).toBe('2026-01-01 23:30:00+00');
    expect(convertDateTime('2026-12-31T23:00:00-0130', true)).toBe('2027-01-01 00:30:00+00');
  });
  it('reports impossible or unparseable values', () => {
    expect(convertDateTime('2026-02-30 00:00:00', true)).toHaveProperty('problem');
    expect(convertDateTime('2024-02-29 00:00:00', true)).toBe('2024-02-29 00:00:00+00');
    expect(convertDateTime('2026-01-02 24:00:00', true)).toHaveProperty('problem');
    expect(convertDateTime('yesterday', true)).toHaveProperty('problem');
    expect(convertDateTime('2026-01-02 03:04:05.1234567', true)).toHaveProperty('problem');
    expect(problem(1700000000n, 'timestamptz')).toMatch(/DATETIME/);
  });
});

describe('isCanonicalJson (the JSON fast path of db copy)', () => {
  const slow = (s: string): boolean => {
    try {
      return canonicalJson(JSON.parse(s)) === s;
    } catch {
      return false;
    }
  };
  it('accepts exactly the texts that are valid JSON and their own canonical form', () => {
    const cases = [
      '{"a":1}',
      '{"method":"GET","endpoint":"/api/x","status_code":200}',
      '{"cpu":0.5,"mem":123,"note":"ok ✓"}',
      '{"b":1,"a":2}', // same length: bytewise order wants "a" first
      '{"aa":1,"b":2}', // shorter key first
      '{"a":1,"a":2}',
      '{"1":1,"a":2}',
      '{"a":1.0}',
      '{"a":1e2}',
      '{"a":-0}',
      '{"a":12345678901234567890}',
      '{"a":1e+21}',
      '{"a":1.5e-7}',
      '{"a": 1}',
      '{"a":"x\\"y"}',
      '{"a":"\\u00e9"}',
      '{"a":"😀"}',
      '{"a":[1,"x",true,false,null,{"b":{}}],"bb":[]}',
      '[{"b":1,"a":2}]',
      '[]',
      '{}',
      '"str"',
      '42',
      'null',
      'nul',
      '{"a":1',
      '{"a":1}}',
      '{"a":1,}',
      '[1,]',
      '{"a":tru}',
      '{"a":truex}',
      '{"":1,"a":2}',
      '{"a":01}',
      '{"a":.5}',
      '{"a":-}',
      '',
      ' {"a":1}',
    ];
    // never claims a text canonical that is not (it may decline one that is: index-like keys, emoji)
    for (const c of cases) if (isCanonicalJson(c)) expect(slow(c), c).toBe(true);
    const declined = cases.filter((c) => slow(c) && !isCanonicalJson(c));
    expect(declined).toEqual(['{"1":1,"a":2}', '{"a":"x\\"y"}', '{"a":"😀"}']);
    expect(cases.filter((c) => isCanonicalJson(c)).length).toBeGreaterThan(10);
  });
  it('canonicalJson keeps an empty key after an empty object (its key-order cache told them apart wrongly)', () => {
    expect(canonicalJson({})).toBe('{}');
    expect(canonicalJson({ '': 1 })).toBe('{"":1}');
  });
  it('agrees with parse + canonicalJson on random documents', () => {
    let seed = 7;
    const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
    const keys = ['a', 'b', 'id', 'ab', 'ba', 'cpu', '0', '10', 'x_y', 'é', ''];
    const value = (d: number): unknown => {
      const r = rnd();
      if (d > 2 || r < 0.3)
        return [1, -2.5, 1e21, 0.1, 'x', 'ü', true, null, 1.2345678901234567e19][Math.floor(rnd() * 9)];
      if (r < 0.5) return Array.from({ length: Math.floor(rnd() * 3) }, () => value(d + 1));
      const o: Record<string, unknown> = {};
      for (let i = Math.floor(rnd() * 4); i > 0; i--) o[keys[Math.floor(rnd() * keys.length)]!] = value(d + 1);
      return o;
    };
    let fast = 0;
    for (let i = 0; i < 3000; i++) {
      const text = JSON.stringify(value(0));
      const ok = isCanonicalJson(text);
      if (ok) expect(slow(text), text).toBe(true);
      else if (slow(text))
        expect(text, 'declined only for an index-like or non-ASCII key').toMatch(/"(\d+|[^"]*[^\x00-\x7f][^"]*)":/);
      if (ok) fast++;
    }
    expect(fast).toBeGreaterThan(300);
  });
});

describe('JSON -> jsonb', () => {
  it('reports invalid JSON and what jsonb cannot store', () => {
    expect(problem('{"a":', 'json')).toMatch(/invalid JSON/);
    expect(problem('{"a":"\\u0000"}', 'json')).toMatch(/\\u0000/);
    expect(parseJsonForJsonb('"\\ud83c\\udf89"')).toHaveProperty('value');
    expect(parseJsonForJsonb('"\\ud83c"')).toHaveProperty('problem');
  });
  it('the source canonical form equals the canonical form of PostgreSQL jsonb output', () => {
    const src = '{"region":"eu-1", "job":"wks","host":{"zz":1,"a":[1.50,2e2,"ü"]}}';
    const r = convertValue(src, 'json');
    if ('problem' in r) throw new Error(r.problem);
    expect(r.field).toBe(src); // the original text is what COPY sends
    // what PostgreSQL prints for that jsonb value: keys by length then bytes, ", " / ": "
    const pgOut = '{"job": "wks", "host": {"a": [1.50, 200, "ü"], "zz": 1}, "region": "eu-1"}';
    expect(canonicalFromTarget(escapeCopyText(pgOut), 'json')).toBe(r.canonical);
    expect(canonicalJson(JSON.parse('{"b":1,"a":2}'))).toBe('{"a":2,"b":1}');
  });
});

describe('compactJsonbText (target fast path)', () => {
  it('equals JSON.stringify(JSON.parse(x)) on PostgreSQL-formatted jsonb text, or declines', () => {
    const samples = [
      '{"a": 1, "b": [true, false, null], "cc": {"x": "y z", "yy": 1.50}}',
      '{"s": "quote \\" and \\\\ and \\n, \\t: keep", "n": -0, "e": 0.000001, "big": 12345678901234567890}',
      '[1, 2.0, "ü 🎉", {"k": []}, {}]',
      '"just a string with  spaces"',
      '100000000000000000000000',
      '-1.25',
      'null',
    ];
    for (const t of samples) expect(compactJsonbText(t)).toBe(JSON.stringify(JSON.parse(t)));
    expect(compactJsonbText('{"1": "a", "b": 2}')).toBeNull(); // JS would move the index-like key first
    expect(canonicalFromTarget('{"2": 1, "a": 2}', 'json')).toBe(JSON.stringify(JSON.parse('{"2": 1, "a": 2}')));
  });
});

describe('canonicalRowBytes (target byte path)', () => {
  const kinds = ['int8', 'float', 'json', 'text', 'timestamptz'] as const;
  const viaStrings = (line: string) =>
    line
      .split('\t')
      .map((f, i) => canonicalFromTarget(f, kinds[i]!))
      .join('\t');
  it('equals the string path, or declines', () => {
    const rows = [
      '1\t0.1\t{"job": "wks", "host": {"a": [1, 2, null]}, "region": "eu-1"}\tplain ü text\t2026-01-01 00:00:00+00',
      '2\t-12.5\t\\N\t\\N\t\\N',
      '3\t1e-300\t{"a": 1}\tx\t2026-01-01 00:00:00.5+00',
      '4\t7\t{"n": 1.50, "k": "v"}\tx\t2026-01-01 00:00:00+00',
      '5\t7\t{"1": "index-like key"}\tx\t2026-01-01 00:00:00+00',
      '6\t7\t{"s": "tab\\\\there"}\tx\t2026-01-01 00:00:00+00',
      '7\t7\t[-0, 12345678901234567890]\tx\t2026-01-01 00:00:00+00',
    ];
    const out = new Uint8Array(4096);
    let fast = 0;
    for (const r of rows) {
      const b = Buffer.from(r);
      const len = canonicalRowBytes(b, 0, b.length, [...kinds], out);
      if (len >= 0) {
        fast++;
        expect(Buffer.from(out.subarray(0, len)).toString()).toBe(viaStrings(r));
      }
    }
    expect(fast).toBe(2); // rows 1 and 2; the others decline (exponent, fraction, index key, escape, -0/long number)
  });
});

describe('kindOf', () => {
  it('maps information_schema types', () => {
    expect(kindOf('bigint', 'int8')).toBe('int8');
    expect(kindOf('double precision', 'float8')).toBe('float');
    expect(kindOf('timestamp with time zone', 'timestamptz')).toBe('timestamptz');
    expect(kindOf('jsonb', 'jsonb')).toBe('json');
    expect(kindOf('USER-DEFINED', 'citext')).toBe('other');
  });
});

describe('TableChecksum', () => {
  const digest = (rows: string[]) => {
    const c = new TableChecksum();
    for (const r of rows) c.add(r);
    return c.digest();
  };
  it('is independent of row order', () => {
    expect(digest(['1\ta', '2\tb', '3\t\\N'])).toBe(digest(['3\t\\N', '1\ta', '2\tb']));
  });
  it('changes with content, duplicates, NULL vs empty, and column boundaries', () => {
    const base = digest(['1\ta', '2\tb']);
    expect(digest(['1\ta', '2\tc'])).not.toBe(base);
    expect(digest(['1\ta', '2\tb', '2\tb'])).not.toBe(base);
    expect(digest(['1\ta', '2\tb', '2\tb', '2\tb'])).not.toBe(digest(['1\ta', '2\tb']));
    expect(digest(['1\t\\N'])).not.toBe(digest(['1\t']));
    expect(digest(['1\tab\tc'])).not.toBe(digest(['1\ta\tbc']));
    expect(digest([])).toBe('0000000000000000');
  });
});

describe('fkOrder', () => {
  const t = (name: string, references: string[]): [string, TargetTable] => [
    name,
    { name, columns: [], references, sequences: [] },
  ];
  const tables = new Map([
    t('users', []),
    t('workflows', ['users']),
    t('workflow_executions', ['workflows']),
    t('metrics', []),
    t('tracking', ['workflow_executions', 'users']),
  ]);
  it('puts referenced tables first, heavy ready tables early', () => {
    const order = fkOrder([...tables.keys()], tables, (n) => (n === 'metrics' ? 1000 : 0));
    expect(order[0]).toBe('metrics');
    for (const [n, tt] of tables)
      for (const r of tt.references) expect(order.indexOf(r)).toBeLessThan(order.indexOf(n));
  });
  it('ignores references outside the selection and reports cycles', () => {
    expect(fkOrder(['workflows'], tables)).toEqual(['workflows']);
    const cyc = new Map([t('a', ['b']), t('b', ['a'])]);
    expect(() => fkOrder(['a', 'b'], cyc)).toThrow(/cycle between: a, b/);
  });
});
