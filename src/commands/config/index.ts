import type { Command } from 'commander';
import { lazy } from '../context.js';

/** `wks config ...`: the effective configuration. */
export function register(program: Command): void {
  const g = program.command('config').description('show and validate the effective configuration');
  g.command('show')
    .description('print the effective configuration, secrets redacted')
    .option('--sources', 'show which layer (default, file:line, env, flag) set each value')
    .action(lazy(() => import('./show.js')));
  g.command('validate')
    .description('validate the configuration: exit 0, or 78 with every problem')
    .action(lazy(() => import('./validate.js')));
}
