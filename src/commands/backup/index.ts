import type { Command } from 'commander';
import { registerPlaceholders } from '../context.js';

/** `wks backup ...`: create, list, verify, restore and rotate backups. */
export function register(program: Command): void {
  const g = program.command('backup').description('create, list, verify, restore and rotate backups');
  registerPlaceholders(g, [
    ['create', 'take a consistent online backup'],
    ['list', 'list backups from the catalog'],
    ['verify', 'verify backup checksums and integrity'],
    ['restore', 'restore a backup'],
    ['rotate', 'delete backups outside the retention policy'],
  ], 'backup');
}
