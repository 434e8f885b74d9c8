import { Option, type Command } from 'commander';
import { lazy } from '../context.js';

/** verify, restore and drill take the same escape hatch. */
const ALLOW_UNAUTHENTICATED =
  'accept a backup whose manifest cannot be authenticated (unencrypted, or made by an older wks) although encryption is enabled';

/** `wks backup ...`: create, list, verify, restore, drill, upload and rotate backups. */
export function register(program: Command): void {
  const g = program.command('backup').description('create, list, verify, restore, drill and rotate backups');
  registerCreate(g);
  registerList(g);
  registerVerify(g);
  registerRestore(g);
  registerDrill(g);
  registerUpload(g);
  registerRotate(g);
}

function registerCreate(group: Command): void {
  group
    .command('create')
    .description(
      'take a consistent online backup (SQLite backup API, or pg_dump at one snapshot), checksummed, manifest written last',
    )
    .addOption(
      new Option('--type <type>', 'backup type recorded in the manifest and backup_log')
        .choices(['manual', 'scheduled', 'pre-migration'])
        .default('manual'),
    )
    .addOption(
      new Option(
        '--compress <codec>',
        'compression (default: database.backup.compression); zstd needs the zstd program on PATH',
      ).choices(['none', 'gzip', 'zstd']),
    )
    .option('--encrypt', 'encrypt with AES-256-GCM (key: BACKUP_ENCRYPTION_KEY or database.backup.encryption.key_file)')
    .option('--no-encrypt', 'do not encrypt even if database.backup.encryption.enabled')
    .option('--label <text>', 'free-text label stored in the manifest')
    .option('--rotate', 'apply the retention policy afterwards (default: database.backup.rotate_after_create)')
    .action(lazy(() => import('./create.js')));
}

function registerList(group: Command): void {
  group
    .command('list')
    .description('list backups from the catalog (the backup directory; works without the database)')
    .option(
      '--source <source>',
      "only this source's backups: `configured` (this database), an engine, an id key or prefix (sqlite:1a2b), or a location",
    )
    .option(
      '--location <where>',
      'only the backups whose LOCATION is local (not yet copied off the host), s3 or local+s3',
    )
    .action(lazy(() => import('./list.js')));
}

function registerVerify(group: Command): void {
  group
    .command('verify')
    .description(
      'check checksum, decode, run quick_check (integrity_check with --deep) or pg_restore --list, compare row counts; exit 3 on failure',
    )
    .argument('[id]', 'backup id or unique prefix (default: --latest)')
    .option('--latest', 'the newest backup of the configured database')
    .option('--all', 'every backup of the configured database')
    .option(
      '--deep',
      'PRAGMA integrity_check instead of quick_check (PostgreSQL: restore into a scratch database, always dropped)',
    )
    .option('--allow-unauthenticated', ALLOW_UNAUTHENTICATED)
    .action(lazy(() => import('./verify.js')));
}

function registerRestore(group: Command): void {
  group
    .command('restore')
    .description('confirm, verify, take a safety backup, and replace the database with a backup (or write it to --to)')
    .argument('[id]', 'backup id or unique prefix')
    .option('--latest', 'the newest backup of the configured database')
    .option('--at <time>', 'the newest backup of the configured database taken at or before TIME (ISO 8601)')
    .option('--allow-other-source', "replace the configured database with another database's backup (restored by id)")
    .option('--to <path>', 'restore into a separate file for inspection; the live database is untouched')
    .option('--to-database <name>', 'PostgreSQL: restore into this database (created; the configured one is untouched)')
    .option('--deep', 'full integrity_check when verifying first and on the installed database')
    .option(
      '--force',
      'restore even if the database is in use (PostgreSQL: its sessions are terminated), --to exists, or the safety backup fails',
    )
    .option('--dry-run', 'verify as `backup verify` does and check the target; write nothing beside it')
    .option('--allow-unauthenticated', ALLOW_UNAUTHENTICATED)
    .action(lazy(() => import('./restore.js')));
}

function registerDrill(group: Command): void {
  group
    .command('drill')
    .description(
      'restore drill: restore a backup into a scratch target, run the full integrity check, compare row counts, time each phase against the RTO target; exit 3 on failure or a missed RTO',
    )
    .argument('[id]', 'backup id or unique prefix (default: the newest backup)')
    .option('--latest', 'the newest backup (the default)')
    .option('--at <time>', 'the newest backup taken at or before TIME (ISO 8601)')
    .option(
      '--rto-target <duration>',
      'RTO target, e.g. 15m, 90s, 1ms (default: database.backup.drill.rto_target, 15m)',
    )
    .option('--allow-unauthenticated', ALLOW_UNAUTHENTICATED)
    .action(lazy(() => import('./drill.js')));
}

function registerUpload(group: Command): void {
  group
    .command('upload')
    .description(
      'copy the backups that exist only in a local backup directory to the configured S3 repository (back-fill; manifest last, checksums checked)',
    )
    .option('--from <dir>', 'the local backup directory (default: database.backup.storage_path)')
    .option('--dry-run', 'only list what would be uploaded')
    .action(lazy(() => import('./upload.js')));
}

function registerRotate(group: Command): void {
  group
    .command('rotate')
    .description(
      'delete backups outside the retention policy (retention_days, keep_last, keep_hourly/daily/weekly/monthly)',
    )
    .option('--dry-run', 'list what would be deleted and why, delete nothing')
    .option(
      '--all-sources',
      "also rotate other databases' backups in the directory (the policy applied to each source)",
    )
    .action(lazy(() => import('./rotate.js')));
}
