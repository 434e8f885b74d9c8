/**
 * `verifyBackup`: checksum of the stored object, then decode (decrypt and
 * decompress, checking the raw image's sha256 and size), then the engine's
 * image checks (SQLite: PRAGMA quick_check, or integrity_check with deep, and
 * row counts against the manifest). A remote object is streamed once through
 * the same checks into a private scratch file. For a restore (`into`), the
 * image is written where it will be installed and every check reads those
 * bytes: the file that passes is the file installed, with no second pass. The
 * result is recorded in the `<id>.verify.json` sidecar and shown by `list`.
 */
import type { Config } from '../config/index.js';
import { NotFoundError, VerificationError, WksError } from '../errors.js';
import { engineForManifest } from './engine.js';
import path from 'node:path';
import {
  backupAt,
  bucketEntry,
  catalogOf,
  ID_RE,
  missingDirectory,
  latestBackup,
  newBackupId,
  readCatalog,
  resolveBackup,
  writeVerification,
  type CatalogProblem,
} from './catalog.js';
import { authenticateManifest, decryptExpectation } from './authenticate.js';
import { decodeTo, hashFile } from './codecs/pipeline.js';
import { hashFileInWorker } from './codecs/hash-worker.js';
import { sweepLeftovers } from './files.js';
import { MirroredRepository, withRepository, type BackupRepository } from './repository/index.js';
import { removeScratch, scratchPath, sweepScratch } from '../util/scratch.js';
import { copyFile, open } from 'node:fs/promises';
import { chmodSync, constants as fsConstants } from 'node:fs';
import { describeSource, othersNote, sourceCatalog, type SourceCatalog } from './source.js';
import type { CatalogEntry, LogFn, ProgressFn, VerificationRecord, VerifyCheck } from './types.js';

export interface VerifyOptions {
  /**
   * Write the decoded image to this file (it must not exist; the engine's
   * stageImage) in the same pass that hashes it, and run the image checks on
   * that file: when verification passes it is left there, exactly the bytes
   * checked, for restore to install; otherwise it is removed. A failure to
   * write it (full disk, permissions) is thrown, not recorded as a failed check.
   */
  into?: string;
  /** Full integrity_check instead of quick_check. Default false. */
  deep?: boolean;
  now?: Date;
  onProgress?: ProgressFn;
  log?: LogFn;
  /** The repository holding the entry; default: the configured one (opened and closed here). */
  repo?: BackupRepository;
  /** Accept an unencrypted or pre-authentication backup although encryption is enabled (see authenticate.ts). */
  allowUnauthenticated?: boolean;
}

const isPlain = (e: CatalogEntry): boolean => e.manifest.compression === 'none' && !e.manifest.encryption;

/**
 * Verify one catalog entry and return the record (ok or not). Does not throw
 * for a bad backup; throws ConfigError (78) when an encrypted backup cannot be
 * checked because the key is missing or wrong (nothing is recorded then).
 */
export async function verifyEntry(
  config: Config,
  entry: CatalogEntry,
  opts: VerifyOptions = {},
): Promise<VerificationRecord> {
  if (opts.repo) return verifyIn(config, opts.repo, entry, opts);
  return withRepository(config, opts.log, (repo) => verifyIn(config, repo, entry, opts));
}

async function verifyIn(
  config: Config,
  repo: BackupRepository,
  entry: CatalogEntry,
  opts: VerifyOptions,
): Promise<VerificationRecord> {
  const m = entry.manifest;
  const t0 = Date.now();
  sweepDeadScratch(config, opts.log);
  const checks: VerifyCheck[] = [];
  const finish = async (): Promise<VerificationRecord> => {
    const failed = checks.find((c) => !c.ok)?.name ?? null;
    const rec: VerificationRecord = {
      id: m.id,
      at: (opts.now ?? new Date()).toISOString(),
      ok: failed === null,
      deep: !!opts.deep,
      checks,
      failed,
      duration_ms: Date.now() - t0,
    };
    try {
      await writeVerification(repo, rec);
    } catch (err) {
      opts.log?.('warn', `could not record the verification of ${m.id}: ${(err as Error).message}`);
    }
    return rec;
  };

  if (!entry.dataPresent) {
    checks.push({ name: 'manifest', ok: false, detail: `data file ${m.file} is missing` });
    return await finish();
  }
  // Authenticity first: a planted or relabelled backup is never decoded, let alone loaded into a database.
  checks.push(authenticateManifest(config, m, { allowUnauthenticated: opts.allowUnauthenticated, log: opts.log }));
  if (!checks[0]!.ok) return finish();
  const engine = await engineForManifest(m);
  const local = repo.localPath(entry.dataName);
  const run: CheckRun = { config, engine, entry, opts, checks, finish };
  if (!opts.into) return isPlain(entry) && local ? checkPlain(run, local) : checkEncoded(run, repo, local);
  const into = opts.into;
  try {
    const rec = await (isPlain(entry) && local ? checkCopy(run, local, into) : checkEncoded(run, repo, local));
    if (!rec.ok) removeScratch(into);
    return rec;
  } catch (err) {
    removeScratch(into);
    throw err;
  }
}

