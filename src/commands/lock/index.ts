import type { Command } from 'commander';
import { lazy } from '../context.js';

/** `wks lock ...`: execution locks in Redis. */
export function register(program: Command): void {
  const g = program.command('lock').description('list and release execution locks');
  g.command('list')
    .description('list execution locks with holder, TTL, age and execution status')
    .option('--older-than <duration>', 'only locks held longer than this (age from the tracking row)')
    .action(lazy(() => import('./list.js')));
  g.command('release <executionId>')
    .description(
      'release a lock that is provably stuck (holder named by --worker or at the prompt, execution finished/failed, or older than the stuck threshold); compare-and-delete; audited',
    )
    .option('--worker <id>', 'release only if held by this worker (exit 4 otherwise)')
    .option('--force', 'release whoever holds it (requires --reason)')
    .option('--reason <text>', 'why (recorded in the audit table; required with --force)')
    .option('--dry-run', 'show what would be released; change nothing')
    .action(lazy(() => import('./release.js')));
}
