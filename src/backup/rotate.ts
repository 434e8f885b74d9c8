/**
 * `rotateBackups`: apply the retention policy (retention.ts) to the configured
 * database's backups in the configured repository (or, allSources, to each
 * source's backups on its own). Deletion happens under the backup lock (it
 * waits for a running create or restore), manifest first, then the data
 * object, then the sidecar: a half-deleted backup is never listed as complete.
 */
import type { Config } from '../config/index.js';
import { drillName, manifestName, sweepOrphans, verifyName } from './catalog.js';
import { configuredSource, manifestIdentity, sourceCatalog, sourceLabel, type SourceCatalog } from './source.js';
import type { LockOwner } from './lock.js';
import { openRepository, type BackupRepository } from './repository/index.js';
import { planRetention, policyFromConfig, type RetentionPolicy } from './retention.js';
import type { CatalogEntry, LogFn } from './types.js';
import { untrustedManifest } from './authenticate.js';

export interface RotateOptions {
  /** Only report what would be deleted. Default false. */
  dryRun?: boolean;
  /** Default: the current time. */
  now?: Date;
  /** Default: from config.database.backup. */
  policy?: RetentionPolicy;
  log?: LogFn;
  onLockWait?: (owner: LockOwner | null) => void;
  /**
   * Also rotate the backups of every other source in the repository, each
   * source on its own (the policy is applied per source). Default false: only
   * the configured database's backups are considered.
   */
  allSources?: boolean;
}

export interface RotateItem {
  id: string;
  /** The backup's source (source.ts sourceLabel). */
  source: string;
  type: string;
  created_at: string;
  stored_size: number;
  reasons: string[];
}

export interface RotateResult {
  dry_run: boolean;
  /** The sources whose backups were considered (labels); the configured one first. */
  sources: string[];
  policy: RetentionPolicy;
  kept: RotateItem[];
  deleted: RotateItem[];
  freed_bytes: number;
  /**
   * Broken backups (unusable manifest; with encryption enabled, a manifest that does not authenticate):
   * never counted as kept, never deleted; fix or remove them by hand.
   */
  broken: Array<{ id: string; problem: string }>;
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
 * are reported as broken: never counted as kept, never deleted.
 */
function trustedOnly(config: Config, c: SourceCatalog, log?: LogFn): { cat: SourceCatalog; broken: Broken[] } {
  const broken: Broken[] = c.problems.map((p) => ({ id: p.id, problem: p.problem }));
  const keep = (list: CatalogEntry[]) =>
    list.filter((e) => {
      const why = untrustedManifest(config, e.manifest, log);
      if (why) broken.push({ id: e.manifest.id, problem: `manifest not authenticated: ${why}` });
      return !why;
    });
  return { cat: { ...c, entries: keep(c.entries), others: keep(c.others) }, broken };
}

type Broken = RotateResult['broken'][number];

/** The plan over the configured source's backups, or (allSources) over each source's backups separately. */
function plan(cat: SourceCatalog, policy: RetentionPolicy, now: Date, allSources: boolean) {
  const groups = new Map<string, CatalogEntry[]>([[sourceLabel(cat.source), cat.entries]]);
  if (allSources) {
    for (const e of cat.others) {
      const label = sourceLabel(manifestIdentity(e.manifest));
      groups.set(label, [...(groups.get(label) ?? []), e]);
    }
  }
  const byId = new Map<string, { e: CatalogEntry; source: string }>();
  for (const [source, list] of groups) for (const e of list) byId.set(e.manifest.id, { e, source });
  const decisions = [...groups.values()].flatMap((list) => planOne(list, policy, now));
  const item = (id: string, reasons: string[]): RotateItem => {
    const { e, source } = byId.get(id)!;
    const m = e.manifest;
    return { id, source, type: m.type, created_at: m.created_at, stored_size: m.stored_size, reasons };
  };
  return {
    sources: [...groups.keys()],
    kept: decisions.filter((d) => d.keep).map((d) => item(d.id, d.reasons)),
    deleted: decisions.filter((d) => !d.keep).map((d) => item(d.id, d.reasons)),
    byId: new Map([...byId].map(([id, v]) => [id, v.e])),
  };
}

/**
 * Delete backups outside the retention policy (or, with dryRun, list them).
 * Throws ConflictError (4) when the backup lock stays held past
 * database.backup.lock_timeout_ms; OperationError (1) when a file cannot be deleted.
 */
export async function rotateBackups(config: Config, opts: RotateOptions = {}): Promise<RotateResult> {
  const repo = openRepository(config);
  try {
    return await rotateIn(config, repo, opts);
  } finally {
    repo.close(opts.log);
  }
}

async function rotateIn(config: Config, repo: BackupRepository, opts: RotateOptions): Promise<RotateResult> {
  const policy = opts.policy ?? policyFromConfig(config.database.backup);
  const now = opts.now ?? new Date();
  const source = await configuredSource(config);
  const all = !!opts.allSources;
  if (opts.dryRun) {
    const { cat, broken } = trustedOnly(config, await sourceCatalog(config, { repo, source }), opts.log);
    const p = plan(cat, policy, now, all);
    return {
      dry_run: true,
      sources: p.sources,
      policy,
      kept: p.kept,
      deleted: p.deleted,
      freed_bytes: p.deleted.reduce((s, d) => s + d.stored_size, 0),
      broken,
    };
  }
  await repo.prepare();
  return repo.withLock(
    { timeoutMs: config.database.backup.lock_timeout_ms, command: 'backup rotate', onWait: opts.onLockWait },
    async () => {
      await repo.sweep(opts.log);
      await sweepOrphans(repo);
      const { cat, broken } = trustedOnly(config, await sourceCatalog(config, { repo, source }), opts.log);
      const p = plan(cat, policy, now, all);
      let freed = 0;
      for (const d of p.deleted) {
        const e = p.byId.get(d.id)!;
        await repo.remove(manifestName(d.id));
        await repo.remove(e.dataName);
        await repo.remove(verifyName(d.id));
        await repo.remove(drillName(d.id));
        freed += d.stored_size;
        opts.log?.('debug', `deleted ${d.id} (${e.dataName}): ${d.reasons.join('; ')}`);
      }
      for (const b of broken) opts.log?.('warn', `backup ${b.id} is broken (${b.problem}): not counted as kept`);
      return {
        dry_run: false,
        sources: p.sources,
        policy,
        kept: p.kept,
        deleted: p.deleted,
        freed_bytes: freed,
        broken,
      };
    },
  );
}
