/**
 * Whose backup is it? Several databases may share one backup directory (the
 * default `./backups`, a move from SQLite to PostgreSQL, several hosts on one
 * bucket), so every selection that stands for "this database" (`--latest`,
 * `--at`, health, the RPO, the metrics, drills, rotation) considers only the
 * backups of the configured source. The rule, in order:
 *
 *  1. different engines never match;
 *  2. when both the manifest and the live database have an identity key
 *     (src/db/identity.ts), the keys decide;
 *  3. otherwise (a manifest written before identities were recorded, or a
 *     live database that is missing, unreachable or never backed up) the
 *     location decides: the same absolute SQLite path on the same host, or
 *     the same PostgreSQL host:port/database;
 *  4. a new host: when the live database does not exist and no backup
 *     matches it by location, but every backup of its engine in the
 *     repository comes from one single source, that source is this
 *     database's predecessor (the host is gone; `restore --latest` on its
 *     replacement). With several candidate sources nothing is chosen.
 *
 * The catalog (catalog.ts) stays source-blind: it lists everything; this
 * module splits it.
 */
import path from 'node:path';
import type { Config } from '../config/index.js';
import { engineFor } from './engine.js';
import { readCatalog, type CatalogProblem } from './catalog.js';
import { MirroredRepository, withRepository, type BackupRepository } from './repository/index.js';
import type { LogFn } from './types.js';
import type { CatalogEntry, Manifest, SourceIdentity } from './types.js';

/** The configured database's identity, plus why its key is unknown (when it is). */
export interface ConfiguredSource extends SourceIdentity {
  /** Set when `key` is null: e.g. "the database file does not exist". */
  note: string | null;
  /** True when the configured database does not exist (a lost disk, a new host): only then may rule 4 apply. */
  missing?: boolean;
}

