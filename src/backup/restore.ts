/**
 * `restoreBackup`: check the selection, the source and the target (refused
 * while in use, unless force), confirm, verify, take a safety backup of what
 * is replaced (type manual, label `pre-restore`), then let the engine install
 * the image so that the target is always either the old or the new database,
 * whole.
 *
 * One pass: verification writes the image where the engine installs it
 * (SQLite: beside the target) while it hashes it, and checks that file; the
 * install is then a rename of the very bytes that passed (no second copy, no
 * re-hash). Until then the file is a tracked private file (util/scratch): it
 * is removed on every exit path, and after a kill -9 by the next run. The
 * question comes before that pass, so a declined restore writes nothing; a dry
 * run verifies as `backup verify` does (private scratch only), never beside
 * the target.
 */
import path from 'node:path';
import type { Config } from '../config/index.js';
import { ConflictError, OperationError, UsageError, WksError } from '../errors.js';
import { engineFor, engineForManifest, type RestoreTarget } from './engine.js';
import { createLocked, resolveCreateOptions } from './create.js';
import { sweepLeftovers } from './files.js';
import type { LockOwner } from './lock.js';
import { MirroredRepository, withRepository, type BackupRepository } from './repository/index.js';
import { removeScratch, trackPrivateFile } from '../util/scratch.js';
import { selectBackups, verificationFailure, verifyEntry, type Selection } from './verify.js';
import { describeSource, isBackupOf, manifestIdentity, sourceCatalog, sourceLabel } from './source.js';
import type { CatalogEntry, LogFn, Manifest, ProgressFn, VerificationRecord } from './types.js';

export interface RestorePlan {
  backup: Manifest;
  /** Whose backup it is (source.ts), and whether that is another database than the configured one. */
  source: { label: string; description: string; other: boolean };
  target: RestoreTarget;
  /** True when a safety backup of the target will be taken first. */
  safetyBackup: boolean;
  /** The copy restored from: the local one when there is one (local+s3), else the bucket's. */
  copy: { location: 'local' | 's3'; path: string };
}

export interface RestoreOptions {
  /** Which backup: `{ id }`, `{ latest: true }` or `{ at: Date }`. */
  select: Exclude<Selection, { all: true }>;
  /** Restore to this file instead of the live database (inspection; the live database is untouched). */
  to?: string;
  /** Restore even if the target is in use, or `to` exists, or the safety backup fails. */
  force?: boolean;
  /** Allow replacing the configured database with a backup of another source (another database id, engine or location). */
  allowOtherSource?: boolean;
  /** integrity_check instead of quick_check during the pre-restore verification. */
  deep?: boolean;
  /** Accept an unencrypted or pre-authentication backup although encryption is enabled. */
  allowUnauthenticated?: boolean;
  /**
   * Verify the backup exactly as `backup verify` does (nothing is written beside the target),
   * check the target, and stop: the result is `cancelled` with the verification. No question.
   */
  dryRun?: boolean;
  /**
   * Asked after the selection, source and in-use checks and before the image is written and
   * verified (a declined restore writes nothing); return false to cancel. Default: proceed.
   */
  confirm?: (plan: RestorePlan) => Promise<boolean>;
  now?: Date;
  log?: LogFn;
  onProgress?: ProgressFn;
  onLockWait?: (owner: LockOwner | null) => void;
}

export interface RestoreResult {
  cancelled: boolean;
  backup_id: string;
  /** Label of the backup's source (source.ts) and whether it is not the configured database. */
  backup_source: string;
  other_source: boolean;
  target: string;
  live: boolean;
  /** The copy restored from (local+s3: the local one when there is one). */
  copy: { location: 'local' | 's3'; path: string };
  safety_backup_id: string | null;
  /** Where the damaged database was kept when no safety backup could be taken (--force), or null. */
  quarantine: string | null;
  /** The verification (null when the question was declined: nothing was read or verified). */
  verification: VerificationRecord | null;
  integrity: string | null;
  schema_version: string | null;
  duration_ms: number;
  /**
   * Where the time went (RTO planning): verification (the one pass that writes the image beside the
   * target while hashing it, and its integrity check), safety backup, install (fsync and rename).
   */
  timings: { verify_ms: number; safety_backup_ms: number; install_ms: number };
  next_steps: string[];
}

/**
 * The safety backup failed: name the actual error, and what --force will do
 * (keep the damaged file aside first, where the engine can).
 */
