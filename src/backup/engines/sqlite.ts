/**
 * The SQLite engine. The snapshot goes through SQLite's online backup API
 * (better-sqlite3 `.backup()`) on one connection that first opens a read
 * transaction: the backup then copies exactly that snapshot, is never
 * restarted by concurrent writers, and in WAL mode never blocks them. (In
 * rollback-journal mode writers wait for the copy; WAL is recommended.) The
 * same connection stamps the database's identity before, and counts the rows
 * in the same read transaction after, so the counts are the image's. The
 * image's header is set to the rollback-journal format (what
 * journal_mode=DELETE writes), so it is one self-contained file that can be
 * opened read-only without -wal/-shm; restore puts the source's journal mode back.
 */
import { formatBytes } from '../../util/size.js';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  statSync,
  renameSync,
  openSync,
  readSync,
  writeSync,
  closeSync,
  chmodSync,
} from 'node:fs';
import path from 'node:path';
import { copyFileSync, constants as fsConstants } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type BetterSqlite3 from 'better-sqlite3';
import type { Config } from '../../config/index.js';
import { ConflictError, NotFoundError, OperationError, UsageError } from '../../errors.js';
import { fsyncDir, onReadOnlyFs, readOnlyFsText } from '../../util/fs.js';
import { schemaCheck, type BackupEngine, type RestoreTarget, type SnapshotResult } from '../engine.js';
import { fsyncFile, ownedTempPath, removeQuietly, fsError } from '../files.js';
import { pidAlive } from '../../util/process.js';
import type { LogFn, VerifyCheck } from '../types.js';
import { openSqliteHandle, quoteIdent, readSqliteIdentity, stampSqliteIdentity } from '../../db/index.js';
import type { ConfiguredSource } from '../source.js';

type DB = BetterSqlite3.Database;

/** An error of the backup_log mirror, in words (a read-only file system is named as such). */
function logErrorText(config: Config, err: unknown): string {
  return onReadOnlyFs(config.database.path) ? readOnlyFsText(config.database.path).reason : (err as Error).message;
}

/** The live database, opened for the backup_log mirror (must exist; waits at least 1 s for writers). */
async function openForLog(config: Config): Promise<DB> {
  return openSqliteHandle(config.database.path, { busyTimeoutMs: Math.max(1000, config.database.busy_timeout_ms) });
}

/**
 * The live database's connection for the length of one create: logStart keeps the connection it
 * wrote the backup_log row on, the snapshot stamps and copies on it, logFinish writes on it and
 * closes it. One create opens the live file once, and SQLite checkpoints its WAL on one close
 * instead of three. Keyed by the create's config object; a create holds the backup lock.
 */
const held = new WeakMap<Config, DB>();

/** Pages copied per backup step: big steps are fast; the read transaction keeps the snapshot stable between them. */
const PAGES_PER_STEP = 2048;
/** Page cache of wks's own connections, KiB (better-sqlite3's default is 16 MiB each). */
const CACHE_KIB = 4096;

/** `YYYY-MM-DD HH:MM:SS` in UTC, the way SQLite's CURRENT_TIMESTAMP stores times. */
export function sqliteTime(d: Date): string {
  return d
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d{3}Z$/, '');
}

function userTables(db: DB): string[] {
  return (
    db
      .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
      .all() as Array<{ name: string }>
  ).map((r) => r.name);
}

/** Per-table row counts of an open database. */
export function countRows(db: DB): Record<string, number> {
  const out: Record<string, number> = {};
  for (const t of userTables(db))
    out[t] = Number((db.prepare(`SELECT count(*) AS n FROM ${quoteIdent(t)}`).get() as { n: number }).n);
  return out;
}

/**
 * The last applied migration: max(version) of dbmate's `schema_migrations`
 * table, or null when the database is unmigrated.
 */
export function schemaVersionOf(db: DB): string | null {
  const has = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").get();
  if (!has) return null;
  const cols = (db.prepare('PRAGMA table_info(schema_migrations)').all() as Array<{ name: string }>).map((c) => c.name);
  // wks's own table marks half-applied migrations dirty; they are not the schema version.
  const where = cols.includes('dirty') ? ' WHERE dirty = 0' : '';
  const row = db.prepare(`SELECT max(version) AS v FROM schema_migrations${where}`).get() as { v: unknown } | undefined;
  return row?.v === null || row?.v === undefined ? null : String(row.v);
}

