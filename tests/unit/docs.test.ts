/**
 * The words of the product: text in the repository names the platform's schema
 * (docs/platform-schema.md), never the document it came from or files that are not in the
 * repository, and every relative link in the Markdown docs points at a file (and heading) that exists.
 */
import { describe, it, expect } from 'vitest';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(__dirname, '../..');
const self = path.join(root, 'tests/unit/docs.test.ts');
// The built-in migrations' comments are covered by their checksums (src/migrate/parse.ts):
// rewording them would make every database that applied them report a changed migration.
const frozen = [path.join(root, 'src/migrate/sql')];

function files(dir: string, exts: RegExp): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.name === 'node_modules' || e.name.startsWith('.') || frozen.includes(p)) continue;
    if (e.isDirectory()) out.push(...files(p, exts));
    else if (exts.test(e.name) && p !== self) out.push(p);
  }
  return out;
}

const TEXT = /\.(ts|mjs|js|cjs|md|ya?ml|json|crontab|service|sql|sh)$/;
const productText = () => [
  ...['README.md', 'CHANGELOG.md', 'ARCHITECTURE.md', 'phase4-config.yml'].map((f) => path.join(root, f)),
  ...['src', 'docs', 'templates', 'bench', 'tests', 'bin', 'scripts', '.ci']
    .map((d) => path.join(root, d))
    .filter((d) => existsSync(d))
    .flatMap((d) => files(d, TEXT)),
];

// "seed" as a verb (seeding test data) or a PRNG seed is fine; these name the schema document.
const HISTORY = [
  /\bthe seed\b/i,
  /\bseed's\b/i,
  /\bseed[ -](schema|tables?|index(es)?|metrics?|variables?|rules?|file|names|keys|conditions|defaults?|statements|buckets|values?)\b/i,
  /\b(DESIGN|NOTES)\.md\b/,
  /\/work\/shared\b/,
];

describe('product text', () => {
  it("names the platform's schema, not the document it came from, and no file outside the repository", () => {
    const hits: string[] = [];
    for (const file of productText()) {
      const lines = readFileSync(file, 'utf8').split('\n');
      lines.forEach((line, i) => {
        if (HISTORY.some((re) => re.test(line))) hits.push(`${path.relative(root, file)}:${i + 1}: ${line.trim()}`);
      });
    }
    expect(hits).toEqual([]);
  });
});

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens. */
const slug = (heading: string) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/`/g, '')
    .replace(/[^\p{L}\p{N}\- _]/gu, '')
    .replace(/ /g, '-');

function anchors(file: string): Set<string> {
  const text = readFileSync(file, 'utf8').replace(/^```[\s\S]*?^```/gm, '');
  return new Set([...text.matchAll(/^#{1,6}\s+(.+)$/gm)].map((m) => slug(m[1])));
}

describe('Markdown links', () => {
  it('every relative link in README, ARCHITECTURE, CHANGELOG and docs/ resolves, anchors included', () => {
    const docs = [
      ...['README.md', 'ARCHITECTURE.md', 'CHANGELOG.md'].map((f) => path.join(root, f)),
      ...files(path.join(root, 'docs'), /\.md$/),
    ];
    const broken: string[] = [];
    let checked = 0;
    for (const file of docs) {
      const text = readFileSync(file, 'utf8').replace(/^```[\s\S]*?^```/gm, '');
      for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = m[1];
        if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // http:, https:, mailto:
        const [rel, anchor] = target.split('#');
        const dest = rel ? path.resolve(path.dirname(file), rel) : file;
        checked++;
        if (!existsSync(dest)) broken.push(`${path.relative(root, file)}: ${target} (no such file)`);
        else if (anchor && statSync(dest).isFile() && dest.endsWith('.md') && !anchors(dest).has(anchor))
          broken.push(`${path.relative(root, file)}: ${target} (no such heading)`);
      }
    }
    expect(checked).toBeGreaterThan(10);
    expect(broken).toEqual([]);
  });
});
