import type { Command } from 'commander';
import { notBuilt } from '../context.js';

/** `wks metrics`: one Prometheus scrape, for cron + node_exporter. */
export function register(program: Command): void {
  program
    .command('metrics')
    .description('print one Prometheus scrape or write it to a textfile (not built yet)')
    .allowUnknownOption()
    .action(notBuilt('metrics'));
}
