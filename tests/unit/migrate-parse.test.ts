import { describe, it, expect } from 'vitest';
import { checksum, normalizeForChecksum, parseMigration, splitStatements } from '../../src/migrate/parse.js';
import { compareVersions } from '../../src/migrate/source.js';
import { rewritePlaceholders } from '../../src/db/placeholders.js';
import { parseDbTime, formatSqliteTime, dbNow, toDbTime } from '../../src/db/time.js';

describe('dbmate format', () => {
  it('reads up and down sections with their options and start lines', () => {
    const text =
      '-- a comment\n-- migrate:up transaction:false\nCREATE TABLE a (x INT);\n\n-- migrate:down\nDROP TABLE a;\n';
    const p = parseMigration(text, 'f.sql');
    expect(p.up.options.transaction).toBe(false);
    expect(p.up.startLine).toBe(3);
    expect(p.up.sql.trim()).toBe('CREATE TABLE a (x INT);');
    expect(p.down?.options.transaction).toBe(true);
    expect(p.down?.sql.trim()).toBe('DROP TABLE a;');
  });

  it('rejects a file without an up marker, a duplicate marker and unknown options', () => {
    expect(() => parseMigration('CREATE TABLE a (x INT);', 'f.sql')).toThrow(/missing "-- migrate:up"/);
    expect(() => parseMigration('-- migrate:up\n-- migrate:up\n', 'f.sql')).toThrow(/second/);
    expect(() => parseMigration('-- migrate:up foo:bar\n', 'f.sql')).toThrow(/unknown option/);
  });

  it('parses CRLF files the same as LF files', () => {
    const lf = '-- migrate:up\nCREATE TABLE a (x INT);\n-- migrate:down\nDROP TABLE a;\n';
    const crlf = lf.replace(/\n/g, '\r\n');
    expect(parseMigration(crlf, 'f').up.sql).toBe(parseMigration(lf, 'f').up.sql);
  });
});

describe('checksums', () => {
  const base = '-- migrate:up\nCREATE TABLE a (x INT);\n-- migrate:down\nDROP TABLE a;\n';
  it('ignore CRLF, trailing whitespace, a BOM and trailing blank lines', () => {
    expect(checksum(base.replace(/\n/g, '\r\n'))).toBe(checksum(base));
    expect(checksum(base.replace(/;\n/g, ';   \t\n'))).toBe(checksum(base));
    expect(checksum(`\uFEFF${base}\n\n\n`)).toBe(checksum(base));
    expect(normalizeForChecksum('a \r\nb\r')).toBe('a\nb');
  });
  it('change when the SQL changes, even by one character or indentation', () => {
    expect(checksum(base.replace('INT', 'BIGINT'))).not.toBe(checksum(base));
    expect(checksum(base.replace('CREATE', '  CREATE'))).not.toBe(checksum(base));
  });
});

describe('splitStatements', () => {
  it('splits at top-level semicolons and reports each statement line', () => {
    const sql =
      "CREATE TABLE a (x TEXT DEFAULT ';');\n-- comment; with semicolon\nINSERT INTO a VALUES ('it''s; fine');\n\n/* block; */ SELECT 1;";
    const st = splitStatements(sql, 'sqlite', 10);
    expect(st.map((s) => s.line)).toEqual([10, 12, 14]);
    expect(st[1]!.sql).toBe("INSERT INTO a VALUES ('it''s; fine');");
    expect(st[2]!.sql).toBe('SELECT 1;');
  });

  it('keeps SQLite trigger bodies whole', () => {
    const sql =
      'CREATE TABLE t (x INT);\nCREATE TRIGGER tr AFTER INSERT ON t BEGIN\n  UPDATE t SET x = 1;\n  UPDATE t SET x = 2;\nEND;\nSELECT 2;';
    const st = splitStatements(sql, 'sqlite');
    expect(st).toHaveLength(3);
    expect(st[1]!.sql).toMatch(/^CREATE TRIGGER[\s\S]*END;$/);
    expect(st[2]!.line).toBe(6);
  });

  it('keeps PostgreSQL dollar-quoted bodies and E-strings whole', () => {
    const sql =
      "DO $$ BEGIN PERFORM 1; PERFORM 2; END $$;\nCREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql;\nSELECT E'a\\'; b';";
    const st = splitStatements(sql, 'postgres');
    expect(st).toHaveLength(3);
    expect(st[2]!.sql).toBe("SELECT E'a\\'; b';");
  });

  it('drops comment-only fragments', () => {
    expect(splitStatements('-- nothing here\n/* nor here */\n', 'sqlite')).toEqual([]);
  });
});

describe('versions', () => {
  it('compare numerically, not as text', () => {
    expect(compareVersions('0002', '10')).toBe(-1);
    expect(compareVersions('20260101000000', '0003')).toBe(1);
    expect(compareVersions('0001', '1')).toBe(0);
  });
});

describe('placeholders ($n -> ? for SQLite)', () => {
  it('rewrites placeholders outside strings, comments and identifiers, repeating reused ones', () => {
    const r = rewritePlaceholders(`SELECT $1, '$2', "$3", $2 -- $4\n, $1`);
    expect(r.sql).toBe(`SELECT ?, '$2', "$3", ? -- $4\n, ?`);
    expect(r.order).toEqual([0, 1, 0]);
  });
  it('rejects $0', () => {
    expect(() => rewritePlaceholders('SELECT $0')).toThrow(/\$0/);
  });
});

describe('timestamps', () => {
  it('parse SQLite UTC text, ISO strings, Dates and epoch numbers', () => {
    expect(parseDbTime('2026-01-02 03:04:05')?.toISOString()).toBe('2026-01-02T03:04:05.000Z');
    expect(parseDbTime('2026-01-02 03:04:05.120')?.toISOString()).toBe('2026-01-02T03:04:05.120Z');
    expect(parseDbTime('2026-01-02T03:04:05+02:00')?.toISOString()).toBe('2026-01-02T01:04:05.000Z');
    const d = new Date('2026-01-02T00:00:00Z');
    expect(parseDbTime(d)).toBe(d);
    expect(parseDbTime(1767312000)?.toISOString()).toBe('2026-01-02T00:00:00.000Z');
    expect(parseDbTime(1767312000000)?.toISOString()).toBe('2026-01-02T00:00:00.000Z');
    expect(parseDbTime(null)).toBeNull();
    expect(parseDbTime('')).toBeNull();
    expect(parseDbTime('yesterday')).toBeNull();
  });
  it('format for SQLite so that text order is time order', () => {
    expect(formatSqliteTime(new Date('2026-01-02T03:04:05Z'))).toBe('2026-01-02 03:04:05');
    expect(formatSqliteTime(new Date('2026-01-02T03:04:05.5Z'))).toBe('2026-01-02 03:04:05.500');
    expect('2026-01-02 03:04:05' < '2026-01-02 03:04:05.500').toBe(true);
    const d = new Date();
    expect(toDbTime(d, 'postgres')).toBe(d);
    expect(dbNow('sqlite')).toBe('CURRENT_TIMESTAMP');
    expect(dbNow('postgres')).toBe('now()');
  });
});