function safetyFailure(err: unknown, target: string, canQuarantine: boolean): OperationError {
  const e = err as { message?: string; code?: string; cause?: { code?: string; message?: string } };
  const code = e.cause?.code ?? e.code ?? '';
  const damaged = /SQLITE_(CORRUPT|NOTADB)/.test(code) || /malformed|not a database/i.test(e.message ?? '');
  const force = canQuarantine
    ? `pass --force to restore anyway: wks first copies ${target} (with its -wal/-shm) to ${target}.quarantine-<time>/ so that newer rows can be salvaged from it`
    : 'pass --force to restore without a safety backup';
  return new OperationError(`could not take a safety backup of ${target}: ${e.message ?? String(err)}`, {
    cause: err,
    hint: damaged
      ? `the database is damaged (${code || 'malformed'}); ${force}`
      : `fix that (${code || 'see the error above'}) and retry, or ${force}`,
  });
}

/** The one engine-mismatch error: the backup's engine decides where it can go. */
function engineMismatch(m: Manifest, configured: string): UsageError {
  return new UsageError(`backup ${m.id} is a ${m.engine} backup but the configured database is ${configured}`, {
    hint:
      m.engine === 'sqlite'
        ? `restore it to a separate file: \`wks backup restore ${m.id} --to ./restored.db\``
        : `configure the PostgreSQL database (PG_ENABLED=true and PG_*) and run \`wks backup restore ${m.id} --to-database NAME\``,
  });
}

/**
 * Restore a backup. Throws VerificationError (3) when it fails verification,
 * ConflictError (4) when the target is in use or `to` exists (without force),
 * NotFoundError (5) / UsageError (2) for the selection, ConfigError (78) when
 * the key is missing, OperationError (1) when the safety backup or the
 * install fails (the target is then left as it was).
 */
export async function restoreBackup(config: Config, opts: RestoreOptions): Promise<RestoreResult> {
  return withRepository(config, opts.log, (repo) => restoreFrom(config, repo, opts));
}

// long: the restore in its order (select, check, confirm, verify, lock, safety backup, install, next steps);
// each step is a helper below; what remains is the state they share (plan, timings, the verified image).
async function restoreFrom(config: Config, repo: BackupRepository, opts: RestoreOptions): Promise<RestoreResult> {
  const t0 = Date.now();
  const cat = await sourceCatalog(config, { repo });
  const [entry] = await selectBackups(config, opts.select, { repo, catalog: cat });
  const m = entry!.manifest;
  const engine = await engineForManifest(m);
  const current = await engineFor(config).catch(() => null);
  if (!opts.to && current && current.name !== engine.name) throw engineMismatch(m, current.name);
  const target = await engine.restoreTarget(config, opts.to);
  const whose = manifestIdentity(m);
  // "Own" as the source catalog decided it (which includes a new host's predecessor, source.ts rule 4).
  const other = !cat.entries.includes(entry!) && !isBackupOf(m, cat.source);
  const source = { label: sourceLabel(whose), description: describeSource(whose), other };
  refuseTarget(m, source, cat.source, target, opts);
  const copy = { location: repo.sideOf(entry!.dataName), path: entry!.dataPath };
  if (target.exists && !opts.force) await engine.assertNotInUse(target);
  const plan: RestorePlan = { backup: m, source, target, safetyBackup: target.live && target.exists, copy };
  const timings = { verify_ms: 0, safety_backup_ms: 0, install_ms: 0 };
  const stopped = (verification: VerificationRecord | null): RestoreResult => ({
    ...resultBase(plan),
    cancelled: true,
    safety_backup_id: null,
    quarantine: null,
    verification,
    integrity: null,
    duration_ms: Date.now() - t0,
    timings,
    next_steps: [],
  });
  // `into` unset: the `backup verify` path (a plain local file read where it is, anything else decoded into private scratch).
  const verify = async (into?: string): Promise<VerificationRecord> => {
    const tv = Date.now();
    const rec = await verifyCopy(
      repo,
      entry!,
      copy,
      (r) =>
        verifyEntry(config, entry!, {
          repo: r,
          into,
          deep: opts.deep,
          allowUnauthenticated: opts.allowUnauthenticated,
          now: opts.now,
          log: opts.log,
          onProgress: opts.onProgress,
        }),
      opts.log,
    ).catch((err) => {
      throw readFailure(into && !(err instanceof WksError) ? engine.stageWriteError(err, target, m) : err, m, target);
    });
    timings.verify_ms = Date.now() - tv;
    if (!rec.ok) throw verificationFailure(rec);
    return rec;
  };
  if (opts.dryRun) return stopped(await verify());
  if (opts.confirm && !(await opts.confirm(plan))) return stopped(null);
  if (repo.kind === 'local+s3') opts.log?.('info', `restoring ${m.id} from its ${copy.location} copy (${copy.path})`);

  // The image is written once, where it is installed, and verification checks that file.
  const image = engine.stageImage(target, m);
  const untrack = trackPrivateFile(image);
  try {
    const verification = await verify(image);
    // The target may have been opened while the image was written and checked.
    if (target.exists && !opts.force) await engine.assertNotInUse(target);
    await repo.prepare();
    return await repo.withMutex(
      { timeoutMs: config.database.backup.lock_timeout_ms, command: 'backup restore', onWait: opts.onLockWait },
      async () => {
        await repo.sweep(opts.log);
        // A restore killed mid-way leaves its temp file beside the target: remove it now.
        if (engine.name === 'sqlite') sweepLeftovers(path.dirname(target.location), { ownedOnly: true });
        const ts = Date.now();
        const { safetyId, quarantine } = plan.safetyBackup
          ? await takeSafetyBackup(config, engine, repo, m, target, opts)
          : { safetyId: null, quarantine: null };
        timings.safety_backup_ms = Date.now() - ts;
        const ti = Date.now();
        const integrity = await installImage(engine, target, m, image, safetyId, opts);
        // A database replaced by another source's backup stays the database it was (same id);
        // one restored where none existed continues the backup's lineage.
        if (other && target.live && target.exists) await engine.keepIdentity?.(target, cat.source.key, opts.log);
        timings.install_ms = Date.now() - ti;
        return {
          ...resultBase(plan),
          cancelled: false,
          safety_backup_id: safetyId,
          quarantine,
          verification,
          integrity,
          duration_ms: Date.now() - t0,
          timings,
          next_steps: nextSteps(engine, target, m, safetyId, quarantine),
        };
      },
    );
  } finally {
    removeScratch(image);
    untrack();
  }
}