/** A plain local image for a restore: a kernel copy (copy_file_range, as cp) to `into`, then the checks read the copy. */
async function checkCopy(run: CheckRun, local: string, into: string): Promise<VerificationRecord> {
  run.opts.onProgress?.({ phase: 'install', done: 0, total: run.entry.manifest.stored_size, unit: 'bytes' });
  await copyFile(local, into, fsConstants.COPYFILE_EXCL);
  // copyFile gives the copy the source's mode; the image is private whatever that was.
  chmodSync(into, 0o600);
  const syncing = syncInBackground(into);
  try {
    return await checkPlain(run, into);
  } finally {
    await syncing;
  }
}

/** One verification in progress: what it checks, the checks so far, and `finish` (records and returns the result). */
interface CheckRun {
  config: Config;
  engine: Awaited<ReturnType<typeof engineForManifest>>;
  entry: CatalogEntry;
  opts: VerifyOptions;
  checks: VerifyCheck[];
  finish: () => Promise<VerificationRecord>;
}

function checksumCheck(m: CatalogEntry['manifest'], size: number, sha: string): VerifyCheck {
  const ok = size === m.stored_size && sha === m.sha256;
  return {
    name: 'checksum',
    ok,
    detail: ok
      ? `sha256 ${sha.slice(0, 16)}... matches`
      : size !== m.stored_size
        ? `size ${size} != manifest ${m.stored_size}`
        : `sha256 ${sha.slice(0, 16)}... != manifest ${m.sha256.slice(0, 16)}...`,
  };
}

/**
 * A plain image (`file`: the local backup, or restore's copy of it): the checksum (worker thread)
 * and the read-only image checks run in parallel; the checksum is still reported first, and a mismatch wins.
 */
async function checkPlain(run: CheckRun, file: string): Promise<VerificationRecord> {
  const { config, engine, opts, checks, finish } = run;
  const m = run.entry.manifest;
  opts.onProgress?.({ phase: 'checksum', done: 0, total: m.stored_size, unit: 'bytes' });
  const hashing = hashFileInWorker(file);
  hashing.catch(() => undefined);
  const image = await engine.checkImage(file, m, { deep: !!opts.deep, config, log: opts.log });
  const h = await hashing;
  checks.push(checksumCheck(m, h.size, h.sha256));
  if (!checks[checks.length - 1]!.ok) return await finish();
  checks.push({ name: 'decode', ok: true, detail: 'plain image (no compression, no encryption)' });
  checks.push(...image);
  return await finish();
}

/**
 * A compressed, encrypted or remote object: decoded once, through the
 * checksum, into a file that the image checks then read: restore's `into`
 * (kept when it passes), else a private scratch file (removed).
 */
// long: one pass with its three outcomes (decode failed, checksums differ, image checks), each recorded.
async function checkEncoded(run: CheckRun, repo: BackupRepository, local: string | null): Promise<VerificationRecord> {
  const { config, engine, entry, opts, checks, finish } = run;
  const m = entry.manifest;
  const encryption = decryptExpectation(config, m, opts.log);
  // Decoded data lives only in this process's private scratch directory (or restore's tracked file), never in the repository.
  const out = opts.into ?? scratchPath(`${m.id}.verify${engine.extension}`);
  let syncing: Promise<void> | null = null;
  try {
    let decoded;
    try {
      decoded = await decodeTo(local ?? (await repo.read(entry.dataName)), out, {
        compression: m.compression,
        encryption,
        // Restore's file is fsynced below, while the checks read it; a scratch file is removed: never.
        durable: false,
        onBytes: (n: number) => opts.onProgress?.({ phase: 'decode', done: n, total: m.stored_size, unit: 'bytes' }),
      });
    } catch (err) {
      // A missing key or tool (ConfigError, DependencyError) says nothing about the backup: not recorded as a failure.
      if (err instanceof WksError) throw err;
      // Nor does a restore target that cannot be written (full disk, permissions): the caller says so.
      if (opts.into && (err as NodeJS.ErrnoException).syscall) throw err;
      // Decoding failed part-way: report the checksum (hash the whole file) and the decode error.
      const h = await hashFile(local ?? (await repo.read(entry.dataName)));
      checks.push(checksumCheck(m, h.size, h.sha256));
      checks.push({
        name: 'decode',
        ok: false,
        detail: `${m.encryption ? 'decrypt/' : ''}decompress failed: ${(err as Error).message}`,
      });
      return await finish();
    }
    if (opts.into) syncing = syncInBackground(opts.into);
    checks.push(checksumCheck(m, decoded.storedSize, decoded.storedSha256));
    if (!checks[checks.length - 1]!.ok) return await finish();
    const rawOk = decoded.rawSize === m.raw_size && decoded.rawSha256 === m.raw_sha256;
    checks.push({
      name: 'decode',
      ok: rawOk,
      detail: rawOk
        ? `decoded ${decoded.rawSize} bytes, raw sha256 matches`
        : `decoded image (${decoded.rawSize} bytes) does not match the manifest's raw sha256/size`,
    });
    if (!rawOk) return await finish();
    opts.onProgress?.({ phase: 'integrity', done: 0, total: null, unit: 'pages' });
    checks.push(...(await engine.checkImage(out, m, { deep: !!opts.deep, config, log: opts.log })));
    return await finish();
  } finally {
    if (!opts.into) removeScratch(out);
    // A write-back error (EIO, a thin volume out of space) is the restore target's: thrown.
    await syncing;
  }
}