function readOnlyError(file: string, cause: unknown): OperationError {
  const ro = readOnlyFsText(file);
  return new OperationError(`cannot back up the database: ${ro.reason}`, { cause, hint: ro.hint });
}

function missingDb(file: string): NotFoundError {
  return new NotFoundError(`the database ${file} does not exist`, {
    hint: 'check DATABASE_PATH (database.path); `wks migrate up` creates a new database',
  });
}

/** Pids (other than ours) that have `files` open, from /proc (Linux). Empty where /proc is unavailable. */
export function pidsHolding(files: string[]): number[] {
  const wanted = new Set(files.map((f) => path.resolve(f)));
  const pids: number[] = [];
  let procs: string[];
  try {
    procs = readdirSync('/proc').filter((p) => /^\d+$/.test(p));
  } catch {
    return pids;
  }
  for (const p of procs) {
    if (Number(p) === process.pid) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${p}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        if (wanted.has(readlinkSync(`/proc/${p}/fd/${fd}`))) {
          pids.push(Number(p));
          break;
        }
      } catch {
        /* fd closed meanwhile */
      }
    }
  }
  return pids;
}

function processName(pid: number): string {
  try {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
    return `pid ${pid} (${cmd.slice(0, 80)})`;
  } catch {
    return `pid ${pid}`;
  }
}

/**
 * Give the live database its wks identity (src/db/identity.ts) before the
 * first backup, on the connection the backup is then taken on. A database wks
 * cannot write (read-only file or directory, damaged) is still backed up: its
 * backups are then attributed by path.
 */
function stampIdentity(db: DB, file: string, log?: LogFn): void {
  try {
    if (!readSqliteIdentity(db)) log?.('info', `gave ${file} its wks identity ${stampSqliteIdentity(db)}`);
  } catch (err) {
    const why = onReadOnlyFs(file) ? readOnlyFsText(file).reason : (err as Error).message;
    log?.('warn', `could not record a wks identity in ${file} (${why}); its backups are attributed by path`);
  }
}

/**
 * The connection a snapshot is taken on: read-write when the identity is to be
 * stamped first (stamp and copy share it, so the live database is opened once),
 * else read-only. Left with busy_timeout = `busyMs` and a small page cache.
 */
async function openSource(file: string, busyMs: number, stamp: boolean, log?: LogFn, own?: DB): Promise<DB> {
  let db: DB;
  try {
    // A stamp waits at least 1 s for writers; SQLite opens a file it cannot write read-only.
    db =
      own ??
      (await openSqliteHandle(file, { readonly: !stamp, busyTimeoutMs: stamp ? Math.max(1000, busyMs) : busyMs }));
  } catch (err) {
    if (onReadOnlyFs(file)) throw readOnlyError(file, err);
    throw new OperationError(`cannot open the database ${file}: ${(err as Error).message}`, {
      cause: err,
      hint: 'check that DATABASE_PATH points to a readable SQLite database',
    });
  }
  try {
    if (stamp) {
      stampIdentity(db, file, log);
      db.pragma(`busy_timeout = ${Math.max(0, busyMs)}`);
    }
    // A small page cache keeps the memory of a backup flat whatever the database size.
    db.pragma(`cache_size = -${CACHE_KIB}`);
    return db;
  } catch (err) {
    if (!own) db.close();
    throw snapshotError(err, file, busyMs);
  }
}

/** SQLite's header: the magic string, and at offsets 18/19 the file format write/read versions (2 = WAL). */
const SQLITE_MAGIC = 'SQLite format 3\0';
const FORMAT_VERSION_OFFSET = 18;

/**
 * Make the image one self-contained file that opens read-only without -wal/-shm: a copy of a WAL
 * database carries the WAL format versions (2) in its header, so they are set to 1 (rollback
 * journal), exactly what `PRAGMA journal_mode = DELETE` writes (https://sqlite.org/fileformat2.html,
 * "File format version numbers"); the image has no WAL to fold in. Done in place, without opening
 * the image as a database (that would create -wal/-shm beside it and sync it twice more).
 */
