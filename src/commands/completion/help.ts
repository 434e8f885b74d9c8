/**
 * What `--help`, the completion scripts and the man page share: the command
 * tree itself (names, arguments, options, descriptions) plus the examples of
 * src/commands/completion/examples.ts. Nothing here is written twice.
 */
import type { Command, Option } from 'commander';
import { EXAMPLES } from './examples.js';

/** The path of a command without `wks` ('' for the root, 'backup drill' for a verb). */
export function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c?.parent; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** Every command of the tree, depth first, the root included; hidden commands left out. */
export function walkCommands(root: Command): Command[] {
  const out: Command[] = [];
  const visit = (c: Command): void => {
    out.push(c);
    for (const s of c.commands) if (!(s as unknown as { _hidden?: boolean })._hidden) visit(s);
  };
  visit(root);
  return out;
}

/** The options --help shows for a command (its own, plus commander's --help). */
export function visibleOptions(cmd: Command): readonly Option[] {
  return cmd.createHelp().visibleOptions(cmd);
}

/** The examples of a command ([] when it has none). */
export function examplesOf(cmd: Command): readonly string[] {
  return EXAMPLES[commandPath(cmd)] ?? [];
}

/** Append each command's examples to the end of its --help (call once, after every command is registered). */
export function attachExamples(root: Command): void {
  for (const c of walkCommands(root)) {
    const ex = examplesOf(c);
    if (ex.length) c.addHelpText('after', `\nExamples:\n${ex.map((e) => `  $ ${e}`).join('\n')}`);
  }
}