/** `host:port/database` of a PostgreSQL connection description (a URL, credentials redacted or not). */
export function pgLocation(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname || 'localhost'}:${u.port || '5432'}/${decodeURIComponent(u.pathname.replace(/^\//, ''))}`;
  } catch {
    return url;
  }
}

/** The identity a manifest records, or (older manifests) the one derived from its source and host name. */
export function manifestIdentity(m: Manifest): SourceIdentity {
  if (m.source_identity) return m.source_identity;
  return {
    engine: m.engine,
    key: null,
    location: m.engine === 'sqlite' ? path.resolve(m.source) : pgLocation(m.source),
    hostname: m.hostname,
  };
}

/** True when backup `m` is a backup of `src` (the rule in this module's comment). */
export function isBackupOf(m: Manifest, src: SourceIdentity): boolean {
  const id = manifestIdentity(m);
  if (id.engine !== src.engine) return false;
  if (id.key && src.key) return id.key === src.key;
  return id.location === src.location && (src.engine !== 'sqlite' || id.hostname === src.hostname);
}

/** Short name of a source for tables and messages: `sqlite:1a2b3c4d`, `postgres:7313.../app`, or its location when it has no key. */
export function sourceLabel(id: SourceIdentity): string {
  if (id.key?.startsWith('sqlite:')) return id.key.slice(0, 'sqlite:'.length + 8);
  if (id.key) return id.key;
  return id.engine === 'sqlite' ? `sqlite:${id.hostname}:${id.location}` : `postgres:${id.location}`;
}

/** A longer description for messages: the label plus where it lives. */
export function describeSource(id: SourceIdentity): string {
  const where = id.engine === 'sqlite' ? `${id.location} on ${id.hostname}` : id.location;
  return id.key ? `${sourceLabel(id)} (${where})` : where;
}

/**
 * Does `filter` name the source of `m`? A filter is a key or key prefix
 * (`sqlite:1a2b`), a label, a location (path or host:port/database), or an engine name.
 */
export function matchesSourceFilter(m: Manifest, filter: string): boolean {
  const id = manifestIdentity(m);
  const f = filter.trim();
  if (!f) return true;
  if (f === id.engine) return true;
  if (id.key?.startsWith(f) || sourceLabel(id) === f) return true;
  return id.location === f || (id.engine === 'sqlite' && id.location === path.resolve(f));
}

const known = new WeakMap<Config, { at: number; source: ConfiguredSource }>();
/** How long a known identity is reused by a long-running process (`wks serve`'s metrics and alerts). */
const KNOWN_TTL_MS = 60_000;

/**
 * The configured database's identity. Never throws for an unreachable or
 * missing database (key null, note says why). With `reuse`, a key read in
 * the last minute for the same config object is reused (no connection per
 * metrics scrape); an unknown key is always read again.
 */
export async function configuredSource(config: Config, opts: { reuse?: boolean } = {}): Promise<ConfiguredSource> {
  const hit = known.get(config);
  if (opts.reuse && hit && Date.now() - hit.at < KNOWN_TTL_MS) return hit.source;
  const engine = await engineFor(config);
  const source = await engine.identify(config);
  if (source.key) known.set(config, { at: Date.now(), source });
  return source;
}

export interface SourceCatalog {
  /** The repository's location (a directory or s3://bucket/prefix); `location` is the same. */
  directory: string;
  location: string;
  /** True when the repository is a local directory that does not exist (an unmounted volume, a wrong path). */
  missing: boolean;
  /** The repository's kind: `local`, `s3`, or `local+s3` (a local copy plus the bucket). */
  kind: BackupRepository['kind'];
  /** local+s3 only: why the bucket's side is missing from this catalog (it could not be listed), or null. */
  remoteProblem: string | null;
  source: ConfiguredSource;
  /** Backups of the configured source, newest first. */
  entries: CatalogEntry[];
  /** Backups of other sources in the same repository, newest first. */
  others: CatalogEntry[];
  problems: CatalogProblem[];
}

/** Split catalog entries into the backups of `src` and the others. */
export function splitBySource(
  entries: CatalogEntry[],
  src: SourceIdentity,
): { entries: CatalogEntry[]; others: CatalogEntry[] } {
  const own: CatalogEntry[] = [];
  const others: CatalogEntry[] = [];
  for (const e of entries) (isBackupOf(e.manifest, src) ? own : others).push(e);
  return { entries: own, others };
}

/** Rule 4 (module comment): on a new host, the one source (from another host) in the repository whose engine matches. */
export function adoptPredecessor(
  split: { entries: CatalogEntry[]; others: CatalogEntry[] },
  src: ConfiguredSource,
): { entries: CatalogEntry[]; others: CatalogEntry[] } {
  // Only for a database that does not exist: an existing database that was never backed up is not
  // the successor of whatever else shares the directory (that was the wrong-backup bug).
  if (src.key || split.entries.length || !src.missing) return split;
  const same = split.others.filter((e) => e.manifest.engine === src.engine);
  const sources = new Set(same.map((e) => sourceLabel(manifestIdentity(e.manifest))));
  if (sources.size !== 1) return split;
  return { entries: same, others: split.others.filter((e) => e.manifest.engine !== src.engine) };
}

/**
 * The repository's catalog (`repo`, default the configured one, opened and
 * closed here), split into the configured source's backups and the others.
 * `waitForBucket`: see openRepository (readers nobody waits on).
 */
export async function sourceCatalog(
  config: Config,
  opts: { source?: ConfiguredSource; repo?: BackupRepository; log?: LogFn; waitForBucket?: boolean } = {},
): Promise<SourceCatalog> {
  return withRepository(
    config,
    opts.log,
    async (repo) => {
      const [source, cat] = await Promise.all([opts.source ?? configuredSource(config), readCatalog(repo)]);
      // A local directory that is not there is named as such (list/restore exit 5); a bucket prefix is simply empty.
      const missing = repo.kind === 'local' && !(await repo.exists('.'));
      return {
        directory: repo.location,
        location: repo.location,
        missing,
        kind: repo.kind,
        remoteProblem: repo instanceof MirroredRepository ? repo.remoteProblem : null,
        source,
        ...adoptPredecessor(splitBySource(cat.entries, source), source),
        problems: cat.problems,
      };
    },
    opts,
  );
}

/** " (N backups of other sources, e.g. LABEL)" for not-found messages; "" when there are none. */
export function othersNote(others: CatalogEntry[]): string {
  if (!others.length) return '';
  const labels = [...new Set(others.map((e) => sourceLabel(manifestIdentity(e.manifest))))];
  return ` (${others.length} backup${others.length === 1 ? '' : 's'} of other sources: ${labels.slice(0, 3).join(', ')}${labels.length > 3 ? ', ...' : ''})`;
}
