import { Option, type Command } from 'commander';
import { lazy } from '../context.js';

/** `wks migrate ...`: schema migrations (see docs/migrations.md). */
export function register(program: Command): void {
  const g = program.command('migrate').description('apply, roll back and inspect schema migrations');
  g.command('up')
    .description('apply pending migrations (built-in, then your own), each in a transaction, under a lock')
    .option('--to <version>', 'apply only up to and including this version')
    .option('--dry-run', 'show what would be applied, with its SQL; change nothing')
    .option('--no-backup', 'skip the pre-migration backup')
    .option(
      '--allow-drift',
      'apply even though applied migrations were edited since; records who accepted it (wks_migration_drift_accepted)',
    )
    .addOption(
      new Option(
        '--lock-timeout <ms>',
        'how long to wait for another runner (default: database.migrations.lock_timeout_ms)',
      ),
    )
    .action(lazy(() => import('./up.js')));
  g.command('down')
    .description('roll back the latest applied migrations with their -- migrate:down sections')
    .option('--steps <n>', 'how many migrations to roll back (default 1)')
    .option('--to <version>', 'roll back everything applied after this version (0 = everything)')
    .option('--dry-run', 'show what would be rolled back, with its SQL; change nothing')
    .addOption(new Option('--lock-timeout <ms>', 'how long to wait for another runner'))
    .action(lazy(() => import('./down.js')));
  g.command('status')
    .description('show applied, pending, changed and dirty migrations')
    .option('--exit-code', 'exit 1 when migrations are pending (for CI), 3 when applied files changed')
    .action(lazy(() => import('./status.js')));
  g.command('new <name>')
    .description('create an empty migration file <timestamp>_<name>.sql in the migrations directory')
    .option('--dir <path>', 'directory (default: database.migrations.directory / WKS_MIGRATIONS_DIR)')
    .action(lazy(() => import('./new.js')));
  g.command('validate')
    .description('check applied migrations against their files: exit 3 when one changed or is missing')
    .action(lazy(() => import('./validate.js')));
  g.command('baseline')
    .description('mark a database created by the old application as migrated (after checking its tables)')
    .option('--version <version>', 'the version the database is at', '0001')
    .option('--dry-run', 'check only; record nothing')
    .action(lazy(() => import('./baseline.js')));
  g.command('resolve <version>')
    .description('record how a failed non-transactional (dirty) migration was fixed by hand')
    .option('--applied', 'you finished it by hand: record it as applied')
    .option('--rolled-back', 'you undid it by hand: forget it so `migrate up` runs it again')
    .action(lazy(() => import('./resolve.js')));
}