function selfContained(image: string): void {
  const fd = openSync(image, 'r+');
  try {
    const head = Buffer.alloc(100);
    if (readSync(fd, head, 0, 100, 0) < 100 || head.toString('latin1', 0, 16) !== SQLITE_MAGIC)
      throw new OperationError(`the snapshot ${image} is not a SQLite database`, {
        hint: 'retry; report it if it happens again',
      });
    const v = head.subarray(FORMAT_VERSION_OFFSET, FORMAT_VERSION_OFFSET + 2);
    if (v[0] === 2 && v[1] === 2) writeSync(fd, Buffer.from([1, 1]), 0, 2, FORMAT_VERSION_OFFSET);
  } finally {
    closeSync(fd);
  }
}

/** The online backup failed: a full disk, a damaged source, a read-only file system or a lock, in words. */
function snapshotError(err: unknown, file: string, busyTimeoutMs: number): unknown {
  const code = (err as NodeJS.ErrnoException).code;
  if (
    code === 'SQLITE_FULL' ||
    code === 'SQLITE_IOERR_WRITE' ||
    /disk is full|SQLITE_FULL/i.test((err as Error).message)
  )
    return fsError(Object.assign(new Error('disk full'), { code: 'ENOSPC' }), 'cannot write the backup');
  if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT')
    return new OperationError(`cannot back up ${file}: ${(err as Error).message}`, {
      cause: err,
      hint: 'the source database is damaged; restore the newest verified backup (`wks backup restore --latest`)',
    });
  if ((code === 'SQLITE_CANTOPEN' || code === 'SQLITE_READONLY') && onReadOnlyFs(file)) return readOnlyError(file, err);
  if (code === 'SQLITE_BUSY')
    return new ConflictError(`the database ${file} stayed locked for ${busyTimeoutMs} ms`, {
      cause: err,
      hint: 'retry; use WAL mode so backups never wait for writers',
    });
  return err;
}

