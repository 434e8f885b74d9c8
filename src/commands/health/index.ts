import type { Command } from 'commander';
import { notBuilt } from '../context.js';

/** `wks health`: one answer to "is the data layer safe?". */
export function register(program: Command): void {
  program
    .command('health')
    .description('check database, migrations, Redis, backups, workflows and locks (not built yet)')
    .allowUnknownOption()
    .action(notBuilt('health'));
}
