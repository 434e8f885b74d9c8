/**
 * The backup mutex: one file (`.wks-backup.lock`) in the backup directory,
 * created with O_EXCL, holding the owner's pid, host and start time. Every
 * operation that writes or deletes in the directory (create, restore's
 * safety backup, rotate, leftover cleanup) runs under it, so rotate never
 * deletes while another wks is writing. A second holder waits (polling) up to
 * `lock_timeout_ms`, then fails with ConflictError (exit 4) naming the owner.
 * A lock whose owner pid is gone (same host) is stale and is taken over.
 */
import { closeSync, openSync, readFileSync, renameSync, unlinkSync, writeSync, linkSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { ConflictError } from '../errors.js';
import { FILE_MODE, fsError, ownedTempPath, removeQuietly } from './files.js';
import { pidAlive, sleep } from '../util/process.js';
import { onInterrupt } from '../util/interrupt.js';
import { sweepScratch } from '../util/scratch.js';

export const LOCK_NAME = '.wks-backup.lock';

export interface LockOwner {
  pid: number;
  host: string;
  started_at: string;
  token: string;
  command: string;
}

export interface LockOptions {
  timeoutMs: number;
  /** What this process is doing, recorded in the lock (e.g. `backup create`). */
  command: string;
  /** Called once when we start waiting on another owner. */
  onWait?: (owner: LockOwner | null) => void;
  /** Locks held by another host are considered stale after this long (default 6 h). */
  foreignStaleMs?: number;
}

function readOwner(file: string): LockOwner | null {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as LockOwner;
  } catch {
    return null;
  }
}

function isStale(owner: LockOwner | null, foreignStaleMs: number): boolean {
  if (!owner) return false; // being written right now, or unreadable: let the timeout decide
  if (owner.host === hostname()) return !pidAlive(owner.pid);
  return Date.now() - new Date(owner.started_at).getTime() > foreignStaleMs;
}

/** Who holds the backup mutex of `dir` now (a live owner), or null. Reads only; never takes or breaks it. */
export function backupMutexHolder(dir: string): LockOwner | null {
  const owner = readOwner(path.join(dir, LOCK_NAME));
  return owner && !isStale(owner, 6 * 3600_000) ? owner : null;
}

/** Describe a lock owner for messages. */
export function describeOwner(o: LockOwner | null): string {
  return o ? `pid ${o.pid} on ${o.host} (${o.command}, since ${o.started_at})` : 'another process';
}

/**
 * Acquire the lock in `dir`; returns a release function. Throws ConflictError
 * (4) after `timeoutMs`, OperationError (1) when the directory is not writable.
 */
export async function acquireBackupMutex(dir: string, opts: LockOptions): Promise<() => void> {
  const file = path.join(dir, LOCK_NAME);
  const me: LockOwner = {
    pid: process.pid,
    host: hostname(),
    started_at: new Date().toISOString(),
    token: randomBytes(8).toString('hex'),
    command: opts.command,
  };
  const deadline = Date.now() + opts.timeoutMs;
  let waited = false;
  let delay = 20;
  for (;;) {
    // Write the owner record to a temp file, then hard-link it to the lock
    // name: link() fails if the lock exists, and a reader never sees a
    // half-written lock file.
    const tmp = ownedTempPath(dir, 'lock');
    try {
      const fd = openSync(tmp, 'wx', FILE_MODE);
      try {
        writeSync(fd, JSON.stringify(me));
      } finally {
        closeSync(fd);
      }
      linkSync(tmp, file);
      removeQuietly(tmp);
      const release = (): void => {
        unregister();
        const cur = readOwner(file);
        if (cur && cur.token === me.token) removeQuietly(file);
      };
      const unregister = onInterrupt(release);
      return release;
    } catch (err) {
      removeQuietly(tmp);
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST')
        throw fsError(
          err,
          `cannot create the backup mutex in ${dir}`,
          'check that the backup directory is writable (BACKUP_STORAGE_PATH)',
        );
    }
    const owner = readOwner(file);
    if (isStale(owner, opts.foreignStaleMs ?? 6 * 3600_000)) {
      // Move the stale lock aside atomically; only one contender wins the rename.
      const aside = ownedTempPath(dir, 'stale-lock');
      try {
        renameSync(file, aside);
        const moved = readOwner(aside);
        if (moved && owner && moved.token !== owner.token) {
          // We moved a fresh lock that replaced the stale one: put it back.
          try {
            linkSync(aside, file);
          } catch {
            /* someone else got in; keep waiting */
          }
        }
        unlinkSync(aside);
      } catch {
        /* lost the race: retry */
      }
      continue;
    }
    if (Date.now() >= deadline) {
      throw new ConflictError(`another wks holds the backup mutex: ${describeOwner(owner)}`, {
        hint: `wait for it to finish, or raise database.backup.lock_timeout_ms (waited ${opts.timeoutMs} ms); if that process is gone, remove ${file}`,
        details: { lock: file, owner },
      });
    }
    if (!waited) {
      waited = true;
      opts.onWait?.(owner);
    }
    await sleep(Math.min(delay, Math.max(1, deadline - Date.now())) + Math.floor(Math.random() * 15));
    delay = Math.min(delay * 2, 250);
  }
}

/**
 * Run `fn` while holding the backup mutex of `dir`; always releases. Holding
 * the lock, it first removes the private scratch directories of wks
 * processes that died (a killed verify's decoded image).
 */
export async function withBackupMutex<T>(dir: string, opts: LockOptions, fn: () => Promise<T>): Promise<T> {
  const release = await acquireBackupMutex(dir, opts);
  try {
    sweepScratch();
    return await fn();
  } finally {
    release();
  }
}
