import type { Command } from 'commander';
import { notBuilt } from '../context.js';

/** `wks serve`: the daemon (scheduler + /metrics /health /ready). */
export function register(program: Command): void {
  program
    .command('serve')
    .description('run the scheduler and serve /metrics, /health and /ready (not built yet)')
    .allowUnknownOption()
    .action(notBuilt('serve'));
}
