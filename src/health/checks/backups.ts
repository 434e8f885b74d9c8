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
 *            failed, or its data file is missing; the last backup attempt
 *            failed (backup_log, when the database is readable); free space
 *            below health.min_free_bytes.
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

export const backupsCheck: CheckDefinition = {
  name: 'backups',
  description: 'newest verified backup against the RPO; failed, unverified backups; free space in the backup directory',
  async run(ctx): Promise<CheckOutcome> {
    const { config, now } = ctx;
    const dir = config.database.backup.storage_path;
    const rpoMs = parseDuration(config.health.backup_rpo) ?? 3_600_000;
    // Only the configured database's backups (source.ts): a shared directory holds other sources' too.
    const { sourceCatalog, describeSource, othersNote, sourceLabel } = await import('../../backup/index.js');
    const [list, space, attempt] = await Promise.all([sourceCatalog(config), freeSpace(dir), lastLoggedAttempt(ctx)]);
    // Newest first by created_at: the point in time the data was captured, which is what an RPO measures.
    const entries = list.entries.map((e) => ({
      id: e.manifest.id,
      created_at: e.manifest.created_at,
      age_ms: Math.max(0, now.getTime() - new Date(e.manifest.created_at).getTime()),
      stored_size: e.manifest.stored_size,
      data_present: e.dataPresent,
      verification: e.verification,
    }));
    const newest = entries[0];
    const verified = entries.find((e) => e.data_present && e.verification?.ok === true);
    const ageMs = verified ? verified.age_ms : null;

    const findings: Array<{ status: HealthStatus; text: string; hint: string }> = [];
    const add = (status: HealthStatus, text: string, hint: string) => findings.push({ status, text, hint });

    if (!newest)
      add(
        'critical',
        list.others.length
          ? `no backups of this database (${describeSource(list.source)}) in ${list.location}${othersNote(list.others)}`
          : `no backups in ${list.location}`,
        'run `wks backup create`, then `wks backup verify --latest`',
      );
    else if (!verified)
      add(
        'critical',
        `no verified backup (${plural(entries.length, 'backup')}, none verified ok)`,
        'run `wks backup verify --latest`',
      );
    else if (ageMs! > rpoMs) {
      add(
        'critical',
        `newest verified backup is ${formatDuration(ageMs!)} old (RPO ${formatDuration(rpoMs)})`,
        'run `wks backup create && wks backup verify --latest`; check the backup schedule (cron or `wks serve`)',
      );
    }
    if (newest && verified && newest !== verified) {
      if (!newest.data_present)
        add('warn', `newest backup ${newest.id} has no data file`, 'run `wks backup list`; then `wks backup create`');
      else if (newest.verification?.ok === false)
        add(
          'warn',
          `newest backup ${newest.id} failed verification (${newest.verification.failed ?? 'unknown check'})`,
          `run \`wks backup verify ${newest.id}\` for details, then \`wks backup create\``,
        );
      else if (!newest.verification)
        add('warn', `newest backup ${newest.id} was never verified`, 'run `wks backup verify --latest`');
    }
    if (
      attempt &&
      attempt.status === 'failed' &&
      (!newest || !attempt.startedAt || attempt.startedAt.getTime() >= new Date(newest.created_at).getTime())
    ) {
      add(
        'warn',
        `last backup attempt failed${attempt.error ? `: ${attempt.error}` : ''}`,
        'run `wks backup create -v` to see why',
      );
    }
    if (list.problems.length > 0) {
      add(
        'warn',
        `${plural(list.problems.length, 'broken backup')} (unusable manifest) in ${list.location} (${list.problems[0]!.id}: ${list.problems[0]!.problem})`,
        'run `wks backup verify --all` and `wks backup list`; take a new backup and inspect the files named',
      );
    }
    const newestSize = newest?.stored_size ?? 0;
    if (newestSize > 0 && space.freeBytes < newestSize) {
      add(
        'critical',
        `only ${formatBytes(space.freeBytes)} free in ${space.path}: the next backup (~${formatBytes(newestSize)}) will not fit`,
        'free space or run `wks backup rotate`',
      );
    } else if (space.freeBytes < config.health.min_free_bytes) {
      add(
        'warn',
        `only ${formatBytes(space.freeBytes)} free in ${space.path} (< ${formatBytes(config.health.min_free_bytes)})`,
        'free space, run `wks backup rotate`, or lower health.min_free_bytes',
      );
    }

    const data = {
      directory: list.location,
      source: sourceLabel(list.source),
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
