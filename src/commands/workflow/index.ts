import type { Command } from 'commander';
import { registerPlaceholders } from '../context.js';

/** `wks workflow ...`: inspect workflow executions across the database and Redis. */
export function register(program: Command): void {
  const g = program.command('workflow').description('inspect workflow executions and reap stale ones');
  registerPlaceholders(g, [
    ['list', 'list executions with their Redis state'],
    ['show <executionId>', 'everything about one execution'],
    ['stats', 'counts, limits and the oldest running execution'],
    ['reap', 'mark stale executions failed'],
  ], 'workflow');
}
