import type { Command } from 'commander';
import { lazy } from '../context.js';

/** `wks ratelimit ...`: rate-limit counters in Redis. */
export function register(program: Command): void {
  const g = program.command('ratelimit').description('show and reset rate-limit counters');
  g.command('show <userId>')
    .description('counters and reset times against RATE_LIMIT_MAX_REQUESTS / RATE_LIMIT_WINDOW_MS')
    .option('--endpoint <endpoint>', 'only this endpoint')
    .action(lazy(() => import('./show.js')));
  g.command('reset <userId>')
    .description("reset a user's counters (all endpoints, or one)")
    .option('--endpoint <endpoint>', 'only this endpoint')
    .option('--dry-run', 'show what would be reset; change nothing')
    .action(lazy(() => import('./reset.js')));
}
