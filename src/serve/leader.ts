/**
 * Leader lease: with several `wks serve` instances, only the leader runs
 * scheduled jobs; followers keep serving metrics and probes.
 *
 * The lease lives with the database being backed up, never in Redis: the
 * jobs that protect data (backup, verify, rotate) need the database and the
 * backup repository only, so a Redis outage must not leave the installation
 * without a leader (and without scheduled backups). It also means an
 * instance that cannot reach the database cannot lead, and an instance that
 * could not reach it could not take a backup anyway.
 *
 * Mechanism, chosen from the config (chooseMechanism):
 *  - postgres: a session-level advisory lock (pg_try_advisory_lock) on a
 *    dedicated connection; it is released by PostgreSQL when that connection
 *    dies, so a killed leader is replaced at the followers' next poll.
 *  - file: for SQLite on one host, `<database>.serve.lock` created with
 *    O_EXCL holding {instance, pid, expiresAt}; renewed by rewriting it
 *    (after checking the owner), taken over once expired, or at once when
 *    the file names a process on this host that no longer exists.
 *
 * Safety: a leader believes it leads only until its own local deadline
 * (last successful acquire/renew + lease - 10%), so a paused or partitioned
 * leader stops running jobs before another can take over. A failed renewal
 * steps down at once. Followers poll every min(1 s, lease/10), so takeover
 * happens within lease + that poll interval of the leader's last renewal.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { openSync, writeSync, closeSync, readFileSync, unlinkSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Config } from '../config/index.js';
import { writeFileAtomic } from '../util/fs.js';
import { pidAlive } from '../util/process.js';
import type { Logger } from './scheduler.js';
import { dependencyLog, repeating } from '../log/index.js';

export type LeaseMechanism = 'postgres' | 'file';

export interface LeaderLease {
  readonly mechanism: LeaseMechanism;
  readonly instanceId: string;
  /** True while this instance holds an unexpired lease. */
  isLeader(): boolean;
  /** Who holds the lease now, as far as this instance knows (null when unknown/nobody). */
  holder(): string | null;
  /** `leader` or `follower` (logged at start and on every change). */
  role(): 'leader' | 'follower';
  /** First acquisition attempt, then keep renewing/polling in the background. */
  start(): Promise<void>;
  /** Stop renewing and release the lease if held. Idempotent. */
  stop(): Promise<void>;
}

export interface LeaseOptions {
  leaseMs: number;
  instanceId?: string;
  log?: Logger;
  onChange?: (leader: boolean) => void;
  /** Interval between the log summaries of a lease store that stays down (src/log repeating; default 60 s). */
  outageSummaryMs?: number;
}

/** A PostgreSQL advisory lock on PostgreSQL, else a file lock beside the SQLite database; Redis plays no part. */
export function chooseMechanism(config: Config): LeaseMechanism {
  if (config.database.type === 'postgresql') return 'postgres';
  return 'file';
}

