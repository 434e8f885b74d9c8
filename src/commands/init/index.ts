import type { Command } from 'commander';
import { lazy } from '../context.js';

/** `wks init`: write a commented phase4-config.yml. */
export function register(program: Command): void {
  program
    .command('init')
    .description('write a commented phase4-config.yml (never overwrites without --force)')
    .option('--path <file>', 'where to write it', 'phase4-config.yml')
    .option('--force', 'overwrite an existing file (the old one is kept as <file>.bak)')
    .action(lazy(() => import('./init.js')));
}
