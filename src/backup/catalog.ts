/**
 * The catalog is the backup repository itself (a directory or a bucket
 * prefix, see repository/): one `<id>.json` manifest per complete backup
 * (written last, atomically), the data object it names, and an optional
 * `<id>.verify.json` sidecar with the last verification. A data object
 * without a manifest is not a backup. Listing works without the database,
 * and reads one listing plus the small documents: never a data object.
 * An optional `<id>.drill.json` sidecar holds the last restore drill.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { Config } from '../config/index.js';
import { NotFoundError, UsageError } from '../errors.js';
import {
  BACKUP_TYPES,
  COMPRESSIONS,
  type BackupType,
  type CatalogEntry,
  type Compression,
  type LogFn,
  type DrillRecord,
  type Manifest,
  type VerificationRecord,
} from './types.js';
import { withRepository, type BackupRepository, type MirroredRepository } from './repository/index.js';

/** Ids look like `20261129T023000Z-a1b2`: UTC time to the second, then 4 random hex digits. */
export const ID_RE = /^\d{8}T\d{6}Z-[0-9a-f]{4}$/;

/** A new backup id for time `now`. */
export function newBackupId(now: Date): string {
  const t = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}Z$/, 'Z');
  return `${t}-${randomBytes(2).toString('hex')}`;
}

export const manifestName = (id: string): string => `${id}.json`;
export const verifyName = (id: string): string => `${id}.verify.json`;
export const drillName = (id: string): string => `${id}.drill.json`;

/**
 * A backup whose manifest cannot be trusted (invalid JSON, empty, a required
 * field missing or of the wrong type, a `file` outside the directory): a
 * failed backup, never an absent one. `verify` exits 3 for it, `list` shows
 * it, `rotate` never counts it as kept (and never deletes its data).
 */
export interface CatalogProblem {
  /** The manifest file. */
  file: string;
  /** The backup id, from the manifest's file name. */
  id: string;
  problem: string;
  /** Data files in the directory that belong to this id. */
  data_files: string[];
}

/** `text` parsed as JSON; null for no text or text that is not JSON. */
function parseJson<T>(text: string | null): T | null {
  if (text === null) return null;
  try {
    return JSON.parse(text) as T;
  } catch {
    return null;
  }
}

async function readJson<T>(repo: BackupRepository, name: string): Promise<T | null> {
  return parseJson<T>(await repo.readText(name));
}

/** Run `fn` over `items` with at most `n` in flight (bounded parallel GETs). */
async function mapLimit<T, R>(items: T[], n: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  return out;
}

const HEX64 = /^[0-9a-f]{64}$/;
const isCount = (v: unknown): boolean => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/**
 * Why `m` is not a usable manifest for backup `id`, or null when it is. Every
 * field that describes the data (file, sizes, hashes, codecs, row counts,
 * schema version) is required with its type: verify checks each of them.
 */
export function manifestProblem(m: unknown, id: string): string | null {
  if (m === null || typeof m !== 'object' || Array.isArray(m)) return 'not a JSON object (empty or unparseable)';
  const x = m as Record<string, unknown>;
  const fields: Array<[string, (v: unknown) => boolean, string]> = [
    ['format', (v) => v === 'wks-backup/1', '"wks-backup/1"'],
    ['id', (v) => v === id, `"${id}" (the file name)`],
    ['type', (v) => BACKUP_TYPES.includes(v as BackupType), BACKUP_TYPES.join('|')],
    ['engine', (v) => v === 'sqlite' || v === 'postgres', 'sqlite|postgres'],
    ['created_at', (v) => typeof v === 'string' && !Number.isNaN(Date.parse(v)), 'an ISO time'],
    ['file', (v) => typeof v === 'string' && v.length > 0, 'a file name'],
    ['raw_size', isCount, 'a byte count'],
    ['raw_sha256', (v) => typeof v === 'string' && HEX64.test(v), 'a sha256 (64 hex digits)'],
    ['stored_size', isCount, 'a byte count'],
    ['sha256', (v) => typeof v === 'string' && HEX64.test(v), 'a sha256 (64 hex digits)'],
    ['compression', (v) => COMPRESSIONS.includes(v as Compression), COMPRESSIONS.join('|')],
    ['encryption', (v) => v === null || (typeof v === 'object' && !Array.isArray(v)), 'null or the parameters'],
    ['schema_version', (v) => v === null || typeof v === 'string', 'null or a version'],
    [
      'row_counts',
      (v) => !!v && typeof v === 'object' && !Array.isArray(v) && Object.values(v).every(isCount),
      'table -> count',
    ],
  ];
  for (const [key, ok, want] of fields) {
    if (!(key in x)) return `required field "${key}" is missing`;
    if (!ok(x[key])) return `field "${key}" is invalid (expected ${want})`;
  }
  const file = x.file as string;
  if (file !== path.basename(file) || file === '.' || file === '..' || file.includes('\\'))
    return `field "file" (${JSON.stringify(file).slice(0, 80)}) escapes the backup directory`;
  if (!file.startsWith(`${id}.`) || file === `${id}.json` || file === `${id}.verify.json`)
    return `field "file" (${file}) does not name this backup's data file`;
  if (x.compression === 'none' && x.encryption === null) {
    if (x.raw_size !== x.stored_size || x.raw_sha256 !== x.sha256)
      return 'raw_size/raw_sha256 differ from stored_size/sha256 for a plain (uncompressed, unencrypted) backup';
  }
  return null;
}