/** `<host>:<pid>:<random>`: unique per process, readable in wks_leader and /ready. */
export function newInstanceId(): string {
  return `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
}

/** Create the lease the config calls for (not yet started). */
export function createLease(config: Config, opts: LeaseOptions): LeaderLease {
  switch (chooseMechanism(config)) {
    case 'postgres':
      return new PgLease(config, opts);
    default:
      return new FileLease(path.resolve(`${config.database.path}.serve.lock`), opts);
  }
}

abstract class PollingLease implements LeaderLease {
  abstract readonly mechanism: LeaseMechanism;
  readonly instanceId: string;
  protected deadline = 0;
  protected currentHolder: string | null = null;
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private busy = false;
  private storeLog?: ReturnType<typeof dependencyLog>;

  constructor(protected readonly opts: LeaseOptions) {
    this.instanceId = opts.instanceId ?? newInstanceId();
  }

  /** The lease's store (lock file or database) as a dependency whose outage is logged on a change of state. */
  private get store(): ReturnType<typeof dependencyLog> {
    const what = `the leader lease's ${this.mechanism === 'file' ? 'lock file' : 'database'}`;
    this.storeLog ??= dependencyLog(
      repeating(this.opts.log ?? (() => undefined), this.opts.outageSummaryMs ?? 60_000),
      what,
    );
    return this.storeLog;
  }

  isLeader(): boolean {
    return Date.now() < this.deadline;
  }

  holder(): string | null {
    return this.isLeader() ? this.instanceId : this.currentHolder;
  }

  /** Try to acquire; resolve true when this instance now leads. */
  protected abstract acquire(): Promise<boolean>;
  /** Extend a held lease; resolve false when it was lost. */
  protected abstract renew(): Promise<boolean>;
  protected abstract release(): Promise<void>;
  protected abstract dispose(): Promise<void>;

  /** The role last logged (null before the first acquisition attempt). */
  private announced: boolean | null = null;

  /** This instance's role, as shown in /ready. */
  role(): 'leader' | 'follower' {
    return this.isLeader() ? 'leader' : 'follower';
  }

  private setLeader(leader: boolean, startedAt: number): void {
    const was = this.isLeader();
    this.deadline = leader ? startedAt + Math.floor(this.opts.leaseMs * 0.9) : 0;
    if (leader) this.currentHolder = this.instanceId;
    // The role is logged once at start and on every change, never per poll.
    if (this.announced !== leader) {
      const first = this.announced === null;
      this.announced = leader;
      const holder = this.currentHolder ? `; the leader is ${this.currentHolder}` : '';
      const message = leader
        ? `${first ? 'role: leader' : 'became leader'} (${this.mechanism} lease)`
        : `${first ? 'role: follower' : 'lost leadership; now a follower'} (${this.mechanism} lease${holder})`;
      this.opts.log?.(leader || first ? 'info' : 'warn', message, {
        instance: this.instanceId,
        role: leader ? 'leader' : 'follower',
      });
    }
    if (was !== leader) this.opts.onChange?.(leader);
  }

  private async tick(): Promise<void> {
    if (this.busy || this.stopped) return;
    this.busy = true;
    const t0 = Date.now();
    try {
      const ok = this.isLeader() ? await this.renew() : await this.acquire();
      this.store.success();
      if (!this.stopped) this.setLeader(ok, t0);
    } catch (err) {
      // Logged on a change of state and as a periodic summary, not once per poll.
      this.store.failure(err);
      this.setLeader(false, t0);
    } finally {
      this.busy = false;
    }
    this.schedule();
  }

  private schedule(): void {
    if (this.stopped) return;
    const every = this.isLeader()
      ? Math.floor(this.opts.leaseMs / 3)
      : Math.max(100, Math.min(1000, Math.floor(this.opts.leaseMs / 10)));
    this.timer = setTimeout(() => void this.tick(), every);
  }

  async start(): Promise<void> {
    this.stopped = false;
    await this.tick();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.timer);
    const was = this.isLeader();
    this.deadline = 0;
    try {
      if (was) await this.release();
    } catch (err) {
      this.opts.log?.('warn', `could not release the leader lease: ${(err as Error).message}`);
    } finally {
      await this.dispose().catch(() => undefined);
    }
    if (was) this.opts.onChange?.(false);
  }
}

/** The advisory lock key: 'wks' in ASCII, then 's'erve. Distinct from the migrations lock. */
export const PG_LEASE_KEY = 0x776b7373;

/** PostgreSQL session advisory lock on a dedicated connection. */
export class PgLease extends PollingLease {
  readonly mechanism = 'postgres' as const;
  private client?: import('pg').Client;

  constructor(
    private readonly config: Config,
    opts: LeaseOptions,
  ) {
    super(opts);
  }

