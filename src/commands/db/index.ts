import type { Command } from 'commander';
import { registerPlaceholders } from '../context.js';

/** `wks db ...`: data movement between engines. */
export function register(program: Command): void {
  const g = program.command('db').description('move data between SQLite and PostgreSQL');
  registerPlaceholders(g, [['copy', 'copy a SQLite database into PostgreSQL']], 'db');
}