/**
 * fsync restore's image on libuv's thread pool, started as soon as it is written, so that its
 * write-back overlaps the checks that read it (the install's own fsync then finds it clean).
 * Never rejects unobserved: the caller awaits it.
 */
function syncInBackground(file: string): Promise<void> {
  const p = (async () => {
    const fh = await open(file, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  })();
  p.catch(() => undefined);
  return p;
}

/**
 * Remove what killed wks processes left: their scratch directories, and the
 * decoded images older versions wrote into the repository (owned temp names
 * of dead pids only: a live writer's files are never touched). Never throws.
 */
export function sweepDeadScratch(config: Config, log?: VerifyOptions['log']): void {
  const removed = [...sweepScratch(), ...sweepLeftovers(config.database.backup.storage_path, { ownedOnly: true })];
  if (removed.length) log?.('info', `removed ${removed.length} leftover file(s) of interrupted runs`);
}

/** The VerificationError (exit 3) for a failed record, naming the failed check. */
export function verificationFailure(rec: VerificationRecord): VerificationError {
  const c = rec.checks.find((x) => !x.ok)!;
  return new VerificationError(`backup ${rec.id} failed verification: ${c.name}: ${c.detail}`, {
    hint: 'do not restore from it; pick another backup (`wks backup list`) and take a new one (`wks backup create`)',
    details: { verification: rec },
  });
}

/**
 * Verify the backup named by `selector` (id or unique prefix). Returns the
 * record when it passes; throws VerificationError (3) naming the failed
 * check, NotFoundError (5) / UsageError (2) for an unknown / ambiguous id.
 */
export async function verifyBackup(
  config: Config,
  selector: string,
  opts: VerifyOptions = {},
): Promise<VerificationRecord> {
  return withRepository(
    config,
    opts.log,
    async (repo) => {
      const entry = resolveBackup((await readCatalog(repo)).entries, selector, repo.location);
      const rec = await verifyEntry(config, entry, { ...opts, repo });
      if (!rec.ok) throw verificationFailure(rec);
      return rec;
    },
    { repo: opts.repo },
  );
}

/** Which backups a command means: one id/prefix, the latest, the newest at or before a time, or all. */
export type Selection = { id: string } | { latest: true } | { at: Date } | { all: true };

/**
 * Resolve a selection against the catalog of `repo` (default: the configured
 * repository). An id or prefix may name any backup in it; `latest`, `at` and
 * `all` consider only the backups of the configured database (source.ts).
 * Throws NotFoundError (5) for a missing backup directory, or naming the
 * other sources' backups when only those exist; UsageError (2); and
 * VerificationError (3) when an id names a backup whose manifest is broken
 * (a failed backup, not an absent one), and when `latest` / `at` would pass
 * over a broken backup newer than the one it picks: the operator is told the
 * newest backup is broken, never silently handed an older one.
 */
export async function selectBackups(
  config: Config,
  sel: Selection,
  opts: { repo?: BackupRepository; log?: LogFn; catalog?: SourceCatalog } = {},
): Promise<CatalogEntry[]> {
  const c = opts.catalog ?? (await sourceCatalog(config, { repo: opts.repo, log: opts.log }));
  const dir = c.directory;
  if (c.missing) throw missingDirectory(dir);
  if ('id' in sel) {
    const entries = [...c.entries, ...c.others];
    const s = sel.id.trim();
    const broken = c.problems.filter((p) => p.id === s || (s && p.id.startsWith(s)));
    const exact = entries.some((e) => e.manifest.id === s);
    if (!exact && broken.length === 1 && !entries.some((e) => e.manifest.id.startsWith(s)))
      throw brokenFailure(broken[0]!);
    if (!exact && !broken.length && c.remoteProblem && ID_RE.test(s)) {
      const found = await lookUpInBucket(config, s, opts.repo);
      if (found && 'manifest' in found) return [found];
      if (found) throw brokenFailure(found);
    }
    return [resolveBackup(entries, sel.id, dir)];
  }
  if ('all' in sel) return c.entries;
  const newestBroken = [...c.problems].sort((a, b) => (a.id < b.id ? 1 : -1))[0];
  if (!c.entries.length && newestBroken) throw brokenFailure(newestBroken);
  if (!c.entries.length) {
    throw new NotFoundError(`there are no backups of ${describeSource(c.source)} in ${dir}${othersNote(c.others)}`, {
      hint: c.others.length
        ? 'see them with `wks backup list`; restore one by id with --allow-other-source, or create one with `wks backup create`'
        : 'create one with `wks backup create`',
    });
  }
  const hit = 'latest' in sel ? latestBackup(c.entries, dir) : backupAt(c.entries, sel.at, dir);
  const skipped = brokenNewerThan(c.problems, hit, 'at' in sel ? sel.at : null);
  if (skipped) throw brokenFailure(skipped, hit.manifest.id);
  return [hit];
}

/**
 * An explicit id the local catalog does not hold while the bucket could not be listed (within
 * BACKUP_S3_LOCAL_FALLBACK_MS): its manifest fetched by key with the full retry budget (bucketEntry)
 * before the id counts as not found. Null when the bucket has no such backup.
 */
async function lookUpInBucket(
  config: Config,
  id: string,
  given?: BackupRepository,
): Promise<CatalogEntry | CatalogProblem | null> {
  return withRepository(
    config,
    undefined,
    async (repo) => (repo instanceof MirroredRepository ? bucketEntry(repo, id) : null),
    { repo: given },
  );
}

/**
 * The newest broken backup (see CatalogProblem) that `--latest` / `--at` would silently pass over
 * for `hit`: taken at or after it (by the time in its id), and not after `at`. Its manifest cannot
 * be read, so its source is unknown: it counts for every database sharing the repository.
 */
function brokenNewerThan(problems: CatalogProblem[], hit: CatalogEntry, at: Date | null): CatalogProblem | null {
  const stamp = (id: string) => id.slice(0, 16);
  const limit = at ? stamp(newBackupId(at)) : null;
  const newer = problems
    .filter((p) => stamp(p.id) >= stamp(hit.manifest.id) && (!limit || stamp(p.id) <= limit))
    .sort((a, b) => (a.id < b.id ? 1 : -1));
  return newer[0] ?? null;
}

/** Backups whose manifest is broken (see CatalogProblem): each one is a failed backup. */
export async function brokenBackups(config: Config, opts: { log?: LogFn } = {}): Promise<CatalogProblem[]> {
  return (await catalogOf(config, opts.log)).problems;
}

/** The failed verification record of a backup whose manifest is broken (not written to disk). */
export function brokenRecord(p: CatalogProblem, now = new Date()): VerificationRecord {
  return {
    id: p.id,
    at: now.toISOString(),
    ok: false,
    deep: false,
    checks: [
      {
        name: 'manifest',
        ok: false,
        detail: `${path.basename(p.file)}: ${p.problem}${p.data_files.length ? ` (data: ${p.data_files.join(', ')})` : ' (no data file)'}`,
      },
    ],
    failed: 'manifest',
    duration_ms: 0,
  };
}

/**
 * The VerificationError (exit 3) for a backup whose manifest is broken; `older` names the newest
 * usable backup when the broken one was the newest a selection (`--latest`, `--at`) could mean.
 */
export function brokenFailure(p: CatalogProblem, older?: string): VerificationError {
  const next = older
    ? `the newest usable backup before it is ${older}: name it by id to use it (\`wks backup verify ${older}\`)`
    : 'take a new backup (`wks backup create`) and inspect or remove the files named (`wks backup list`)';
  return new VerificationError(`backup ${p.id} is broken: its manifest ${p.file} cannot be used: ${p.problem}`, {
    hint: `do not restore from it; ${next}`,
    details: { verification: brokenRecord(p), data_files: p.data_files, ...(older ? { newest_usable: older } : {}) },
  });
}
