import { Argument, type Command } from 'commander';
import { lazy } from '../context.js';

// The help tooling built from the command tree: examples at the end of every --help, and the man page.
export { attachExamples } from './help.js';
export { renderManPage } from './manpage.js';

/** `wks completion bash|zsh|fish`, plus the hidden helper the scripts call for backup ids. */
export function register(program: Command): void {
  program
    .command('completion')
    .description('print a shell completion script (subcommands, flags, backup ids) for bash, zsh or fish')
    .addArgument(new Argument('<shell>', 'the shell').choices(['bash', 'zsh', 'fish']))
    .action(lazy(() => import('./completion.js')));
  program
    .command('_backup-ids', { hidden: true })
    .description('print the backup ids of the catalog, one per line (used by the completion scripts)')
    .action(lazy(() => import('./ids.js')));
}
