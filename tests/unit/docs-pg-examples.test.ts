/**
 * The docs' own configuration examples validate as written (#18 item 7): every
 * `phase4:` YAML block and every block of PG_* environment assignments in
 * docs/*.md and README.md goes through the real loader (loadConfig), and a
 * PostgreSQL example must really select PostgreSQL.
 */
import { describe, it, expect } from 'vitest';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../../src/config/loader.js';
import { tmpDir } from '../helpers/tmp.js';

const root = path.resolve(__dirname, '../..');
const docs = [
  'README.md',
  ...readdirSync(path.join(root, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

interface Example {
  where: string;
  kind: 'yaml' | 'env';
  text: string;
}

/** Fenced code blocks with the line of their opening fence. */
function blocks(file: string): Array<{ line: number; lines: string[] }> {
  const out: Array<{ line: number; lines: string[] }> = [];
  const lines = readFileSync(path.join(root, file), 'utf8').split('\n');
  let open: { line: number; indent: number; lines: string[] } | null = null;
  lines.forEach((l, i) => {
    const fence = /^(\s*)```/.exec(l);
    if (fence && !open) open = { line: i + 1, indent: fence[1]!.length, lines: [] };
    else if (fence && open) {
      out.push(open);
      open = null;
    } else if (open) open.lines.push(l.slice(Math.min(open.indent, l.length - l.trimStart().length)));
  });
  return out;
}

const ASSIGN = /^(?:export\s+)?(?:[A-Z][A-Z0-9_]*=\S+\s*)+(?:#.*)?$/;

/** The `phase4:` document of a block (from that line to the first line indented less), and its runs of assignment lines that set a PG_ variable. */
function examples(file: string): Example[] {
  const out: Example[] = [];
  for (const b of blocks(file)) {
    const start = b.lines.findIndex((l) => /^\s*phase4:\s*$/.test(l));
    if (start >= 0) {
      const indent = b.lines[start]!.length - b.lines[start]!.trimStart().length;
      const doc = [b.lines[start]!.slice(indent)];
      for (const l of b.lines.slice(start + 1)) {
        if (l.trim() && l.length - l.trimStart().length <= indent) break;
        doc.push(l.slice(indent));
      }
      out.push({ where: `${file}:${b.line + start + 1}`, kind: 'yaml', text: doc.join('\n') });
    }
    let run: string[] = [];
    let runLine = 0;
    const flush = () => {
      if (run.some((l) => /\bPG_[A-Z_]+=/.test(l)))
        out.push({ where: `${file}:${runLine}`, kind: 'env', text: run.join('\n') });
      run = [];
    };
    b.lines.forEach((l, i) => {
      if (ASSIGN.test(l.trim())) {
        if (!run.length) runLine = b.line + i + 1;
        run.push(l.trim());
      } else flush();
    });
    flush();
  }
  return out;
}

/** `export A=1 B=2   # note` -> { A: '1', B: '2' }. */
function envOf(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split('\n')) {
    for (const m of line.replace(/#.*$/, '').matchAll(/([A-Z][A-Z0-9_]*)=(\S+)/g)) env[m[1]!] = m[2]!;
  }
  return env;
}

const all = docs.flatMap(examples);
const isPg = (e: Example) => /postgresql|\bPG_/.test(e.text);

describe("the docs' configuration examples", () => {
  it('finds the PostgreSQL examples (YAML and environment) the docs show', () => {
    const pg = all.filter(isPg).map((e) => `${e.where} ${e.kind}`);
    expect(pg.filter((w) => w.endsWith('yaml')).length).toBeGreaterThanOrEqual(1);
    expect(pg.filter((w) => w.endsWith('env')).length).toBeGreaterThanOrEqual(2);
  });

  it.each(all.map((e) => [e.where, e.kind, e] as const))('%s (%s) validates as written', (_w, _k, e) => {
    const cwd = tmpDir('docs-cfg');
    let loaded: ReturnType<typeof loadConfig>;
    if (e.kind === 'yaml') {
      writeFileSync(path.join(cwd, 'phase4-config.yml'), `${e.text}\n`);
      loaded = loadConfig({ cwd, env: {} });
    } else {
      loaded = loadConfig({ cwd, env: envOf(e.text) });
    }
    if (isPg(e)) {
      expect(loaded.config.database.type, `${e.where} must select PostgreSQL`).toBe('postgresql');
      expect(loaded.config.database.postgresql.enabled).toBe(true);
    }
  });
});
