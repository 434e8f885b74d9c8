#!/usr/bin/env node
// Lists functions in src/ longer than a limit (default 80 lines). Exit 1 when any is over 120 lines,
// or over 80 lines without a comment directly above it that says why (containing "long:").
// Run by `npm run lint`.
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import ts from 'typescript';

const SOFT = 80;
const HARD = 120;
const files = execFileSync('git', ['ls-files', 'src/**/*.ts', 'src/*.ts'], { encoding: 'utf8' })
  .split('\n')
  .filter(Boolean);
let bad = 0;
for (const file of files) {
  let text;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    continue;
  }
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true);
  const visit = (node) => {
    if (ts.isFunctionLike(node) && node.body) {
      const start = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line;
      const end = sf.getLineAndCharacterOfPosition(node.end).line;
      const lines = end - start + 1;
      if (lines > SOFT) {
        const leading = text.slice(0, node.getStart(sf)).split('\n').slice(-8).join('\n');
        const reasoned =
          /long:/i.test(leading) ||
          /long:/i.test(node.getFullText(sf).slice(0, node.getStart(sf) - node.getFullStart()));
        const name =
          node.name?.getText(sf) ??
          (ts.isVariableDeclaration(node.parent) ? node.parent.name.getText(sf) : '(anonymous)');
        const verdict = lines > HARD ? 'over 120' : reasoned ? 'ok (reason given)' : 'over 80, no reason';
        if (lines > HARD || !reasoned) bad++;
        if (lines > HARD || !reasoned || process.argv.includes('-v'))
          console.log(`${file}:${start + 1} ${name} ${lines} lines: ${verdict}`);
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
}
if (bad) {
  console.error(
    `${bad} function(s) too long: split them, or say why in a "long: ..." comment above (never over ${HARD} lines)`,
  );
  process.exit(1);
}