/** What every result says about the plan (restored, declined or a dry run). */
function resultBase(plan: RestorePlan) {
  return {
    backup_id: plan.backup.id,
    backup_source: plan.source.label,
    other_source: plan.source.other,
    target: plan.target.description,
    live: plan.target.live,
    copy: plan.copy,
    schema_version: plan.backup.schema_version,
  };
}

/** The engine installs the verified image; a failure that is not already a WksError says the target was not replaced. */
async function installImage(
  engine: Engine,
  target: RestoreTarget,
  m: Manifest,
  image: string,
  safetyId: string | null,
  opts: RestoreOptions,
): Promise<string> {
  try {
    const { integrity } = await engine.install(target, m, image, {
      log: opts.log,
      onProgress: opts.onProgress,
      force: opts.force,
      deep: opts.deep,
    });
    return integrity;
  } catch (err) {
    if (err instanceof WksError) throw err;
    throw new OperationError(`restore of ${m.id} failed: ${(err as Error).message}`, {
      cause: err,
      hint: `${target.description} was not replaced${safetyId ? ` (safety backup ${safetyId})` : ''}; fix the cause and retry`,
    });
  }
}

/** An error of the verification pass that is not a verdict on the backup (reading it, writing the image): one line; the target is untouched. */
function readFailure(err: unknown, m: Manifest, target: RestoreTarget): WksError {
  if (err instanceof WksError) return err;
  return new OperationError(`restore of ${m.id} failed while reading and checking it: ${(err as Error).message}`, {
    cause: err,
    hint: `${target.description} was not replaced; fix the cause and retry`,
  });
}

/**
 * Verify the chosen copy (into the staged image). local+s3: when the local
 * copy fails and the bucket holds the backup too, the bucket's copy is
 * verified and used instead (with a warning; the local copy's failure stays
 * recorded): a damaged file on this host does not stop a restore the
 * off-host copy can serve.
 */
