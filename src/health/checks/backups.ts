/**
 * `backups`: are we protected? Reads the backup catalog (the manifests in the
 * configured repository, a directory or a bucket, through src/backup's
 * sourceCatalog: only the configured database's backups; works when the
 * database is gone) and the local filesystem.
 *
 *  critical: no backup verified ok; the newest verified backup is older than
 *            health.backup_rpo; free space below the newest backup's size
 *            (the next backup cannot fit).
 *  warn:     the newest backup was never verified, or its verification
 *            failed, or its data file is missing; with encryption enabled,
 *            a manifest it relies on does not authenticate (such a backup
 *            never counts as the verified one); the last backup attempt
 *            failed (backup_log, when the database is readable); free space
 *            below health.min_free_bytes; with a local copy (local+s3): the
 *            newest local backup is not in the bucket yet (the off-host copy
 *            lags), or the bucket cannot be read. A backup counts when it is
 *            on either side.
 */
import { formatDuration, parseDuration } from '../../util/duration.js';
import type { CheckDefinition, CheckOutcome, HealthStatus } from '../types.js';
import { STATUS_RANK } from '../types.js';
import { formatBytes } from '../../util/size.js';
import { freeSpace } from '../../util/disk.js';
import { plural } from './util.js';

/** The newest backup_log row, or null when the database or table is not readable (the catalog is the source of truth). */
async function lastLoggedAttempt(
  ctx: Parameters<CheckDefinition['run']>[0],
): Promise<{ status: string; startedAt: Date | null; error: string | null } | null> {
  try {
    const db = await ctx.resources.db();
    const { parseDbTime } = await import('../../db/index.js');
    const [row] = await db.query<{ status: unknown; started_at: unknown; error_message: unknown }>(
      'SELECT status, started_at, error_message FROM backup_log ORDER BY started_at DESC, id DESC LIMIT 1',
    );
    if (!row) return null;
    return {
      status: String(row.status),
      startedAt: parseDbTime(row.started_at),
      error: row.error_message ? String(row.error_message) : null,
    };
  } catch {
    return null;
  }
}

type BackupApi = typeof import('../../backup/index.js');
type Catalog = Awaited<ReturnType<BackupApi['sourceCatalog']>>;
type Attempt = Awaited<ReturnType<typeof lastLoggedAttempt>>;
type Space = Awaited<ReturnType<typeof freeSpace>>;
type Entry = ReturnType<typeof catalogEntries>[number];
interface Finding {
  status: HealthStatus;
  text: string;
  hint: string;
}

/** The catalog's entries, newest first by created_at: the point in time the data was captured, which is what an RPO measures. */
function catalogEntries(list: Catalog, now: Date) {
  return list.entries.map((e) => ({
    id: e.manifest.id,
    created_at: e.manifest.created_at,
    age_ms: Math.max(0, now.getTime() - new Date(e.manifest.created_at).getTime()),
    stored_size: e.manifest.stored_size,
    data_present: e.dataPresent,
    verification: e.verification,
    locations: e.locations,
  }));
}

/**
 * local+s3: warn when the bucket cannot be read, or the newest local backup is
 * not in it (the off-host copy lags) and no create or upload is copying it now.
 */
function offHostFindings(list: Catalog, entries: Entry[], copying: boolean): Finding[] {
  if (list.kind !== 'local+s3') return [];
  if (list.remoteProblem)
    return [
      {
        status: 'warn',
        text: `the off-host copy cannot be checked: ${list.remoteProblem}`,
        hint: 'check BACKUP_S3_ENDPOINT and the S3 credentials; then `wks backup upload` copies what is only local',
      },
    ];
  const newestLocal = entries.find((e) => e.locations.includes('local'));
  if (!newestLocal || newestLocal.locations.includes('s3') || copying) return [];
  const lagging = entries.filter((e) => !e.locations.includes('s3')).length;
  return [
    {
      status: 'warn',
      text: `the off-host copy lags: newest backup ${newestLocal.id} is only on this host (${plural(lagging, 'backup')} not in the bucket)`,
      hint: 'run `wks backup upload` (the next `wks backup create` copies them too); `wks backup list --location local` lists them',
    },
  ];
}

