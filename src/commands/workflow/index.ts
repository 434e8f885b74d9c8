import { Option, type Command } from 'commander';
import { lazy } from '../context.js';

/** `wks workflow ...`: inspect workflow executions across the database and Redis. */
export function register(program: Command): void {
  const g = program.command('workflow').description('inspect workflow executions and reap stale ones');
  g.command('list')
    .description('list executions with their Redis state, and every database/Redis discrepancy')
    .addOption(
      new Option('--status <status>', 'only executions with this status').choices([
        'pending',
        'running',
        'completed',
        'failed',
      ]),
    )
    .option('--stuck', 'only running executions past WORKFLOW_TIMEOUT_MS or with a discrepancy')
    .option('--limit <n>', 'at most N executions (0 = all)', '50')
    .action(lazy(() => import('./list.js')));
  g.command('show <executionId>')
    .description('everything about one execution: rows, Redis state, active set, lock, age, progress, ETA')
    .action(lazy(() => import('./show.js')));
  g.command('stats')
    .description('counts by status, concurrency against the limit, oldest running, timeouts, retries')
    .action(lazy(() => import('./stats.js')));
  g.command('reap')
    .description('mark stale running executions failed, clean their Redis state and release their locks')
    .option('--older-than <duration>', 'running longer than this (default: WORKFLOW_TIMEOUT_MS)')
    .option('--dry-run', 'show what would be reaped; change nothing')
    .action(lazy(() => import('./reap.js')));
  g.command('release <executionId>')
    .description(
      "remove one execution's stale Redis state (active set, lock) when the reaper's checks prove it stale; a running one past the threshold is reaped",
    )
    .option('--older-than <duration>', 'the stuck threshold for a running execution (default: WORKFLOW_TIMEOUT_MS)')
    .option('--force', 'release although no check proves it stale (needs --reason; says which check it overrode)')
    .option('--reason <text>', 'why, for --force (recorded in the lock audit)')
    .option('--dry-run', 'show what would be released; change nothing')
    .action(lazy(() => import('./release.js')));
}
