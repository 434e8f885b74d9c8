/**
 * Restore drills (`wks backup drill`): prove that a backup restores, and
 * measure how long it takes (the measured RTO), without touching the live
 * database. A drill:
 *
 *   fetch   reads the stored backup and checks its size and sha256 against the manifest;
 *   decode  decrypts and decompresses it (nothing to do for a plain image);
 *   load    restores it into a scratch target: a file in the private scratch
 *           area (util/scratch: 0700, outside the catalog; SQLite; for an
 *           encoded backup the decode writes it there directly), or a scratch
 *           database (PostgreSQL, pg_restore);
 *   check   runs the full integrity check (SQLite integrity_check; PostgreSQL
 *           a complete pg_restore) and compares every table's row count with
 *           the manifest.
 *
 * The total of the phases is compared with the RTO target. The result is
 * recorded in the catalog (`<id>.drill.json`, beside the manifest) and in
 * the `backup_drills` table when the database has it. The scratch target is
 * always removed, whatever happened. A failed drill is a result, not an
 * exception: the caller decides the exit code (drillFailure).
 */
import { existsSync } from 'node:fs';
import { copyFile } from 'node:fs/promises';
import { constants as fsConstants } from 'node:fs';
import { hostname } from 'node:os';
import type { Config } from '../config/index.js';
import { VerificationError } from '../errors.js';
import { parseDuration, formatDuration } from '../util/duration.js';
import { removeScratch, scratchPath, sweepScratch } from '../util/scratch.js';
import { engineForManifest } from './engine.js';
import { writeDrill } from './catalog.js';
import { withRepository, type BackupRepository } from './repository/index.js';
import { authenticateManifest, decryptExpectation } from './authenticate.js';
import { decodeTo } from './codecs/pipeline.js';
import { hashFileInWorker } from './codecs/hash-worker.js';
import { selectBackups, type Selection } from './verify.js';
import type { CatalogEntry, DrillPhase, DrillRecord, LogFn, VerifyCheck } from './types.js';

export interface DrillOptions {
  /** Which backup: `{ id }`, `{ latest: true }` (default) or `{ at: Date }`. */
  select?: Exclude<Selection, { all: true }>;
  /** RTO target in ms. Default: database.backup.drill.rto_target (15 min, the platform's target). */
  rtoTargetMs?: number;
  log?: LogFn;
  /** Accept an unencrypted or pre-authentication backup although encryption is enabled (see authenticate.ts). */
  allowUnauthenticated?: boolean;
  /** Called when each phase begins. */
  onPhase?: (phase: DrillPhase) => void;
}

/** The configured RTO target in ms. */
export function drillRtoTargetMs(config: Config): number {
  return parseDuration(config.database.backup.drill.rto_target) ?? 15 * 60_000;
}

/** Phase timer: enter(p) closes the running phase and starts p (re-entering the running phase is a no-op). */
function phaseClock(onPhase?: (p: DrillPhase) => void) {
  const ms: Record<DrillPhase, number> = { fetch: 0, decode: 0, load: 0, check: 0 };
  let current: DrillPhase | null = null;
  let mark = 0;
  return {
    ms,
    enter(p: DrillPhase): void {
      if (p === current) return;
      const t = Date.now();
      if (current) ms[current] += t - mark;
      current = p;
      mark = t;
      onPhase?.(p);
    },
    stop(): void {
      if (current) ms[current] += Date.now() - mark;
      current = null;
    },
  };
}