/**
 * Read every manifest in the repository, newest first (by created_at, then
 * id): one listing, then one read per manifest and one per verification
 * sidecar that exists; data objects are never read. A missing directory or
 * prefix is an empty catalog. Unreadable manifests go to `problems`.
 */
export async function readCatalog(
  repo: BackupRepository,
): Promise<{ entries: CatalogEntry[]; problems: CatalogProblem[] }> {
  const problems: CatalogProblem[] = [];
  const objects = await repo.list();
  const names = new Set(objects.map((o) => o.name));
  const sides = new Map(objects.map((o) => [o.name, o.sides]));
  const all = [...names].sort();
  const ids = objects
    .map((o) => /^(\d{8}T\d{6}Z-[0-9a-f]{4})\.json$/.exec(o.name)?.[1])
    .filter((x): x is string => !!x);
  const read = await mapLimit(ids, 16, async (id) => {
    const manifest = await readJson<unknown>(repo, manifestName(id));
    const problem = manifestProblem(manifest, id);
    if (problem) {
      const dataRe = new RegExp(`^${id}\\.(?!json$|verify\\.json$|drill\\.json$)`);
      problems.push({
        file: repo.describe(manifestName(id)),
        id,
        problem,
        data_files: all.filter((n) => dataRe.test(n)),
      });
      return null;
    }
    const m = manifest as Manifest;
    const v = names.has(verifyName(id)) ? await readJson<VerificationRecord>(repo, verifyName(id)) : null;
    const d = names.has(drillName(id)) ? await readJson<DrillRecord>(repo, drillName(id)) : null;
    const entry: CatalogEntry = {
      manifest: m,
      manifestPath: repo.describe(manifestName(id)),
      dataName: m.file,
      dataPath: repo.describe(m.file),
      dataPresent: names.has(m.file),
      locations: sides.get(manifestName(id)) ?? [repo.kind === 's3' ? 's3' : 'local'],
      verification: v && v.id === id ? v : null,
      drill: d && d.id === id ? d : null,
    };
    return entry;
  });
  const entries = read.filter((e): e is CatalogEntry => e !== null);
  entries.sort(catalogOrder);
  problems.sort((a, b) => (a.file < b.file ? -1 : 1));
  return { entries, problems };
}

/**
 * The backup `id` looked up in the bucket of a local-plus-remote repository whose listing failed
 * (mirror.ts): a GET of its manifest by its key and a HEAD of its data object, each with the full
 * retry budget, no listing. Null when the bucket has no such manifest; a CatalogProblem when it
 * cannot be read as one. A bucket that does not answer throws.
 */
export async function bucketEntry(repo: MirroredRepository, id: string): Promise<CatalogEntry | CatalogProblem | null> {
  const text = await repo.readRemote(manifestName(id));
  if (text === null) return null;
  const manifest = parseJson<unknown>(text);
  const problem = manifestProblem(manifest, id);
  if (problem) return { file: repo.remote.describe(manifestName(id)), id, problem, data_files: [] };
  const m = manifest as Manifest;
  return {
    manifest: m,
    manifestPath: repo.remote.describe(manifestName(id)),
    dataName: m.file,
    dataPath: repo.remote.describe(m.file),
    dataPresent: await repo.existsRemote(m.file),
    locations: ['s3'],
    verification: null,
    drill: null,
  };
}

/** The configured repository's catalog (opens and closes the repository; request counts go to `log` at debug). */
export async function catalogOf(
  config: Config,
  log?: LogFn,
): Promise<{ location: string; entries: CatalogEntry[]; problems: CatalogProblem[] }> {
  return withRepository(config, log, async (repo) => ({ location: repo.location, ...(await readCatalog(repo)) }));
}

/**
 * Find one backup by id or unique id prefix (as git does).
 * Throws NotFoundError (5) when nothing matches, UsageError (2) when the prefix is ambiguous.
 */
export function resolveBackup(entries: CatalogEntry[], selector: string, dir: string): CatalogEntry {
  const s = selector.trim();
  const exact = entries.find((e) => e.manifest.id === s);
  if (exact) return exact;
  const hits = s ? entries.filter((e) => e.manifest.id.startsWith(s)) : [];
  if (hits.length === 1) return hits[0]!;
  if (hits.length === 0) {
    throw new NotFoundError(`no backup matches "${s}" in ${dir}`, {
      hint: 'run `wks backup list` to see the backup ids',
    });
  }
  const shown = hits
    .slice(0, 5)
    .map((e) => e.manifest.id)
    .join(', ');
  throw new UsageError(
    `"${s}" is ambiguous: it matches ${hits.length} backups (${shown}${hits.length > 5 ? ', ...' : ''})`,
    {
      hint: 'type more characters of the id',
      details: { matches: hits.map((e) => e.manifest.id) },
    },
  );
}

