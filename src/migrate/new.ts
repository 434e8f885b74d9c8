/** `wks migrate new <name>`: create an empty dbmate-format migration in the user's directory. */
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ConflictError, UsageError } from '../errors.js';
import { FILE_RE } from './source.js';

export interface NewMigrationOptions {
  /** Directory to create it in (default: database.migrations.directory). */
  directory?: string;
  /** Clock for the timestamp version (default: now). */
  now?: Date;
}

export interface NewMigrationResult {
  version: string;
  name: string;
  file: string;
  /** True when the directory is not the configured one, so `migrate up` will not see the file yet. */
  unconfigured: boolean;
}

export const TEMPLATE = `-- migrate:up


-- migrate:down

`;

function stamp(d: Date): string {
  return d.toISOString().replace(/[-:T]/g, '').slice(0, 14);
}

/**
 * Create `<YYYYMMDDHHMMSS>_<name>.sql` (UTC timestamp version, as dbmate
 * does, so it sorts after the built-ins and never collides with a teammate's).
 * Creates the directory if needed. Needs only the configured directory
 * (`database.migrations.directory`, absolute), never a database connection.
 * Throws UsageError for a bad name or when no directory is configured or
 * given, ConflictError when the version exists.
 */
export function newMigration(
  configured: string | null,
  name: string,
  opts: NewMigrationOptions = {},
): NewMigrationResult {
  const clean = name
    .trim()
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '');
  if (!clean)
    throw new UsageError(`invalid migration name "${name}"`, {
      hint: 'use letters, digits and underscores, e.g. add_users_index',
    });
  const dir = opts.directory ? path.resolve(opts.directory) : configured;
  if (!dir) {
    throw new UsageError('no migrations directory is configured', {
      hint: 'set phase4.database.migrations.directory (or WKS_MIGRATIONS_DIR), or pass --dir',
    });
  }
  const version = stamp(opts.now ?? new Date());
  mkdirSync(dir, { recursive: true });
  const clash = existsSync(dir) ? readdirSync(dir).find((f) => FILE_RE.exec(f)?.[1] === version) : undefined;
  if (clash)
    throw new ConflictError(`a migration with version ${version} already exists: ${clash}`, {
      hint: 'wait a second and try again',
    });
  const file = path.join(dir, `${version}_${clean}.sql`);
  writeFileSync(file, TEMPLATE, { flag: 'wx' });
  return { version, name: clean, file, unconfigured: !configured || path.resolve(configured) !== dir };
}
