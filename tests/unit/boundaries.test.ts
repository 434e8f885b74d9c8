/**
 * The boundary check of ARCHITECTURE.md (.dependency-cruiser.cjs, run by `npm run lint`) is itself
 * tested: the real config is run over small fixture trees that break one rule each (`npm run lint`
 * runs the same config over the real src/).
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from '../helpers/cli.js';
import { tmpDir } from '../helpers/tmp.js';

const DEPCRUISE = path.join(REPO, 'node_modules', '.bin', 'depcruise');

interface Violation {
  rule: { name: string };
  from: string;
  to: string;
}

/** Run the real boundary config over `cwd`'s src/ and return the violations. */
function cruise(cwd: string): Violation[] {
  let out: string;
  try {
    out = execFileSync(
      DEPCRUISE,
      ['src', '--config', path.join(REPO, '.dependency-cruiser.cjs'), '--output-type', 'json'],
      { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024 },
    );
  } catch (err) {
    // depcruise exits non-zero when it finds violations; the JSON is still on stdout.
    out = (err as { stdout: string }).stdout;
  }
  return (JSON.parse(out) as { summary: { violations: Violation[] } }).summary.violations;
}

/** A fixture tree: the repo's tsconfig and node_modules, plus the given source files. */
function fixture(files: Record<string, string>): string {
  const dir = tmpDir('wks-boundaries');
  copyFileSync(path.join(REPO, 'tsconfig.json'), path.join(dir, 'tsconfig.json'));
  symlinkSync(path.join(REPO, 'node_modules'), path.join(dir, 'node_modules'));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), text);
  }
  return dir;
}

describe('boundary check (ARCHITECTURE.md rules)', () => {
  it('fails when a domain file imports chalk', () => {
    const dir = fixture({
      'src/backup/index.ts': "export * from './create.js';\n",
      'src/backup/create.ts': "import chalk from 'chalk';\nexport const red = chalk.red('x');\n",
    });
    const v = cruise(dir);
    expect(v.map((x) => x.rule.name)).toContain('no-cli-libraries-below-the-face');
    expect(v.find((x) => x.rule.name === 'no-cli-libraries-below-the-face')?.from).toBe('src/backup/create.ts');
  }, 60_000);

  it('fails on domain -> face, adapter -> domain, a deep import and a cycle between areas', () => {
    const dir = fixture({
      'src/ui/index.ts': 'export const say = (s: string): string => s;\n',
      'src/backup/index.ts': "export * from './create.js';\n",
      'src/backup/create.ts':
        "import { say } from '../ui/index.js';\nimport { h } from '../health/index.js';\nexport const c = (): string => say(h());\n",
      'src/health/index.ts': "export * from './run.js';\n",
      'src/health/run.ts': "import { c } from '../backup/index.js';\nexport const h = (): string => typeof c;\n",
      'src/db/index.ts': "import { c } from '../backup/create.js';\nexport const d = c;\n",
    });
    const names = new Set(cruise(dir).map((x) => x.rule.name));
    expect(names).toContain('no-domain-to-face');
    expect(names).toContain('no-adapter-to-domain');
    expect(names).toContain('no-deep-imports-across-areas');
    expect(names).toContain('no-cycles-between-areas');
  }, 60_000);
});