/** fetch + decode + load + check for one catalog entry into the scratch file `image`; pushes checks. */
async function drillSteps(
  config: Config,
  repo: BackupRepository,
  entry: CatalogEntry,
  scratchImage: string,
  fetchPath: string,
  clock: ReturnType<typeof phaseClock>,
  checks: VerifyCheck[],
  opts: Pick<DrillOptions, 'log' | 'allowUnauthenticated'>,
): Promise<void> {
  const { log, allowUnauthenticated } = opts;
  const m = entry.manifest;
  const engine = await engineForManifest(m);
  clock.enter('fetch');
  if (!entry.dataPresent) {
    checks.push({ name: 'manifest', ok: false, detail: `data file ${m.file} is missing` });
    return;
  }
  // Authenticity first (as verify does): a planted or relabelled backup is never loaded into a database.
  checks.push(authenticateManifest(config, m, { allowUnauthenticated }));
  if (!checks[checks.length - 1]!.ok) return;
  // A remote object is fetched once into the private scratch area (as stored: encrypted stays encrypted).
  let dataPath = repo.localPath(entry.dataName);
  if (!dataPath) {
    dataPath = fetchPath;
    await decodeTo(await repo.read(entry.dataName), dataPath, { compression: 'none', encryption: null });
  }
  const h = await hashFileInWorker(dataPath);
  const sumOk = h.size === m.stored_size && h.sha256 === m.sha256;
  checks.push({
    name: 'checksum',
    ok: sumOk,
    detail: sumOk
      ? `sha256 ${h.sha256.slice(0, 16)}... matches`
      : `size ${h.size}, sha256 ${h.sha256.slice(0, 16)}... do not match the manifest`,
  });
  if (!sumOk) return;

  clock.enter('decode');
  const plain = m.compression === 'none' && !m.encryption;
  let image = scratchImage;
  if (plain) {
    checks.push({ name: 'decode', ok: true, detail: 'plain image (no compression, no encryption)' });
    if (engine.name === 'sqlite') {
      clock.enter('load'); // the scratch database file is a copy of the image
      await copyFile(dataPath, image, fsConstants.COPYFILE_EXCL);
    } else image = dataPath; // pg_restore reads the archive where it is
  } else {
    try {
      const d = await decodeTo(dataPath, image, {
        compression: m.compression,
        encryption: decryptExpectation(config, m),
      });
      const ok = d.rawSize === m.raw_size && d.rawSha256 === m.raw_sha256;
      checks.push({
        name: 'decode',
        ok,
        detail: ok
          ? `decoded ${d.rawSize} bytes, raw sha256 matches`
          : "the decoded image does not match the manifest's raw sha256/size",
      });
      if (!ok) return;
    } catch (err) {
      checks.push({ name: 'decode', ok: false, detail: `decode failed: ${(err as Error).message}` });
      return;
    }
  }
  clock.enter('load');
  checks.push(...(await engine.checkImage(image, m, { deep: true, config, log, onPhase: (p) => clock.enter(p) })));
}

/**
 * Run a restore drill (see the module comment). Returns the record, passed or
 * not; throws only when there is nothing to drill: NotFoundError (5) /
 * UsageError (2) for the selection.
 */
export async function runDrill(config: Config, opts: DrillOptions = {}): Promise<DrillRecord> {
  return withRepository(config, opts.log, (repo) => drillIn(config, repo, opts));
}