/** Critical: no backup, none verified ok, or the newest verified one older than the RPO. */
function protectionFindings(
  list: Catalog,
  entries: Entry[],
  verified: Entry | undefined,
  rpoMs: number,
  api: Pick<BackupApi, 'describeSource' | 'othersNote'>,
): Finding[] {
  if (!entries[0]) {
    const text = list.others.length
      ? `no backups of this database (${api.describeSource(list.source)}) in ${list.location}${api.othersNote(list.others)}`
      : `no backups in ${list.location}`;
    return [{ status: 'critical', text, hint: 'run `wks backup create`, then `wks backup verify --latest`' }];
  }
  if (!verified)
    return [
      {
        status: 'critical',
        text: `no verified backup (${plural(entries.length, 'backup')}, none verified ok)`,
        hint: 'run `wks backup verify --latest`',
      },
    ];
  if (verified.age_ms > rpoMs)
    return [
      {
        status: 'critical',
        text: `newest verified backup is ${formatDuration(verified.age_ms)} old (RPO ${formatDuration(rpoMs)})`,
        hint: 'run `wks backup create && wks backup verify --latest`; check the backup schedule (cron or `wks serve`)',
      },
    ];
  return [];
}

/** Warn: a newer backup than the verified one has no data file, failed verification, or was never verified. */
function newestFindings(newest: Entry | undefined, verified: Entry | undefined): Finding[] {
  if (!newest || !verified || newest === verified) return [];
  if (!newest.data_present)
    return [
      {
        status: 'warn',
        text: `newest backup ${newest.id} has no data file`,
        hint: 'run `wks backup list`; then `wks backup create`',
      },
    ];
  if (newest.verification?.ok === false)
    return [
      {
        status: 'warn',
        text: `newest backup ${newest.id} failed verification (${newest.verification.failed ?? 'unknown check'})`,
        hint: `run \`wks backup verify ${newest.id}\` for details, then \`wks backup create\``,
      },
    ];
  if (!newest.verification)
    return [
      {
        status: 'warn',
        text: `newest backup ${newest.id} was never verified`,
        hint: 'run `wks backup verify --latest`',
      },
    ];
  return [];
}

/** Warn: the last logged attempt (not older than the newest backup) failed; unusable manifests in the catalog. */
function attemptAndCatalogFindings(attempt: Attempt, newest: Entry | undefined, list: Catalog): Finding[] {
  const findings: Finding[] = [];
  if (
    attempt &&
    attempt.status === 'failed' &&
    (!newest || !attempt.startedAt || attempt.startedAt.getTime() >= new Date(newest.created_at).getTime())
  ) {
    findings.push({
      status: 'warn',
      text: `last backup attempt failed${attempt.error ? `: ${attempt.error}` : ''}`,
      hint: 'run `wks backup create -v` to see why',
    });
  }
  if (list.problems.length > 0) {
    findings.push({
      status: 'warn',
      text: `${plural(list.problems.length, 'broken backup')} (unusable manifest) in ${list.location} (${list.problems[0]!.id}: ${list.problems[0]!.problem})`,
      hint: 'run `wks backup verify --all` and `wks backup list`; take a new backup and inspect the files named',
    });
  }
  return findings;
}

/** Critical when the next backup (about the newest one's size) cannot fit; warn below health.min_free_bytes. */
function spaceFindings(space: Space, newest: Entry | undefined, minFreeBytes: number): Finding[] {
  const newestSize = newest?.stored_size ?? 0;
  if (newestSize > 0 && space.freeBytes < newestSize) {
    return [
      {
        status: 'critical',
        text: `only ${formatBytes(space.freeBytes)} free in ${space.path}: the next backup (~${formatBytes(newestSize)}) will not fit`,
        hint: 'free space or run `wks backup rotate`',
      },
    ];
  }
  if (space.freeBytes < minFreeBytes) {
    return [
      {
        status: 'warn',
        text: `only ${formatBytes(space.freeBytes)} free in ${space.path} (< ${formatBytes(minFreeBytes)})`,
        hint: 'free space, run `wks backup rotate`, or lower health.min_free_bytes',
      },
    ];
  }
  return [];
}

