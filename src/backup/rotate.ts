/**
 * `rotateBackups`: apply the retention policy (retention.ts) to the configured
 * database's backups in the configured repository (or, allSources, to each
 * source's backups on its own). Deletion happens under the backup mutex (it
 * waits for a running create or restore), manifest first, then the data
 * object, then the sidecar: a half-deleted backup is never listed as complete.
 *
 * With a local copy (local+s3) each side is rotated by its own policy: the
 * bucket by the repository's (retention_days, keep_*), the local directory by
 * local_retention (each unset key: the repository's value). A local backup
 * that is not in the bucket yet is never deleted: it is the only copy.
 */
import type { Config } from '../config/index.js';
import { drillName, manifestName, sweepOrphans, verifyName } from './catalog.js';
import { configuredSource, manifestIdentity, sourceCatalog, sourceLabel, type SourceCatalog } from './source.js';
import type { LockOwner } from './lock.js';
import { MirroredRepository, withRepository, type BackupRepository, type RepoSide } from './repository/index.js';
import { localPolicyFromConfig, planRetention, policyFromConfig, type RetentionPolicy } from './retention.js';
import type { CatalogEntry, LogFn } from './types.js';
import { authenticateManifest, untrustedManifest } from './authenticate.js';

export interface RotateOptions {
  /** Only report what would be deleted. Default false. */
  dryRun?: boolean;
  /** Default: the current time. */
  now?: Date;
  /** Default: from config.database.backup. */
  policy?: RetentionPolicy;
  /** local+s3: the local copy's policy; default from config.database.backup.local_retention. */
  localPolicy?: RetentionPolicy;
  log?: LogFn;
  onLockWait?: (owner: LockOwner | null) => void;
  /**
   * Also rotate the backups of every other source in the repository, each
   * source on its own (the policy is applied per source). Default false: only
   * the configured database's backups are considered.
   */
  allSources?: boolean;
  /**
   * With encryption enabled: also apply the age rules to unauthenticated backups (unencrypted, or made
   * before manifests were authenticated: typically those made before encryption was turned on). Each is
   * decided alongside the authenticated backups of its source, so it is deleted when the policy would
   * delete a backup of that age, and it never takes a keep_* place from an authenticated one (the
   * authenticated backups' decisions do not depend on it). A manifest that fails authentication
   * (edited, re-dated, another key) stays broken. Default false: they are listed as broken.
   */
  includeUnauthenticated?: boolean;
}

export interface RotateItem {
  id: string;
  /** The backup's source (source.ts sourceLabel). */
  source: string;
  type: string;
  created_at: string;
  stored_size: number;
  reasons: string[];
  /** The side this decision is about: the local directory or the bucket (local+s3 rotates each on its own). */
  location: RepoSide;
}

export interface RotateResult {
  dry_run: boolean;
  /** The sources whose backups were considered (labels); the configured one first. */
  sources: string[];
  policy: RetentionPolicy;
  /** local+s3 only: the policy applied to the local copy (`policy` is the bucket's). */
  local_policy?: RetentionPolicy;
  kept: RotateItem[];
  deleted: RotateItem[];
  freed_bytes: number;
  /**
   * Broken backups (unusable manifest; with encryption enabled, a manifest that does not authenticate):
   * never counted as kept, never deleted; fix or remove them by hand.
   */
  broken: Array<{ id: string; problem: string; location: RepoSide }>;
}

/** The retention decisions for one source's backups. */
function planOne(entries: CatalogEntry[], policy: RetentionPolicy, now: Date) {
  return planRetention(
    entries.map((e) => ({
      id: e.manifest.id,
      type: e.manifest.type,
      createdAt: new Date(e.manifest.created_at),
      verified: e.verification ? e.verification.ok : null,
    })),
    policy,
    now,
  );
}

/**
 * The catalog without the backups whose manifest is not trusted (authenticate.ts untrustedManifest):
 * with encryption enabled, an edited, re-dated or planted manifest must not decide what is deleted
 * (re-dated, a real backup would fall out of the policy; planted, fakes would fill keep_last). They
 * are reported as broken: never counted as kept, never deleted. With `includeUnauthenticated`, the
 * unauthenticated ones (no manifest MAC, but nothing that fails authentication) go to `unauth`
 * instead, for the age rules (see RotateOptions.includeUnauthenticated).
 */
