import type { Command } from 'commander';
import { registerPlaceholders } from '../context.js';

/** `wks lock ...`: execution locks in Redis. */
export function register(program: Command): void {
  const g = program.command('lock').description('list and release execution locks');
  registerPlaceholders(g, [
    ['list', 'list execution locks with holder, age and TTL'],
    ['release <executionId>', 'release a lock (owner-checked)'],
  ], 'lock');
}
