/**
 * Help that teaches: every command's --help ends with 1-3 examples that name
 * real commands and flags; the man page is rendered from the same tree
 * (every command, option and example in it).
 */
import { describe, it, expect } from 'vitest';
import type { Command } from 'commander';
import { buildProgram, groupOf } from '../../src/cli.js';
import { commandPath, examplesOf, visibleOptions, walkCommands } from '../../src/commands/completion/help.js';
import { renderManPage } from '../../src/commands/completion/manpage.js';

function helpOf(c: Command): string {
  let out = '';
  c.configureOutput({ writeOut: (s) => (out += s), writeErr: (s) => (out += s) });
  c.outputHelp();
  return out;
}

/** The command an example runs, and the flags it passes (global flags allowed anywhere). */
function resolveExample(root: Command, example: string): { cmd: Command; unknown: string[] } {
  const words = example
    .replace(/\s+#.*$/, '')
    .split(/\s+/)
    .slice(1); // drop `wks`
  let cmd = root;
  const unknown: string[] = [];
  const known = (c: Command): Set<string> =>
    new Set(
      [...visibleOptions(c), ...visibleOptions(root)].flatMap((o) => [o.long, o.short].filter(Boolean) as string[]),
    );
  for (const w of words) {
    if (w === '&&') break;
    if (w.startsWith('-')) {
      if (!known(cmd).has(w)) unknown.push(w);
      continue;
    }
    const sub = cmd.commands.find((s) => s.name() === w);
    if (sub) cmd = sub;
  }
  return { cmd, unknown };
}

describe('--help examples', () => {
  const program = buildProgram();
  const all = walkCommands(program);

  it('covers every command (the root and every group too)', () => {
    expect(all.length).toBeGreaterThan(40);
    const missing = all.filter((c) => examplesOf(c).length === 0).map((c) => commandPath(c) || '(root)');
    expect(missing).toEqual([]);
    const tooMany = all.filter((c) => examplesOf(c).length > 3).map((c) => commandPath(c) || '(root)');
    expect(tooMany).toEqual([]);
  });

  it('ends every --help with its examples', () => {
    for (const c of all) {
      const text = helpOf(c).trimEnd();
      const ex = examplesOf(c);
      const block = `Examples:\n${ex.map((e) => `  $ ${e}`).join('\n')}`;
      expect(text.endsWith(block), `wks ${commandPath(c)} --help:\n${text}`).toBe(true);
    }
  });

  it('only shows real commands and flags in the examples', () => {
    for (const c of all) {
      for (const e of examplesOf(c)) {
        const { cmd, unknown } = resolveExample(program, e);
        expect(unknown, e).toEqual([]);
        if (c.parent) expect(commandPath(cmd), e).not.toBe(''); // a command's examples run a command
      }
    }
  });
});

describe('the tree built for a named command', () => {
  it('is its group only, with the same help, flags and examples as in the whole tree', () => {
    const whole = buildProgram();
    const groups = whole.commands.map((c) => c.name()).filter((n) => !n.startsWith('_') && n !== 'completion');
    expect(groups.length).toBeGreaterThan(10);
    for (const name of groups) {
      const argv = ['node', 'wks', name, '--json'];
      expect(groupOf(argv)).toBe(name);
      const part = buildProgram(groupOf(argv));
      expect(part.commands.map((c) => c.name())).toEqual([name]);
      const inWhole = walkCommands(whole.commands.find((c) => c.name() === name)!);
      const inPart = walkCommands(part.commands[0]!);
      expect(inPart.map(commandPath)).toEqual(inWhole.map(commandPath));
      for (const [i, c] of inPart.entries()) expect(helpOf(c)).toBe(helpOf(inWhole[i]!));
      expect(visibleOptions(part).map((o) => o.flags)).toEqual(visibleOptions(whole).map((o) => o.flags));
    }
  });

  it('is the whole tree for options first, help, completion, an unknown name or no command', () => {
    for (const args of [
      ['--json', 'lock', 'list'],
      ['help', 'lock'],
      ['completion', 'bash'],
      ['lokc'],
      [],
      ['_backup-ids'],
    ])
      expect(groupOf(['node', 'wks', ...args]), args.join(' ')).toBeUndefined();
  });
});

describe('man page', () => {
  it('is rendered from the same tree: every command, option and example', () => {
    const program = buildProgram();
    const page = renderManPage(program, '9.9.9', '2026-01-01');
    expect(page).toMatch(/^\.TH WKS 1 "2026-01-01" "wks 9\.9\.9"/m);
    const unroff = (s: string): string => s.replace(/\\-/g, '-').replace(/\\e/g, '\\');
    const text = unroff(page);
    for (const c of walkCommands(program)) {
      if (c.parent) expect(text).toContain(`.SS wks ${commandPath(c)}`);
      for (const o of visibleOptions(c)) if (o.long !== '--help') expect(text).toContain(`.B ${o.flags}`);
      for (const e of examplesOf(c)) expect(text).toContain(e);
    }
    // The hidden helper of the completion scripts is not documented.
    expect(text).not.toContain('_backup-ids');
  });
});
