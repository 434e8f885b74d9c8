/**
 * The dbmate migration file format, checksums and statement splitting.
 *
 *   -- migrate:up [transaction:false]
 *   CREATE TABLE ...;
 *   -- migrate:down [transaction:false]
 *   DROP TABLE ...;
 *
 * Text before `-- migrate:up` is a free comment. Checksums are taken over the
 * whole file after normalising line endings (CRLF/CR -> LF), trailing
 * whitespace on each line, a leading BOM and trailing blank lines, so a CRLF
 * checkout or an editor's whitespace trimming never looks like an edit.
 */
import { createHash } from 'node:crypto';
import type { Dialect } from '../db/index.js';

export interface SectionOptions {
  /** false when the marker says `transaction:false`. */
  transaction: boolean;
}

export interface Section {
  sql: string;
  options: SectionOptions;
  /** 1-based line of the first line after the marker. */
  startLine: number;
}

export interface ParsedMigration {
  up: Section;
  down: Section | null;
}

export interface Statement {
  sql: string;
  /** 1-based line in the file where the statement starts. */
  line: number;
}

export class MigrationFormatError extends Error {}

/** Normalise text for checksumming (see module comment). */
export function normalizeForChecksum(text: string): string {
  return text
    .replace(/^\uFEFF/, '')
    .replace(/\r\n?/g, '\n')
    .split('\n')
    .map((l) => l.replace(/[ \t\f\v]+$/, ''))
    .join('\n')
    .replace(/\n+$/, '');
}

/** sha256 (hex) of the normalised text. */
export function checksum(text: string): string {
  return createHash('sha256').update(normalizeForChecksum(text), 'utf8').digest('hex');
}

const MARKER = /^--\s*migrate:(up|down)\b(.*)$/;

function parseOptions(rest: string, file: string, line: number): SectionOptions {
  const opts: SectionOptions = { transaction: true };
  for (const tok of rest.trim().split(/\s+/).filter(Boolean)) {
    const m = /^(\w+):(\w+)$/.exec(tok);
    if (!m)
      throw new MigrationFormatError(`${file}:${line}: cannot read option "${tok}" (expected e.g. transaction:false)`);
    if (m[1] === 'transaction') {
      if (m[2] !== 'true' && m[2] !== 'false')
        throw new MigrationFormatError(`${file}:${line}: transaction must be true or false`);
      opts.transaction = m[2] === 'true';
    } else {
      throw new MigrationFormatError(`${file}:${line}: unknown option "${m[1]}" (only transaction:false is supported)`);
    }
  }
  return opts;
}

/** Parse a dbmate-format file. Throws MigrationFormatError naming the file and line. */
export function parseMigration(text: string, file: string): ParsedMigration {
  const lines = text
    .replace(/^\uFEFF/, '')
    .replace(/\r\n?/g, '\n')
    .split('\n');
  const sections: Record<'up' | 'down', Section | undefined> = { up: undefined, down: undefined };
  let current: { kind: 'up' | 'down'; options: SectionOptions; startLine: number; body: string[] } | null = null;
  const flush = () => {
    if (current)
      sections[current.kind] = { sql: current.body.join('\n'), options: current.options, startLine: current.startLine };
  };
  lines.forEach((raw, i) => {
    const m = MARKER.exec(raw.trim());
    if (m) {
      const kind = m[1] as 'up' | 'down';
      if (sections[kind] || current?.kind === kind)
        throw new MigrationFormatError(`${file}:${i + 1}: a second "-- migrate:${kind}" marker`);
      flush();
      current = { kind, options: parseOptions(m[2] ?? '', file, i + 1), startLine: i + 2, body: [] };
    } else if (current) {
      current.body.push(raw);
    }
  });
  flush();
  if (!sections.up) throw new MigrationFormatError(`${file}: missing "-- migrate:up" marker (dbmate format)`);
  return { up: sections.up, down: sections.down ?? null };
}

/**
 * Split SQL into statements at top-level `;`, skipping quotes, comments and
 * PostgreSQL dollar quotes; SQLite CREATE TRIGGER bodies (BEGIN ... END;) are
 * kept whole. Fragments that are only comments/whitespace are dropped.
 * `startLine` is the file line of the first line of `sql`.
 */