/** NotFoundError (5) for a backup directory that does not exist (an unmounted volume, a wrong BACKUP_STORAGE_PATH). */
export function missingDirectory(dir: string): NotFoundError {
  return new NotFoundError(`the backup directory ${dir} does not exist`, {
    hint: 'check BACKUP_STORAGE_PATH (database.backup.storage_path): is the backup volume mounted? `wks backup create` creates the directory',
  });
}

/** Newest first: by created_at, then id. */
export function catalogOrder(a: CatalogEntry, b: CatalogEntry): number {
  return a.manifest.created_at === b.manifest.created_at
    ? a.manifest.id < b.manifest.id
      ? 1
      : -1
    : a.manifest.created_at < b.manifest.created_at
      ? 1
      : -1;
}

/** The newest backup, or NotFoundError (5). */
export function latestBackup(entries: CatalogEntry[], dir: string): CatalogEntry {
  if (!entries.length)
    throw new NotFoundError(`there are no backups in ${dir}`, { hint: 'create one with `wks backup create`' });
  return entries[0]!;
}

/** The newest backup created at or before `at`, or NotFoundError (5). */
export function backupAt(entries: CatalogEntry[], at: Date, dir: string): CatalogEntry {
  const hit = entries.find((e) => new Date(e.manifest.created_at).getTime() <= at.getTime());
  if (!hit) {
    throw new NotFoundError(`no backup in ${dir} was taken at or before ${at.toISOString()}`, {
      hint: entries.length
        ? `the oldest backup is ${entries[entries.length - 1]!.manifest.id} (${entries[entries.length - 1]!.manifest.created_at})`
        : 'create one with `wks backup create`',
    });
  }
  return hit;
}

/** Parse `--at`: an ISO date/time (`2026-11-29T02:00Z`, `2026-11-29 02:00`), or a backup-id-like stamp. UsageError (2) otherwise. */
export function parseAt(text: string): Date {
  const t = text.trim();
  const stamp = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(t);
  const d = stamp
    ? new Date(`${stamp[1]}-${stamp[2]}-${stamp[3]}T${stamp[4]}:${stamp[5]}:${stamp[6]}Z`)
    : new Date(t.replace(' ', 'T'));
  if (Number.isNaN(d.getTime())) {
    throw new UsageError(`--at: cannot read "${text}" as a time`, {
      hint: 'use ISO 8601, e.g. --at 2026-11-29T02:00:00Z',
    });
  }
  return d;
}

/** Record a verification result (atomic sidecar write). */
export async function writeVerification(repo: BackupRepository, rec: VerificationRecord): Promise<void> {
  await repo.writeText(verifyName(rec.id), `${JSON.stringify(rec, null, 2)}\n`);
}

/**
 * The newest drill (by completion) and the newest passed drill across the catalog (either may be null),
 * and when the drill window starts before any drill passed: the oldest backup's creation (null without backups).
 */
export function lastDrills(entries: CatalogEntry[]): {
  last: DrillRecord | null;
  lastPassed: DrillRecord | null;
  windowStart: Date | null;
} {
  let last: DrillRecord | null = null;
  let lastPassed: DrillRecord | null = null;
  for (const e of entries) {
    const d = e.drill;
    if (!d) continue;
    if (!last || d.completed_at > last.completed_at) last = d;
    if (d.ok && (!lastPassed || d.completed_at > lastPassed.completed_at)) lastPassed = d;
  }
  const oldest = entries[entries.length - 1];
  return { last, lastPassed, windowStart: oldest ? new Date(oldest.manifest.created_at) : null };
}

/** Record a restore drill's result (atomic sidecar write). */
export async function writeDrill(repo: BackupRepository, rec: DrillRecord): Promise<void> {
  await repo.writeText(drillName(rec.id), `${JSON.stringify(rec, null, 2)}\n`);
}

/**
 * Remove what a crashed create can leave that is not a temp file: a data
 * object stored whose manifest was never written (not a backup), and
 * verification sidecars of deleted backups, once older than the
 * repository's grace period. Call only under the backup mutex.
 */
export async function sweepOrphans(repo: BackupRepository, now = Date.now()): Promise<string[]> {
  const removed: string[] = [];
  const objects = await repo.list();
  const set = new Set(objects.map((o) => o.name));
  for (const o of objects) {
    const m = /^(\d{8}T\d{6}Z-[0-9a-f]{4})\.(?!json$)(?:verify\.json|drill\.json|[a-z]+(?:\.[a-z]+)*)$/.exec(o.name);
    if (!m || set.has(`${m[1]}.json`)) continue;
    if (now - o.modified.getTime() < repo.orphanGraceMs) continue;
    try {
      await repo.remove(o.name);
      removed.push(o.name);
    } catch {
      /* best effort */
    }
  }
  return removed;
}