function trustedOnly(config: Config, c: SourceCatalog, location: RepoSide, opts: RotateOptions) {
  const broken: Broken[] = c.problems.map((p) => ({ id: p.id, problem: p.problem, location }));
  const unauth: CatalogEntry[] = [];
  const legacy = (e: CatalogEntry) => {
    try {
      return authenticateManifest(config, e.manifest, { allowUnauthenticated: true }).ok;
    } catch {
      return false;
    }
  };
  const keep = (list: CatalogEntry[]) =>
    list.filter((e) => {
      const why = untrustedManifest(config, e.manifest, opts.log);
      if (why && opts.includeUnauthenticated && legacy(e)) unauth.push(e);
      else if (why) broken.push({ id: e.manifest.id, problem: `manifest not authenticated: ${why}`, location });
      return !why;
    });
  return { cat: { ...c, entries: keep(c.entries), others: keep(c.others) }, broken, unauth };
}

type Broken = RotateResult['broken'][number];

/**
 * The plan over the configured source's backups, or (allSources) over each
 * source's backups separately, for one side. `protect` keeps a backup the
 * policy would delete, with its reason (local+s3: not in the bucket yet).
 */
function plan(
  trusted: ReturnType<typeof trustedOnly>,
  policy: RetentionPolicy,
  now: Date,
  allSources: boolean,
  location: RepoSide,
  protect: (id: string) => string | null = () => null,
) {
  const { cat, broken, unauth } = trusted;
  const configured = sourceLabel(cat.source);
  const groups = new Map<string, CatalogEntry[]>([[configured, cat.entries]]);
  const labelOf = (e: CatalogEntry) => sourceLabel(manifestIdentity(e.manifest));
  if (allSources) for (const e of cat.others) groups.set(labelOf(e), [...(groups.get(labelOf(e)) ?? []), e]);
  const byId = new Map<string, { e: CatalogEntry; source: string }>();
  for (const [source, list] of groups) for (const e of list) byId.set(e.manifest.id, { e, source });
  const decisions = [...groups.values()].flatMap((list) => planOne(list, policy, now));
  // Each unauthenticated backup is decided alongside its source's authenticated ones, alone: it never
  // changes their decisions nor another unauthenticated backup's.
  const unauthIds = new Set<string>();
  for (const e of unauth) {
    const source = labelOf(e);
    if (source !== configured && !allSources) continue;
    byId.set(e.manifest.id, { e, source });
    const d = planOne([...(groups.get(source) ?? []), e], policy, now).find((x) => x.id === e.manifest.id)!;
    if (d.keep) broken.push({ id: d.id, problem: `manifest not authenticated; ${d.reasons.join('; ')}`, location });
    else {
      unauthIds.add(d.id);
      decisions.push({ ...d, reasons: ['unauthenticated', ...d.reasons] });
    }
  }
  for (const d of decisions) {
    const why = d.keep ? null : protect(d.id);
    if (why) Object.assign(d, { keep: true, reasons: [why] });
    if (why && unauthIds.has(d.id)) broken.push({ id: d.id, problem: `manifest not authenticated; ${why}`, location });
  }
  const item = (id: string, reasons: string[]): RotateItem => {
    const { e, source } = byId.get(id)!;
    const m = e.manifest;
    return { id, source, type: m.type, created_at: m.created_at, stored_size: m.stored_size, reasons, location };
  };
  return {
    sources: [...groups.keys()],
    kept: decisions.filter((d) => d.keep && !unauthIds.has(d.id)).map((d) => item(d.id, d.reasons)),
    deleted: decisions.filter((d) => !d.keep).map((d) => item(d.id, d.reasons)),
    byId: new Map([...byId].map(([id, v]) => [id, v.e])),
    broken,
  };
}

type Plan = ReturnType<typeof plan>;

/** Delete a plan's backups from `repo`: manifest first, then the data object and the sidecars. Returns the bytes freed. */
async function deletePlanned(repo: BackupRepository, p: Plan, log?: LogFn): Promise<number> {
  let freed = 0;
  for (const d of p.deleted) {
    const e = p.byId.get(d.id)!;
    await repo.remove(manifestName(d.id));
    await repo.remove(e.dataName);
    await repo.remove(verifyName(d.id));
    await repo.remove(drillName(d.id));
    freed += d.stored_size;
    log?.('debug', `deleted ${d.id} (${e.dataName}) from ${repo.location}: ${d.reasons.join('; ')}`);
  }
  for (const b of p.broken) log?.('warn', `backup ${b.id} is broken (${b.problem}): not counted as kept`);
  return freed;
}