export const backupsCheck: CheckDefinition = {
  name: 'backups',
  description: 'newest verified backup against the RPO; failed, unverified backups; free space in the backup directory',
  async run(ctx): Promise<CheckOutcome> {
    const { config, now } = ctx;
    const dir = config.database.backup.storage_path;
    const rpoMs = parseDuration(config.health.backup_rpo) ?? 3_600_000;
    // Only the configured database's backups (source.ts): a shared directory holds other sources' too.
    const api = await import('../../backup/index.js');
    const [list, space, attempt] = await Promise.all([
      api.sourceCatalog(config),
      freeSpace(dir),
      lastLoggedAttempt(ctx),
    ]);
    const entries = catalogEntries(list, now);
    // A create (or upload) holding the backup mutex is copying to the bucket right now: not a lag.
    const holder = list.kind === 'local+s3' ? api.backupMutexHolder(dir) : null;
    const copying = !!holder && /^backup (create|upload)/.test(holder.command);
    const newest = entries[0];
    // With encryption enabled, only an authenticated manifest counts as protection: a planted or
    // re-dated manifest with a forged "ok" sidecar must not make an old catalog look fresh.
    const untrusted = new Map<string, string>();
    const trusted = (e: Entry): boolean => {
      const why = api.untrustedManifest(config, list.entries.find((x) => x.manifest.id === e.id)!.manifest);
      if (why) untrusted.set(e.id, why);
      return !why;
    };
    const verified = entries.find((e) => e.data_present && e.verification?.ok === true && trusted(e));
    if (newest && newest !== verified) trusted(newest);
    const ageMs = verified ? verified.age_ms : null;

    const findings: Finding[] = [
      ...protectionFindings(list, entries, verified, rpoMs, api),
      ...newestFindings(newest, verified),
      ...attemptAndCatalogFindings(attempt, newest, list),
      ...[...untrusted].map(([id, why]) => ({
        status: 'warn' as const,
        text: `backup ${id}'s manifest is not authenticated (${why})`,
        hint: `run \`wks backup verify ${id}\`; if you did not make it, find out who wrote to the backup repository`,
      })),
      ...spaceFindings(space, newest, config.health.min_free_bytes),
      ...offHostFindings(list, entries, copying),
    ];

    const data = {
      directory: list.location,
      repository: list.kind,
      /** local+s3: the configured database's backups that are only on this host. */
      localOnly: list.kind === 'local+s3' ? entries.filter((e) => !e.locations.includes('s3')).length : null,
      copying,
      source: api.sourceLabel(list.source),
      otherSources: list.others.length,
      count: entries.length,
      newestId: newest?.id ?? null,
      newestVerifiedId: verified?.id ?? null,
      newestVerifiedAgeMs: ageMs,
      rpoMs,
      lastAttempt: attempt ? { status: attempt.status, startedAt: attempt.startedAt?.toISOString() ?? null } : null,
      freeBytes: space.freeBytes,
      minFreeBytes: config.health.min_free_bytes,
    };
    if (findings.length === 0) {
      return {
        status: 'ok',
        detail: `newest verified backup ${formatDuration(ageMs!)} old (RPO ${formatDuration(rpoMs)}); ${entries.length} in catalog; ${formatBytes(space.freeBytes)} free`,
        data,
      };
    }
    findings.sort((a, b) => STATUS_RANK[b.status] - STATUS_RANK[a.status]);
    return {
      status: findings[0]!.status,
      detail: findings.map((f) => f.text).join('; '),
      hint: findings[0]!.hint,
      data,
    };
  },
};