export const sqliteEngine: BackupEngine = {
  name: 'sqlite',
  extension: '.db',

  source(config: Config): string {
    return config.database.path;
  },

  location(config: Config): string {
    return path.resolve(config.database.path);
  },

  async identify(config): Promise<ConfiguredSource> {
    const file = path.resolve(config.database.path);
    const base = { engine: 'sqlite' as const, location: file, hostname: hostname() };
    if (!existsSync(file))
      return { ...base, key: null, missing: true, note: `the database file ${file} does not exist` };
    let db: DB | undefined;
    try {
      db = await openSqliteHandle(file, { readonly: true });
      const key = readSqliteIdentity(db);
      return { ...base, key, note: key ? null : 'the database has no wks identity yet (it was never backed up)' };
    } catch (err) {
      return { ...base, key: null, note: `cannot read ${file}: ${(err as Error).message}` };
    } finally {
      db?.close();
    }
  },

  rawImageBytes(config: Config): number | null {
    // The snapshot is the database file plus what its WAL holds (at most the WAL's size).
    let n = 0;
    for (const f of [config.database.path, `${config.database.path}-wal`]) {
      try {
        n += statSync(f).size;
      } catch {
        /* absent */
      }
    }
    return n || null;
  },

  async snapshot(config, { tempPath, onProgress, log, onImageReady, stampIdentity: stamp }): Promise<SnapshotResult> {
    const file = config.database.path;
    if (!existsSync(file)) throw missingDb(file);
    const busyMs = config.database.busy_timeout_ms;
    // One connection does it all: the identity stamp, the copy, and the description of the copy
    // (the create's own, from logStart, when it has one and may write).
    const own = stamp === false ? undefined : held.get(config);
    const src = await openSource(file, busyMs, stamp !== false, log, own);
    try {
      const journalMode = String(src.pragma('journal_mode', { simple: true }));
      const pageSize = Number(src.pragma('page_size', { simple: true }));
      // Pin one snapshot: the read transaction stays open across backup steps and the counts below.
      src.exec('BEGIN');
      src.prepare('SELECT count(*) FROM sqlite_master').get();
      log?.('debug', `snapshot of ${file} (journal_mode=${journalMode}, page_size=${pageSize})`);
      await src.backup(tempPath, {
        progress: ({ totalPages, remainingPages }) => {
          onProgress?.({ phase: 'snapshot', done: totalPages - remainingPages, total: totalPages, unit: 'pages' });
          return PAGES_PER_STEP;
        },
      });
      selfContained(tempPath);
      onImageReady?.(tempPath);
      // Described from the same read transaction as the copy: the counts are of the image.
      const described = {
        identityKey: readSqliteIdentity(src),
        schemaVersion: schemaVersionOf(src),
        rowCounts: countRows(src),
        engineVersion: String((src.prepare('SELECT sqlite_version() AS v').get() as { v: string }).v),
        details: { journal_mode: journalMode, page_size: pageSize },
      };
      src.exec('COMMIT');
      return { ...described, output: { file: tempPath } };
    } catch (err) {
      if (own && src.inTransaction) src.exec('ROLLBACK'); // logFinish writes on it next
      throw snapshotError(err, file, busyMs);
    } finally {
      if (!own) src.close();
    }
  },

  async checkImage(imagePath, manifest, { deep, onPhase }): Promise<VerifyCheck[]> {
    const checks: VerifyCheck[] = [];
    let db: DB | undefined;
    try {
      // The image file is the database: loading it is opening it.
      onPhase?.('load');
      db = await openSqliteHandle(imagePath, { readonly: true });
      db.pragma(`cache_size = -${CACHE_KIB}`);
      onPhase?.('check');
      const pragma = deep ? 'integrity_check' : 'quick_check';
      const rows = db.pragma(pragma) as Array<Record<string, string>>;
      const msgs = rows.map((r) => Object.values(r)[0]);
      const ok = msgs.length === 1 && msgs[0] === 'ok';
      checks.push({
        name: 'integrity',
        ok,
        detail: ok ? `PRAGMA ${pragma}: ok` : `PRAGMA ${pragma}: ${msgs.slice(0, 3).join('; ')}`,
      });
      if (!ok) return checks;
      const counts = countRows(db);
      const want = manifest.row_counts ?? {};
      const diffs: string[] = [];
      for (const t of new Set([...Object.keys(want), ...Object.keys(counts)])) {
        if (want[t] !== counts[t]) diffs.push(`${t}: manifest ${want[t] ?? 'absent'}, image ${counts[t] ?? 'absent'}`);
      }
      checks.push({
        name: 'row_counts',
        ok: diffs.length === 0,
        detail: diffs.length ? diffs.slice(0, 5).join('; ') : `${Object.keys(counts).length} tables match`,
      });
      checks.push(schemaCheck(manifest.schema_version, schemaVersionOf(db)));
    } catch (err) {
      checks.push({ name: 'integrity', ok: false, detail: `cannot open the image: ${(err as Error).message}` });
    } finally {
      db?.close();
    }
    return checks;
  },

  restoreTarget(config, to): RestoreTarget {
    const isSymlink = (p: string): boolean => {
      try {
        return lstatSync(p).isSymbolicLink();
      } catch {
        return false;
      }
    };
    const live = path.resolve(config.database.path);
    const location = to ? path.resolve(to) : live;
    // Restoring "to" a link would open and change the file it points at (and with --force replace it).
    if (to && isSymlink(location))
      throw new UsageError(`--to ${location} is a symbolic link; wks does not restore through links`, {
        hint: 'give the real path, or remove the link first',
      });
    return { description: location, location, live: location === live, exists: existsSync(location) };
  },

  async assertNotInUse(target): Promise<void> {
    if (!target.exists) return;
    const f = target.location;
    if (target.live) {
      // `wks serve` on SQLite holds a file lease beside the database (src/serve/leader.ts).
      try {
        const lease = JSON.parse(readFileSync(`${f}.serve.lock`, 'utf8')) as {
          pid?: number;
          host?: string;
          expiresAt?: number;
        };
        const here = lease.host === hostname();
        if ((lease.expiresAt ?? 0) > Date.now() && (!here || pidAlive(lease.pid ?? 0))) {
          throw new ConflictError(
            `\`wks serve\` is running against ${f} (pid ${lease.pid ?? '?'} on ${lease.host ?? '?'})`,
            {
              hint: 'stop `wks serve` (and the application) first, or pass --force to restore anyway',
            },
          );
        }
      } catch (err) {
        if (err instanceof ConflictError) throw err;
        /* no lease file, or unreadable: not running */
      }
    }
    const pids = pidsHolding([f, `${f}-wal`, `${f}-shm`]);
    if (pids.length) {
      throw new ConflictError(`the database ${f} is in use by ${pids.slice(0, 3).map(processName).join(', ')}`, {
        hint: 'stop the application and `wks serve` first, or pass --force to restore anyway',
        details: { pids },
      });
    }
    let db: DB | undefined;
    try {
      db = await openSqliteHandle(f, { busyTimeoutMs: 0 });
      db.exec('BEGIN IMMEDIATE');
      db.exec('ROLLBACK');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code?.startsWith('SQLITE_BUSY')) {
        throw new ConflictError(`the database ${f} is locked by another process`, {
          hint: 'stop the application and `wks serve` first, or pass --force',
          cause: err,
        });
      }
      // A damaged live database is exactly what restore is for: do not refuse.
    } finally {
      db?.close();
    }
  },

  stageImage(target): string {
    const f = target.location;
    const dir = path.dirname(f);
    if (!existsSync(dir)) {
      // Emergency restore onto a new host: create the configured database's directory; a --to typo is an error.
      if (!target.live)
        throw new NotFoundError(`directory ${dir} does not exist`, { hint: 'create it or choose another --to path' });
      mkdirSync(dir, { recursive: true });
    }
    // Beside the target, so that installing it is a rename (no second copy).
    return ownedTempPath(dir, `${path.basename(f)}.restore`);
  },

  stageWriteError(err, target, manifest): unknown {
    return restoreWriteError(err, target.location, manifest.raw_size);
  },

  async install(target, manifest, image, { log, deep }): Promise<{ integrity: string }> {
    const f = target.location;
    const dir = path.dirname(f);
    // Verification hashed and checked exactly this file (restore.ts): no second pass over it.
    const integrity = deep
      ? 'ok (sha256 matches the verified image; integrity_check ok)'
      : 'ok (sha256 matches the verified image)';
    try {
      if (manifest.engine_details?.journal_mode === 'wal') await restoreWal(image);
      removeQuietly(`${image}-wal`);
      removeQuietly(`${image}-shm`);
      chmodSync(image, 0o600);
      if (target.exists) await prepareReplaced(f, log);
      fsyncFile(image);
      for (const suffix of ['-wal', '-shm', '-journal']) removeQuietly(`${f}${suffix}`);
      renameSync(image, f);
      fsyncDir(dir);
    } finally {
      removeQuietly(`${image}-wal`);
      removeQuietly(`${image}-shm`);
    }
    // After the rename: the file in place opens as a database with the expected tables (its
    // pages were quick_checked above; a stale -wal applied to it would show here).
    // Read-write so that closing the last connection removes the -wal/-shm it creates.
    const db = await openSqliteHandle(f);
    try {
      const tables = Number(
        (db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table'").get() as { n: number }).n,
      );
      const want = Object.keys(manifest.row_counts ?? {}).length;
      if (tables < want)
        throw new OperationError(`the restored database ${f} has ${tables} tables, the backup ${want}`, {
          hint: 'restore the safety backup taken before this restore',
        });
      return { integrity };
    } finally {
      db.close();
    }
  },

  async quarantine(target, now, log): Promise<string> {
    const f = target.location;
    const stamp = now
      .toISOString()
      .replace(/[-:]/g, '')
      .replace(/\.\d{3}Z$/, 'Z');
    const dir = `${f}.quarantine-${stamp}`;
    try {
      mkdirSync(dir, { mode: 0o700 });
      for (const suffix of ['', '-wal', '-shm', '-journal']) {
        if (!existsSync(`${f}${suffix}`)) continue;
        const dest = path.join(dir, `${path.basename(f)}${suffix}`);
        copyFileSync(`${f}${suffix}`, dest, fsConstants.COPYFILE_EXCL);
        chmodSync(dest, 0o600);
        fsyncFile(dest);
      }
      fsyncDir(dir);
      fsyncDir(path.dirname(dir));
    } catch (err) {
      throw fsError(err, `cannot keep a copy of the damaged database ${f} in ${dir}; nothing was replaced`);
    }
    log?.('info', `kept the damaged database (with its -wal/-shm) in ${dir}`);
    return dir;
  },

  async keepIdentity(target, key, log): Promise<void> {
    const db = await openSqliteHandle(target.location, { busyTimeoutMs: 2000 });
    try {
      const now = key ? stampSqliteIdentity(db, key) : stampSqliteIdentity(db, `sqlite:${randomUUID()}`);
      log?.('info', `${target.location} keeps its own identity ${now}`);
    } finally {
      db.close();
    }
  },

  async logStart(config, row, log): Promise<number | null> {
    const file = config.database.path;
    if (!existsSync(file)) return null;
    try {
      const db = await openForLog(config);
      let keep = false;
      try {
        if (!db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'backup_log'").get()) {
          log?.('debug', 'backup_log table not found (database not migrated): skipping the backup_log mirror');
          return null;
        }
        // We hold the backup lock, so no other create is running: an in_progress row is a run that died.
        const stale = db
          .prepare(
            "UPDATE backup_log SET status = 'failed', completed_at = ?, error_message = 'interrupted: the backup process died before finishing' WHERE status = 'in_progress'",
          )
          .run(sqliteTime(row.startedAt));
        if (stale.changes) log?.('info', `marked ${stale.changes} interrupted backup_log row(s) as failed`);
        const r = db
          .prepare(
            "INSERT INTO backup_log (backup_type, file_path, started_at, status) VALUES (?, ?, ?, 'in_progress')",
          )
          .run(row.type, row.filePath, sqliteTime(row.startedAt));
        held.set(config, db); // for the snapshot and logFinish, which closes it
        keep = true;
        return Number(r.lastInsertRowid);
      } finally {
        if (!keep) db.close();
      }
    } catch (err) {
      log?.('warn', `could not write the backup_log row: ${logErrorText(config, err)}`);
      return null;
    }
  },

  async logFinish(config, rowId, row, log): Promise<void> {
    const own = held.get(config);
    held.delete(config);
    try {
      const db = own ?? (await openForLog(config));
      try {
        db.pragma(`busy_timeout = ${Math.max(1000, config.database.busy_timeout_ms)}`);
        db.prepare(
          'UPDATE backup_log SET status = ?, completed_at = ?, file_size_bytes = ?, checksum = ?, error_message = ? WHERE id = ?',
        ).run(
          row.status,
          sqliteTime(row.completedAt),
          row.sizeBytes ?? null,
          row.checksum ?? null,
          row.error ?? null,
          rowId,
        );
      } finally {
        db.close();
      }
    } catch (err) {
      log?.('warn', `could not update the backup_log row: ${logErrorText(config, err)}`);
    }
  },
};