export function splitStatements(sql: string, dialect: Dialect, startLine = 1): Statement[] {
  const out: Statement[] = [];
  let buf = '';
  let stmtLine = -1;
  let line = startLine;
  let i = 0;
  const n = sql.length;
  const push = () => {
    if (hasCode(buf)) out.push({ sql: stripLeadingComments(buf), line: stmtLine < 0 ? line : stmtLine });
    buf = '';
    stmtLine = -1;
  };
  const mark = () => {
    if (stmtLine < 0) stmtLine = line;
  };
  while (i < n) {
    const ch = sql[i]!;
    const run = ch === '\n' ? null : opaqueRun(sql, i, dialect, buf);
    if (run) {
      if (run.code) mark();
      const chunk = sql.slice(i, run.stop);
      buf += chunk;
      line += count(chunk);
      i = run.stop;
      continue;
    }
    buf += ch;
    i++;
    if (ch === '\n') line++;
    else if (ch === ';') {
      if (endsStatement(buf, dialect)) push();
    } else if (!/\s/.test(ch)) mark();
  }
  push();
  return out;
}

/**
 * A run that a `;` inside cannot end, starting at `i`: a comment (not code), a quoted string or
 * identifier, or a PostgreSQL dollar quote. Null when none starts there.
 */
function opaqueRun(sql: string, i: number, dialect: Dialect, buf: string): { stop: number; code: boolean } | null {
  const ch = sql[i]!;
  const next = sql[i + 1];
  const n = sql.length;
  if (ch === '-' && next === '-') {
    const end = sql.indexOf('\n', i);
    return { stop: end < 0 ? n : end, code: false };
  }
  if (ch === '/' && next === '*') {
    const close = sql.indexOf('*/', i + 2);
    return { stop: close < 0 ? n : close + 2, code: false };
  }
  if (ch === "'" || ch === '"' || ch === '`' || (ch === '[' && dialect === 'sqlite')) {
    const backslash = ch === "'" && dialect === 'postgres' && /(^|[^\w])[eE]$/.test(buf);
    return { stop: skipQuote(sql, i, ch === '[' ? ']' : ch, backslash), code: true };
  }
  if (ch === '$' && dialect === 'postgres') {
    const m = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(sql.slice(i, i + 64));
    if (m && !/[A-Za-z0-9_]$/.test(buf)) {
      const close = sql.indexOf(m[0], i + m[0].length);
      return { stop: close < 0 ? n : close + m[0].length, code: true };
    }
  }
  return null;
}

/** A `;` ends the statement in `buf`, except inside a SQLite CREATE TRIGGER body (BEGIN ... END;). */
function endsStatement(buf: string, dialect: Dialect): boolean {
  if (dialect !== 'sqlite') return true;
  const code = stripComments(buf);
  return !/^\s*CREATE\s+(?:TEMP\s+|TEMPORARY\s+)?TRIGGER\b/i.test(code) || /\bEND\s*;$/i.test(code.trimEnd());
}

function count(s: string): number {
  let c = 0;
  for (let k = 0; k < s.length; k++) if (s.charCodeAt(k) === 10) c++;
  return c;
}

function skipQuote(sql: string, start: number, close: string, backslash: boolean): number {
  let i = start + 1;
  while (i < sql.length) {
    const c = sql[i];
    if (backslash && c === '\\') {
      i += 2;
      continue;
    }
    if (c === close) {
      if (sql[i + 1] === close && close !== ']') {
        i += 2;
        continue;
      }
      return i + 1;
    }
    i++;
  }
  return sql.length;
}

/** Remove `--` and block comments (outside of any string awareness; used only for classification). */
function stripComments(s: string): string {
  return s.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/--[^\n]*/g, ' ');
}

/** Drop whitespace and comments before the first token, so `line` and `sql` start at the same place. */
function stripLeadingComments(s: string): string {
  let t = s;
  for (;;) {
    const m = /^\s*(?:--[^\n]*(?:\n|$)|\/\*[\s\S]*?\*\/)/.exec(t);
    if (!m) return t.trim();
    t = t.slice(m[0].length);
  }
}

function hasCode(s: string): boolean {
  return stripComments(s).replace(/;/g, '').trim().length > 0;
}
