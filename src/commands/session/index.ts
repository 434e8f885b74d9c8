import type { Command } from 'commander';
import { registerPlaceholders } from '../context.js';

/** `wks session ...`: user sessions in Redis. */
export function register(program: Command): void {
  const g = program.command('session').description('list and revoke user sessions');
  registerPlaceholders(g, [
    ['list', 'list sessions'],
    ['revoke <userId>', 'revoke a user session'],
  ], 'session');
}