async function verifyCopy(
  repo: BackupRepository,
  entry: CatalogEntry,
  copy: { location: 'local' | 's3'; path: string },
  verify: (r: BackupRepository) => Promise<VerificationRecord>,
  log?: LogFn,
): Promise<VerificationRecord> {
  const rec = await verify(repo);
  if (rec.ok || !(repo instanceof MirroredRepository) || copy.location !== 'local' || !entry.locations.includes('s3'))
    return rec;
  log?.(
    'warn',
    `the local copy of ${entry.manifest.id} failed verification (${rec.failed}); trying ${repo.remote.location}`,
  );
  const remote = await verify(repo.remote);
  if (!remote.ok) return rec;
  Object.assign(copy, { location: 's3', path: repo.remote.describe(entry.dataName) });
  return remote;
}

/** Refuse another database's backup over the live database (without --allow-other-source), and an existing --to (without --force). */
function refuseTarget(
  m: Manifest,
  source: { label: string; description: string; other: boolean },
  configured: Parameters<typeof describeSource>[0],
  target: RestoreTarget,
  opts: RestoreOptions,
): void {
  if (source.other && target.live && !opts.allowOtherSource) {
    throw new ConflictError(
      `backup ${m.id} is a backup of ${source.description}, not of the configured database ${describeSource(configured)}`,
      {
        hint: 'to replace the configured database with it anyway, add --allow-other-source; to look at it, restore it with --to PATH (PostgreSQL: --to-database NAME)',
        details: { backup_source: source.label, configured_source: sourceLabel(configured) },
      },
    );
  }
  if (!target.live && target.exists && !opts.force) {
    throw new ConflictError(`${target.description} already exists`, {
      hint: 'choose a new --to path, or pass --force to overwrite it',
    });
  }
}

type Engine = Awaited<ReturnType<typeof engineForManifest>>;

/**
 * The safety backup of the database about to be replaced. When it fails,
 * the restore stops unless forced; forced, a database the engine cannot read
 * is quarantined (kept as it is) so newer rows can be salvaged.
 */
async function takeSafetyBackup(
  config: Config,
  engine: Engine,
  repo: BackupRepository,
  m: Manifest,
  target: RestoreTarget,
  opts: RestoreOptions,
): Promise<{ safetyId: string | null; quarantine: string | null }> {
  let safetyId: string | null = null;
  let quarantine: string | null = null;
  try {
    const r = resolveCreateOptions(config, {
      type: 'manual',
      label: 'pre-restore',
      encrypt: !!m.encryption || config.database.backup.encryption.enabled,
    });
    const safety = await createLocked(config, engine, repo, r, {
      log: opts.log,
      onProgress: opts.onProgress,
      stampIdentity: false,
    });
    safetyId = safety.manifest.id;
    opts.log?.('info', `safety backup of the current database: ${safetyId}`);
  } catch (err) {
    if (!opts.force) throw safetyFailure(err, target.description, !!engine.quarantine);
    opts.log?.('warn', `no safety backup (${(err as Error).message}); continuing because of --force`);
    // The file cannot be read through the engine: keep it as it is, so newer rows can be salvaged.
    if (engine.quarantine) quarantine = await engine.quarantine(target, opts.now ?? new Date(), opts.log);
  }
  return { safetyId, quarantine };
}

/** What the operator does next, after the restore. */
function nextSteps(
  engine: Engine,
  target: RestoreTarget,
  m: Manifest,
  safetyId: string | null,
  quarantine: string | null,
): string[] {
  const next: string[] = [];
  if (target.live) {
    next.push('start the application (and `wks serve`) again');
    next.push(...(engine.nextSteps?.(target) ?? []));
    next.push(
      `check the schema: \`wks migrate status\` (the backup is at ${m.schema_version ?? 'no recorded schema version'}); run \`wks migrate up\` if the application expects a newer one`,
    );
    next.push('check the service: `wks health`');
    if (safetyId) next.push(`to undo: \`wks backup restore ${safetyId} --yes\``);
    if (quarantine)
      next.push(
        `the damaged database was kept in ${quarantine}: get rows newer than the backup out of it with \`wks db salvage ${path.join(quarantine, path.basename(target.location))} --to ${target.location}.salvage\` (docs/backup-and-recovery.md, "Damaged database")`,
      );
  } else {
    next.push(...(engine.nextSteps?.(target) ?? [`inspect it: sqlite3 -readonly ${target.description}`]));
    next.push(`to restore it as the live database: \`wks backup restore ${m.id}\``);
  }
  return next;
}
