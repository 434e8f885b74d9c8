/**
 * Every command in the runbooks is run by a test or marked as an example that
 * cannot run here (#18): each code block of docs/backup-and-recovery.md,
 * docs/migrations.md and docs/serve.md with a `wks` command line is preceded by
 * `<!-- run: NAME -->` (tests/e2e/docs-commands.test.ts runs it as written,
 * scenario NAME), `<!-- tested: FILE -->` (that test runs it) or
 * `<!-- example: REASON -->`.
 */
import { describe, it, expect } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { docBlocks, wksLines } from '../helpers/doc-blocks.js';

const root = path.resolve(__dirname, '../..');
const DOCS = ['docs/backup-and-recovery.md', 'docs/migrations.md', 'docs/serve.md'];
const runner = readFileSync(path.join(root, 'tests/e2e/docs-commands.test.ts'), 'utf8');

describe('runbook commands are run by a test or marked as examples', () => {
  it.each(DOCS)('%s', (doc) => {
    const problems: string[] = [];
    const blocks = docBlocks(path.join(root, doc)).filter((b) => wksLines(b).length > 0);
    expect(blocks.length).toBeGreaterThan(0);
    for (const b of blocks) {
      const where = `${doc}:${b.line}`;
      const m = b.marker;
      if (!m) problems.push(`${where}: no <!-- run: | tested: | example: --> marker before ${wksLines(b)[0]}`);
      else if (m.kind === 'run' && !runner.includes(`scenario('${m.value}')`))
        problems.push(`${where}: tests/e2e/docs-commands.test.ts has no scenario('${m.value}')`);
      else if (m.kind === 'tested') {
        const file = path.join(root, m.value);
        if (!existsSync(file)) problems.push(`${where}: ${m.value} does not exist`);
        else if (!readFileSync(file, 'utf8').includes(doc)) problems.push(`${where}: ${m.value} does not name ${doc}`);
      } else if (m.kind === 'example' && m.value.length < 10) problems.push(`${where}: say why it cannot run here`);
    }
    expect(problems).toEqual([]);
  });

  it('every run: scenario of the runner is used by a doc', () => {
    const used = new Set(
      DOCS.flatMap((d) => docBlocks(path.join(root, d)))
        .filter((b) => b.marker?.kind === 'run')
        .map((b) => b.marker!.value),
    );
    const defined = [...runner.matchAll(/scenario\('([^']+)'\)/g)].map((m) => m[1]!);
    expect(defined.filter((n) => !used.has(n))).toEqual([]);
  });
});
