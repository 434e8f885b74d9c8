import type { Command } from 'commander';
import { Option } from 'commander';
import { lazy } from '../context.js';

/** `wks alerts ...`: notification channels. */
export function register(program: Command): void {
  const g = program.command('alerts').description('test alert notification channels');
  g.command('test')
    .description('send a test notification (PagerDuty: a trigger, then its resolve)')
    .addOption(
      new Option('--channel <channel>', 'channel to test')
        .choices(['slack', 'email', 'pagerduty'])
        .makeOptionMandatory(),
    )
    .action(lazy(() => import('./test.js')));
}
