import type { Command } from 'commander';
import { lazy } from '../context.js';

/** `wks metrics`: one Prometheus scrape, for cron + node_exporter. */
export function register(program: Command): void {
  program
    .command('metrics')
    .description('print one Prometheus scrape, or write it atomically to a textfile')
    .option(
      '--textfile <path>',
      'write to PATH atomically (for node_exporter --collector.textfile.directory; name it *.prom)',
    )
    .action(lazy(() => import('./metrics.js')));
}
