import type { Command } from 'commander';
import { lazy } from '../context.js';

/** `wks session ...`: user sessions in Redis. */
export function register(program: Command): void {
  const g = program.command('session').description('list and revoke user sessions');
  g.command('list')
    .description('list sessions (token shown only as a fingerprint)')
    .option('--user <id>', 'only this user')
    .action(lazy(() => import('./list.js')));
  g.command('revoke <userId>')
    .description("delete a user's session (they must log in again)")
    .option('--dry-run', 'show the session; change nothing')
    .action(lazy(() => import('./revoke.js')));
}
