/**
 * Where migrations come from: the built-in files (src/migrate/sql/<dialect>/,
 * shipped with wks) and the operator's own directory
 * (database.migrations.directory), applied after the built-ins.
 *
 * File names are `<version>_<name>.sql` where version is digits (`0001`,
 * or dbmate's `20260101120000`). Versions are unique across both sources.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '../config/index.js';
import type { Dialect } from '../db/index.js';
import { ConfigError, NotFoundError, OperationError } from '../errors.js';
import { checksum, MigrationFormatError, parseMigration, type ParsedMigration } from './parse.js';

export type MigrationSource = 'builtin' | 'user';

export interface MigrationFile {
  version: string;
  name: string;
  /** `<version>_<name>` */
  id: string;
  source: MigrationSource;
  file: string;
  checksum: string;
  text: string;
  /** Parsed lazily: a malformed file only fails the commands that need its SQL. */
  parsed(): ParsedMigration;
}

export const FILE_RE = /^(\d+)_([A-Za-z0-9_.-]+)\.sql$/;

/** Compare two digit-string versions numerically (`0002` < `10` < `20260101000000`). */
export function compareVersions(a: string, b: string): number {
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/**
 * The directory holding the built-in SQL for a dialect. tsc does not copy
 * .sql files, so both `dist/migrate/sql` (if a build step copies them) and
 * the source tree `src/migrate/sql` are looked up.
 */
export function builtinDirectory(dialect: Dialect): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = [
    path.join(here, 'sql', dialect),
    path.resolve(here, '..', '..', 'src', 'migrate', 'sql', dialect),
  ];
  for (const c of candidates) if (existsSync(c)) return c;
  throw new OperationError(`built-in migrations for ${dialect} not found (looked in ${candidates.join(', ')})`, {
    hint: 'the wks installation is incomplete; reinstall it',
  });
}

function readDir(dir: string, source: MigrationSource): MigrationFile[] {
  const out: MigrationFile[] = [];
  for (const entry of readdirSync(dir).sort()) {
    const m = FILE_RE.exec(entry);
    if (!m) continue;
    const file = path.join(dir, entry);
    const text = readFileSync(file, 'utf8');
    let cache: ParsedMigration | undefined;
    out.push({
      version: m[1]!,
      name: m[2]!,
      id: `${m[1]}_${m[2]}`,
      source,
      file,
      text,
      checksum: checksum(text),
      parsed() {
        if (!cache) {
          try {
            cache = parseMigration(text, file);
          } catch (err) {
            if (err instanceof MigrationFormatError) {
              throw new OperationError(err.message, {
                hint: 'fix the file: it must use the dbmate format (-- migrate:up / -- migrate:down)',
              });
            }
            throw err;
          }
        }
        return cache;
      },
    });
  }
  return out.sort((a, b) => compareVersions(a.version, b.version));
}

/**
 * All known migrations in apply order: built-ins by version, then the user's
 * by version. Throws ConfigError when the configured user directory does not
 * exist, OperationError on a duplicate version.
 */
export function loadMigrations(config: Config, dialect: Dialect): MigrationFile[] {
  const builtins = readDir(builtinDirectory(dialect), 'builtin');
  const dir = config.database.migrations.directory;
  let users: MigrationFile[] = [];
  if (dir) {
    if (!existsSync(dir)) {
      throw new ConfigError(
        `migrations directory does not exist: ${dir}`,
        [{ key: 'database.migrations.directory', message: 'directory does not exist', source: 'config', value: dir }],
        {
          hint: 'create it (`wks migrate new <name>` does), or fix phase4.database.migrations.directory / WKS_MIGRATIONS_DIR',
        },
      );
    }
    users = readDir(dir, 'user');
  }
  const seen = new Map<string, MigrationFile>();
  for (const m of [...builtins, ...users]) {
    const prev = seen.get(m.version);
    if (prev) {
      throw new OperationError(`two migrations share version ${m.version}: ${prev.file} and ${m.file}`, {
        hint: 'rename one of them; `wks migrate new` names files with a timestamp version so they never collide',
      });
    }
    seen.set(m.version, m);
  }
  return [...builtins, ...users];
}

/** Find a migration by version or `<version>_<name>`; NotFoundError (exit 5) otherwise. */
export function findMigration(all: MigrationFile[], selector: string): MigrationFile {
  const hit = all.find((m) => m.version === selector || m.id === selector || m.id === selector.replace(/\.sql$/, ''));
  if (!hit) {
    throw new NotFoundError(`no migration with version ${selector}`, {
      hint: 'run `wks migrate status` to list the known versions',
    });
  }
  return hit;
}
