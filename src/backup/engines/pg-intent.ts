/**
 * The record of a database wks is about to create. `CREATE DATABASE` cannot
 * run in a transaction, so the marker comment (`wks:<role>:<host>:<pid>`,
 * see postgres.ts) is a second statement: a run killed between the two
 * leaves an unmarked `<base>_wks_<role>_<hex>` database that the marker
 * sweep cannot recognise. So, before CREATE DATABASE, wks writes the exact
 * name and the server to `<tmpdir>/wks-pgdb-<pid>-<hex>.json` (0600); once
 * the comment is set, the record is removed. The next run (same host, as for
 * the markers) reads the records of dead processes and drops each database
 * that exists under exactly that name on that server with no comment at all;
 * a database with any comment, or any other name, is never touched.
 */
import { closeSync, fsyncSync, openSync, readdirSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pidAlive } from '../../util/process.js';

const PREFIX = 'wks-pgdb-';

export interface Intent {
  /** The record file. */
  file: string;
  /** `host:port` of the server the database is created on. */
  server: string;
  /** The exact database name. */
  name: string;
}

/** Write (and fsync) the record that `name` is about to be created on `server`. Returns its file. */
export function recordIntent(server: string, name: string, dir = tmpdir()): string {
  const file = path.join(dir, `${PREFIX}${process.pid}-${randomBytes(4).toString('hex')}.json`);
  const fd = openSync(file, 'wx', 0o600);
  try {
    writeSync(fd, JSON.stringify({ server, name }));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return file;
}

/** Remove a record (its database is marked now, dropped, or was never created). Never throws. */
export function forgetIntent(file: string): void {
  rmSync(file, { force: true });
}

/** The records of wks processes on this host that died, for databases on `server`. Unreadable records are skipped. */
export function deadIntents(server: string, dir = tmpdir()): Intent[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const out: Intent[] = [];
  for (const n of names) {
    const m = new RegExp(`^${PREFIX}(\\d+)-[0-9a-f]+\\.json$`).exec(n);
    if (!m || Number(m[1]) === process.pid || pidAlive(Number(m[1]))) continue;
    try {
      const r = JSON.parse(readFileSync(path.join(dir, n), 'utf8')) as { server?: unknown; name?: unknown };
      if (r.server === server && typeof r.name === 'string')
        out.push({ file: path.join(dir, n), server, name: r.name });
    } catch {
      /* another user's (unreadable) or torn (killed while writing, before CREATE DATABASE): not ours to act on */
    }
  }
  return out;
}