/** The result of one or more sides' plans (freed: what was deleted, or would be). */
function resultOf(dryRun: boolean, policy: RetentionPolicy, plans: Plan[], freed: number | null): RotateResult {
  const deleted = plans.flatMap((p) => p.deleted);
  return {
    dry_run: dryRun,
    sources: [...new Set(plans.flatMap((p) => p.sources))],
    policy,
    kept: plans.flatMap((p) => p.kept),
    deleted,
    freed_bytes: freed ?? deleted.reduce((s, d) => s + d.stored_size, 0),
    broken: plans.flatMap((p) => p.broken),
  };
}

/**
 * Delete backups outside the retention policy (or, with dryRun, list them).
 * Throws ConflictError (4) when the backup mutex stays held past
 * database.backup.lock_timeout_ms; OperationError (1) when a file cannot be
 * deleted (local+s3: also when the bucket cannot be read).
 */
export async function rotateBackups(config: Config, opts: RotateOptions = {}): Promise<RotateResult> {
  return withRepository(config, opts.log, (repo) =>
    repo instanceof MirroredRepository ? rotateBoth(config, repo, opts) : rotateIn(config, repo, opts),
  );
}

async function rotateIn(config: Config, repo: BackupRepository, opts: RotateOptions): Promise<RotateResult> {
  const policy = opts.policy ?? policyFromConfig(config.database.backup);
  const now = opts.now ?? new Date();
  const source = await configuredSource(config);
  const all = !!opts.allSources;
  const side: RepoSide = repo.kind === 's3' ? 's3' : 'local';
  const trusted = async (r: BackupRepository) =>
    trustedOnly(config, await sourceCatalog(config, { repo: r, source }), side, opts);
  if (opts.dryRun) return resultOf(true, policy, [plan(await trusted(repo), policy, now, all, side)], null);
  await repo.prepare();
  return repo.withMutex(
    { timeoutMs: config.database.backup.lock_timeout_ms, command: 'backup rotate', onWait: opts.onLockWait },
    async () => {
      await repo.sweep(opts.log);
      await sweepOrphans(repo);
      const p = plan(await trusted(repo), policy, now, all, side);
      return resultOf(false, policy, [p], await deletePlanned(repo, p, opts.log));
    },
  );
}

/** local+s3: the bucket by `policy`, the local directory by `localPolicy`, never deleting a local backup the bucket lacks. */
async function rotateBoth(config: Config, repo: MirroredRepository, opts: RotateOptions): Promise<RotateResult> {
  const policy = opts.policy ?? policyFromConfig(config.database.backup);
  const localPolicy = opts.localPolicy ?? localPolicyFromConfig(config.database.backup);
  const now = opts.now ?? new Date();
  const source = await configuredSource(config);
  const all = !!opts.allSources;
  const plans = async (): Promise<[Plan, Plan]> => {
    const remote = trustedOnly(config, await sourceCatalog(config, { repo: repo.remote, source }), 's3', opts);
    // A local backup is deleted only when the bucket holds it (under a manifest that is trusted).
    const offHost = new Set([...remote.cat.entries, ...remote.cat.others].map((e) => e.manifest.id));
    // An unauthenticated local backup (--include-unauthenticated) only needs the bucket's unauthenticated copy.
    const ids = (l: CatalogEntry[]) => new Set(l.map((e) => e.manifest.id));
    const local = trustedOnly(config, await sourceCatalog(config, { repo: repo.local, source }), 'local', opts);
    const [localUnauth, remoteUnauth] = [ids(local.unauth), ids(remote.unauth)];
    const copied = (id: string) => offHost.has(id) || (localUnauth.has(id) && remoteUnauth.has(id));
    const notCopied = (id: string) => (copied(id) ? null : `not yet copied to ${repo.remote.location}`);
    return [plan(remote, policy, now, all, 's3'), plan(local, localPolicy, now, all, 'local', notCopied)];
  };
  if (opts.dryRun) return { ...resultOf(true, policy, await plans(), null), local_policy: localPolicy };
  await repo.prepare();
  return repo.withMutex(
    { timeoutMs: config.database.backup.lock_timeout_ms, command: 'backup rotate', onWait: opts.onLockWait },
    async () => {
      await repo.sweep(opts.log);
      await sweepOrphans(repo.local);
      await sweepOrphans(repo.remote);
      const [s3, local] = await plans();
      const freed =
        (await deletePlanned(repo.remote, s3, opts.log)) + (await deletePlanned(repo.local, local, opts.log));
      return { ...resultOf(false, policy, [s3, local], freed), local_policy: localPolicy };
    },
  );
}