/** The error for a failed write of the restored image: the restore target's disk (full, read-only, permissions), not the backup directory's. */
function restoreWriteError(err: unknown, f: string, rawSize: number): unknown {
  const dir = path.dirname(f);
  const code = (err as NodeJS.ErrnoException).code ?? '';
  if (!['ENOSPC', 'EACCES', 'EROFS', 'EDQUOT'].includes(code)) return err;
  return fsError(
    err,
    `cannot write the restored database beside ${f}`,
    code === 'ENOSPC' || code === 'EDQUOT'
      ? `free space on the file system of ${dir} (the restore target needs about ${formatBytes(rawSize)} there), or restore elsewhere with --to PATH`
      : code === 'EROFS'
        ? `${dir} is on a read-only file system: remount it read-write, or restore elsewhere with --to PATH`
        : `check the permissions of ${dir} (the restore target), or restore elsewhere with --to PATH`,
  );
}

/** Put the source's WAL journal mode back on the restored image (the snapshot was switched to DELETE). */
async function restoreWal(image: string): Promise<void> {
  const img = await openSqliteHandle(image);
  try {
    img.pragma('journal_mode = WAL');
  } finally {
    img.close();
  }
}

/**
 * Before the database at `f` is replaced: say when its mode differs from the
 * restored 0600, and fold its WAL into the file so that removing -wal/-shm can
 * never lose data of the old database if we are interrupted before the rename.
 */
async function prepareReplaced(f: string, log: LogFn | undefined): Promise<void> {
  // A restored database is always 0600, like a new one (it holds password hashes and sessions).
  try {
    const was = statSync(f).mode & 0o777;
    if (was !== 0o600)
      log?.(
        'info',
        `${f} was ${was.toString(8)}; the restored database is 600 (chmod it if the application runs as another user)`,
      );
  } catch {
    /* gone meanwhile */
  }
  // Fold the old WAL into the old file so that removing -wal/-shm can never lose data
  // of the old database if we are interrupted before the rename.
  try {
    const old = await openSqliteHandle(f, { busyTimeoutMs: 2000 });
    try {
      old.pragma('wal_checkpoint(TRUNCATE)');
      old.pragma('journal_mode = DELETE');
    } finally {
      old.close();
    }
  } catch (err) {
    log?.('debug', `could not checkpoint the old database (${(err as Error).message}); replacing it anyway`);
  }
}
