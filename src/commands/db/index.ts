import { Option, type Command } from 'commander';
import { lazy } from '../context.js';

/** `wks db ...`: data movement between engines (see docs/postgresql-migration.md). */
export function register(program: Command): void {
  const g = program.command('db').description('move data between SQLite and PostgreSQL');
  g.command('copy')
    .description(
      'copy the SQLite database into PostgreSQL (backup, migrate, COPY, verify); exit 3 when verification fails',
    )
    .option(
      '--to <url>',
      'target postgres://user@host:port/db (default: the PG_* / phase4.database.postgresql settings)',
    )
    .option('--from <path>', 'SQLite file to copy (default: DATABASE_PATH / phase4.database.path)')
    .option('--tables <list>', 'only these tables, comma-separated')
    .option('--batch-rows <n>', 'rows per chunk streamed to COPY (default 10000)')
    .option('--dry-run', 'print the plan (tables, rows, target types) and scan for type problems; write nothing')
    .option('--resume', 'continue an interrupted copy: tables already copied are checked, not copied again')
    .option('--truncate', 'empty non-empty target tables first (asks; --yes off a terminal)')
    .option('--no-backup', 'skip the pre-migration backup of the SQLite database')
    .addOption(
      new Option(
        '--on-type-error <mode>',
        'a value that does not fit its column: fail, skip-row (listed in the report file) or null',
      )
        .choices(['fail', 'skip-row', 'null'])
        .default('fail'),
    )
    .option('--report <file>', 'where skipped/nulled rows are listed (default ./wks-db-copy-<run>.problems.jsonl)')
    .action(lazy(() => import('./copy.js')));
  g.command('salvage')
    .description(
      "copy what is still readable in a damaged SQLite file (e.g. a restore's quarantine copy) into a new database, table by table",
    )
    .argument('<file>', 'the damaged SQLite file (read only)')
    .requiredOption('--to <path>', 'the new database to write (must not exist)')
    .action(lazy(() => import('./salvage.js')));
}
