import type { Command } from 'commander';
import { registerPlaceholders } from '../context.js';

/** `wks alerts ...`: notification channels. */
export function register(program: Command): void {
  const g = program.command('alerts').description('test alert notification channels');
  registerPlaceholders(g, [['test', 'send a test notification']], 'alerts');
}
