import type { Command } from 'commander';
import { registerPlaceholders } from '../context.js';

/** `wks ratelimit ...`: rate-limit counters in Redis. */
export function register(program: Command): void {
  const g = program.command('ratelimit').description('show and reset rate-limit counters');
  registerPlaceholders(g, [
    ['show <userId>', 'show counters and reset times'],
    ['reset <userId>', 'reset counters'],
  ], 'ratelimit');
}