async function drillIn(config: Config, repo: BackupRepository, opts: DrillOptions): Promise<DrillRecord> {
  const [entry] = await selectBackups(config, opts.select ?? { latest: true }, { repo });
  const m = entry!.manifest;
  const rtoTargetMs = opts.rtoTargetMs ?? drillRtoTargetMs(config);
  const startedAt = new Date();
  const clock = phaseClock(opts.onPhase);
  const checks: VerifyCheck[] = [];
  let error: string | null = null;
  sweepScratch();
  // The scratch file lives in the private scratch area (0700, outside the catalog, removed with the process).
  const image = scratchPath(`${m.id}.drill${m.engine === 'sqlite' ? '.db' : '.dump'}`);
  const fetchPath = scratchPath(`${m.id}.fetch`);
  const scratch = m.engine === 'sqlite' ? image : 'a scratch database on the configured server (dropped)';
  try {
    await drillSteps(config, repo, entry!, image, fetchPath, clock, checks, opts);
  } catch (err) {
    // A key, a tool or the server missing is a failed drill too: a restore now would fail the same way.
    error = (err as Error).message;
  } finally {
    clock.stop();
    removeScratch(image);
    removeScratch(fetchPath);
  }
  const duration = clock.ms.fetch + clock.ms.decode + clock.ms.load + clock.ms.check;
  const failedCheck = checks.find((c) => !c.ok)?.name ?? null;
  const passedChecks = !error && !failedCheck && checks.some((c) => c.name === 'row_counts' && c.ok);
  const rec: DrillRecord = {
    id: m.id,
    engine: m.engine,
    stored_size: m.stored_size,
    started_at: startedAt.toISOString(),
    completed_at: new Date().toISOString(),
    outcome: !passedChecks ? 'failed' : duration > rtoTargetMs ? 'rto_missed' : 'passed',
    ok: passedChecks && duration <= rtoTargetMs,
    duration_ms: duration,
    rto_target_ms: rtoTargetMs,
    phases_ms: clock.ms,
    checks,
    failed: failedCheck ?? (error ? 'error' : passedChecks ? null : 'row_counts'),
    error,
    scratch,
    scratch_removed: !existsSync(image),
    hostname: hostname(),
  };
  await recordDrill(config, repo, rec, opts.log);
  return rec;
}

/** Write the record to the catalog and, when the table exists, to backup_drills. Never throws: a failure to record is logged. */
async function recordDrill(config: Config, repo: BackupRepository, rec: DrillRecord, log?: LogFn): Promise<void> {
  try {
    await writeDrill(repo, rec);
  } catch (err) {
    log?.('warn', `could not record the drill of ${rec.id} in the catalog: ${(err as Error).message}`);
  }
  try {
    const { withDb, toDbTime } = await import('../db/index.js');
    await withDb(
      config,
      async (db) => {
        const has = await db.query(
          db.dialect === 'sqlite'
            ? "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'backup_drills'"
            : "SELECT 1 WHERE to_regclass('backup_drills') IS NOT NULL",
        );
        if (!has.length) {
          log?.(
            'debug',
            'backup_drills table not found (run `wks migrate up`): the drill is recorded in the catalog only',
          );
          return;
        }
        await db.run(
          `INSERT INTO backup_drills (backup_id, engine, started_at, completed_at, outcome, duration_ms, rto_target_ms,
             fetch_ms, decode_ms, load_ms, check_ms, failed_check, error_message, hostname)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
          [
            rec.id,
            rec.engine,
            toDbTime(new Date(rec.started_at), db.dialect),
            toDbTime(new Date(rec.completed_at), db.dialect),
            rec.outcome,
            rec.duration_ms,
            rec.rto_target_ms,
            rec.phases_ms.fetch,
            rec.phases_ms.decode,
            rec.phases_ms.load,
            rec.phases_ms.check,
            rec.failed,
            rec.error ?? rec.checks.find((c) => !c.ok)?.detail ?? null,
            rec.hostname,
          ],
        );
      },
      { create: false, applicationName: 'wks-drill' },
    );
  } catch (err) {
    log?.('warn', `could not record the drill of ${rec.id} in the database: ${(err as Error).message}`);
  }
}

/** The VerificationError (exit 3) for a drill that failed or missed its RTO target. */
export function drillFailure(rec: DrillRecord): VerificationError {
  if (rec.outcome === 'rto_missed') {
    return new VerificationError(
      `restore drill of ${rec.id} passed its checks but took ${formatDuration(rec.duration_ms)}, over the RTO target of ${formatDuration(rec.rto_target_ms)}`,
      {
        hint: 'see where the time went (phases_ms in --json); faster storage, less compression, or a realistic --rto-target',
        details: { drill: rec },
      },
    );
  }
  const c = rec.checks.find((x) => !x.ok);
  return new VerificationError(
    `restore drill of ${rec.id} failed: ${c ? `${c.name}: ${c.detail}` : (rec.error ?? 'the checks did not complete')}`,
    {
      hint: 'this backup would not restore: take a new one (`wks backup create`) and drill it, then find the cause',
      details: { drill: rec },
    },
  );
}
