import type { Command } from 'commander';
import { lazy } from '../context.js';

/** `wks health`: one answer to "is the data layer safe?". Check names are listed here literally so --help stays light. */
export function register(program: Command): void {
  program
    .command('health')
    .description(
      'check config, database, migrations, Redis, backups, workflows, agents and locks (exit 0 ok, 1 warn, 2 critical)',
    )
    .option(
      '--check <names>',
      'comma-separated checks to run: config,database,migrations,redis,backups,workflows,agents,locks (default: all)',
    )
    .option(
      '--deep',
      'thorough variants: SQLite integrity_check over the whole file (needs a larger --timeout on big files)',
    )
    .option('--timeout <duration>', 'overall budget, e.g. 5s or 1500 (default: health.timeout_ms, 5s)')
    .addHelpText(
      'after',
      '\nExit codes: 0 every check ok, 1 at least one warn, 2 at least one critical or unknown (timed out / skipped).\n' +
        'With --json: one document {status, ok, exitCode, checkedAt, durationMs, timeoutMs, checks:[{name, status, detail, durationMs, hint?, data?}]}.\n' +
        'See docs/health.md for each check, its thresholds, and cron/systemd/Kubernetes examples.',
    )
    .action(lazy(() => import('./health.js')));
}
