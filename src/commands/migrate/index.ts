import type { Command } from 'commander';
import { registerPlaceholders } from '../context.js';

/** `wks migrate ...`: schema migrations (see docs/migrations.md). */
export function register(program: Command): void {
  const g = program.command('migrate').description('apply, roll back and inspect schema migrations');
  registerPlaceholders(g, [
    ['up', 'apply pending migrations'],
    ['down', 'roll back migrations'],
    ['status', 'show applied and pending migrations'],
    ['new <name>', 'create a new migration file'],
    ['validate', 'check applied migrations against their files'],
    ['baseline', 'mark an existing database as migrated'],
  ], 'migrate');
}
