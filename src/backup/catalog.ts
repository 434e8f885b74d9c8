/**
 * The catalog is the backup directory itself: one `<id>.json` manifest per
 * complete backup (written last, atomically), the data file it names, and an
 * optional `<id>.verify.json` sidecar with the last verification, and an optional
 * `<id>.drill.json` sidecar with the last restore drill. A data file
 * without a manifest is not a backup. Listing works without the database.
 */
import { existsSync, readdirSync, readFileSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { NotFoundError, UsageError } from '../errors.js';
import {
  BACKUP_TYPES,
  COMPRESSIONS,
  type BackupType,
  type CatalogEntry,
  type Compression,
  type DrillRecord,
  type Manifest,
  type VerificationRecord,
} from './types.js';
import { fsError, writeJsonAtomic } from './files.js';

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

export const manifestPath = (dir: string, id: string): string => path.join(dir, `${id}.json`);
export const verifyPath = (dir: string, id: string): string => path.join(dir, `${id}.verify.json`);
export const drillPath = (dir: string, id: string): string => path.join(dir, `${id}.drill.json`);

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

function readJson<T>(file: string): T | null {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T;
  } catch {
    return null;
  }
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
 * Read every manifest in `dir`, newest first (by created_at, then id).
 * A missing directory is an empty catalog. Unreadable manifests go to `problems`.
 */
export function readCatalog(dir: string): { entries: CatalogEntry[]; problems: CatalogProblem[] } {
  const entries: CatalogEntry[] = [];
  const problems: CatalogProblem[] = [];
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { entries, problems };
    throw fsError(
      err,
      `cannot read the backup directory ${dir}`,
      'check BACKUP_STORAGE_PATH (database.backup.storage_path) and its permissions',
    );
  }
  for (const name of names) {
    const m = /^(\d{8}T\d{6}Z-[0-9a-f]{4})\.json$/.exec(name);
    if (!m) continue;
    const file = path.join(dir, name);
    const manifest = readJson<unknown>(file);
    const problem = manifestProblem(manifest, m[1]!);
    if (problem) {
      const dataRe = new RegExp(`^${m[1]}\\.(?!json$|verify\\.json$|drill\\.json$)`);
      problems.push({ file, id: m[1]!, problem, data_files: names.filter((n) => dataRe.test(n)).sort() });
      continue;
    }
    const dataPath = path.join(dir, (manifest as Manifest).file);
    const v = readJson<VerificationRecord>(verifyPath(dir, m[1]!));
    const d = readJson<DrillRecord>(drillPath(dir, m[1]!));
    entries.push({
      manifest: manifest as Manifest,
      manifestPath: file,
      dataPath,
      dataPresent: existsSync(dataPath),
      verification: v && v.id === m[1] ? v : null,
      drill: d && d.id === m[1] ? d : null,
    });
  }
  entries.sort(catalogOrder);
  return { entries, problems };
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

/** NotFoundError (5) for a backup directory that does not exist (an unmounted volume, a wrong BACKUP_STORAGE_PATH). */
export function missingDirectory(dir: string): NotFoundError {
  return new NotFoundError(`the backup directory ${dir} does not exist`, {
    hint: 'check BACKUP_STORAGE_PATH (database.backup.storage_path): is the backup volume mounted? `wks backup create` creates the directory',
  });
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
export function writeVerification(dir: string, rec: VerificationRecord): void {
  writeJsonAtomic(verifyPath(dir, rec.id), rec);
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
export function writeDrill(dir: string, rec: DrillRecord): void {
  writeJsonAtomic(drillPath(dir, rec.id), rec);
}

/**
 * Remove what a crashed create can leave that is not a temp file: a data
 * file renamed into place whose manifest was never written (not a backup),
 * and verification sidecars of deleted backups. Call only under the backup lock.
 */
export function sweepOrphans(dir: string): string[] {
  const removed: string[] = [];
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return removed;
  }
  const set = new Set(names);
  for (const name of names) {
    const m = /^(\d{8}T\d{6}Z-[0-9a-f]{4})\.(?!json$)(?:verify\.json|drill\.json|[a-z]+(?:\.[a-z]+)*)$/.exec(name);
    if (!m || set.has(`${m[1]}.json`)) continue;
    try {
      unlinkSync(path.join(dir, name));
      removed.push(name);
    } catch {
      /* best effort */
    }
  }
  return removed;
}