  private async connect(): Promise<import('pg').Client> {
    if (this.client) return this.client;
    const { connectPgClient, postgresSettings } = await import('../db/index.js');
    const client = await connectPgClient(postgresSettings(this.config), `wks-serve-leader ${this.instanceId}`);
    client.on('error', () => {
      // The connection died: the server released the advisory lock with it.
      this.client = undefined;
      this.deadline = 0;
    });
    this.client = client;
    return client;
  }

  protected async acquire(): Promise<boolean> {
    const c = await this.connect();
    const r = await c.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [PG_LEASE_KEY]);
    if (r.rows[0]?.ok) return true;
    const h = await c.query<{ app: string | null }>(
      `SELECT a.application_name AS app FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 0 AND l.objid = $1 AND l.objsubid = 1
          AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) LIMIT 1`,
      [PG_LEASE_KEY],
    );
    this.currentHolder = h.rows[0]?.app?.replace(/^wks-serve-leader /, '') ?? null;
    return false;
  }

  protected async renew(): Promise<boolean> {
    if (!this.client) return false;
    await this.client.query('SELECT 1');
    return true;
  }

  protected async release(): Promise<void> {
    await this.client?.query('SELECT pg_advisory_unlock($1)', [PG_LEASE_KEY]);
  }

  protected async dispose(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    await c?.end();
  }
}

interface FileLeaseBody {
  instance: string;
  pid: number;
  host: string;
  expiresAt: number;
}

/**
 * True when the lease names a process on this host that no longer exists
 * (kill -9, crash): its lease need not be waited out. A reused pid reads as
 * alive, which only means waiting for the expiry (the safe direction).
 */
function deadOnThisHost(b: FileLeaseBody): boolean {
  // pidAlive is false for a pid that is not a positive integer; such a lease is not "dead", only expired by time.
  return b.host === hostname() && Number.isInteger(b.pid) && b.pid > 0 && !pidAlive(b.pid);
}

/** Single-host file lease for SQLite installs. */
export class FileLease extends PollingLease {
  readonly mechanism = 'file' as const;

  constructor(
    readonly file: string,
    opts: LeaseOptions,
  ) {
    super(opts);
  }

  private body(): string {
    const b: FileLeaseBody = {
      instance: this.instanceId,
      pid: process.pid,
      host: hostname(),
      expiresAt: Date.now() + this.opts.leaseMs,
    };
    return `${JSON.stringify(b)}\n`;
  }

  private read(): FileLeaseBody | null {
    try {
      return JSON.parse(readFileSync(this.file, 'utf8')) as FileLeaseBody;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      return { instance: '?', pid: 0, host: '', expiresAt: 0 }; // torn or foreign content: treat as expired
    }
  }

  private createExclusive(): boolean {
    mkdirSync(path.dirname(this.file), { recursive: true });
    let fd: number;
    try {
      fd = openSync(this.file, 'wx', 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw err;
    }
    try {
      writeSync(fd, this.body());
    } finally {
      closeSync(fd);
    }
    return true;
  }

  protected async acquire(): Promise<boolean> {
    if (this.createExclusive()) return true;
    const cur = this.read();
    if (cur && cur.expiresAt > Date.now() && !deadOnThisHost(cur)) {
      this.currentHolder = cur.instance;
      return false;
    }
    // Expired, unreadable, or its process is gone: remove and race for it with O_EXCL; the loser sees EEXIST.
    try {
      unlinkSync(this.file);
    } catch {
      /* someone else removed it */
    }
    const ok = this.createExclusive();
    if (!ok) this.currentHolder = this.read()?.instance ?? null;
    return ok;
  }

  protected async renew(): Promise<boolean> {
    const cur = this.read();
    if (!cur || cur.instance !== this.instanceId) {
      this.currentHolder = cur?.instance ?? null;
      return false;
    }
    writeFileAtomic(this.file, this.body());
    return true;
  }

  protected async release(): Promise<void> {
    const cur = this.read();
    if (cur?.instance === this.instanceId) unlinkSync(this.file);
  }

  protected async dispose(): Promise<void> {}
}
