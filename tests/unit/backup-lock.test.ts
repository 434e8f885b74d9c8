import { describe, it, expect } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { acquireBackupMutex, withBackupMutex, LOCK_NAME } from '../../src/backup/lock.js';
import { readCatalog, writeVerification } from '../../src/backup/catalog.js';
import { LocalRepository } from '../../src/backup/repository/local.js';
import { sweepLeftovers, tempOwnerPid, ownedTempPath } from '../../src/backup/files.js';
import { tmpDir } from '../helpers/tmp.js';
import { processScratch, scratchRoot, sweepScratch, trackPrivateFile } from '../../src/util/scratch.js';

async function deadPid(): Promise<number> {
  const p = spawn(process.execPath, ['-e', '0']);
  await new Promise((r) => p.on('close', r));
  return p.pid!;
}

describe('backup mutex', () => {
  it('serialises holders: the second waits for the first, then gets it', async () => {
    const dir = tmpDir('lock');
    const order: string[] = [];
    let waited = false;
    const release = await acquireBackupMutex(dir, { timeoutMs: 1000, command: 'first' });
    const second = withBackupMutex(
      dir,
      { timeoutMs: 5000, command: 'second', onWait: () => (waited = true) },
      async () => {
        order.push('second');
      },
    );
    await new Promise((r) => setTimeout(r, 150));
    order.push('first done');
    release();
    await second;
    expect(waited).toBe(true);
    expect(order).toEqual(['first done', 'second']);
    expect(existsSync(path.join(dir, LOCK_NAME))).toBe(false);
  });

  it('times out with ConflictError (exit 4) naming the owner', async () => {
    const dir = tmpDir('lock');
    const release = await acquireBackupMutex(dir, { timeoutMs: 1000, command: 'backup create (manual)' });
    try {
      await expect(acquireBackupMutex(dir, { timeoutMs: 200, command: 'x' })).rejects.toMatchObject({
        exitCode: 4,
        message: expect.stringMatching(new RegExp(`pid ${process.pid} on ${hostname()} \\(backup create \\(manual\\)`)),
      });
    } finally {
      release();
    }
  });

  it('takes over a lock whose owner is dead; release only removes our own lock', async () => {
    const dir = tmpDir('lock');
    const pid = await deadPid();
    writeFileSync(
      path.join(dir, LOCK_NAME),
      JSON.stringify({ pid, host: hostname(), started_at: new Date().toISOString(), token: 'old', command: 'crashed' }),
    );
    const release = await acquireBackupMutex(dir, { timeoutMs: 500, command: 'new' });
    const owner = JSON.parse(readFileSync(path.join(dir, LOCK_NAME), 'utf8'));
    expect(owner).toMatchObject({ pid: process.pid, command: 'new' });
    // someone else's lock (e.g. after a forced removal) is not deleted by our release
    writeFileSync(path.join(dir, LOCK_NAME), JSON.stringify({ ...owner, token: 'someone-else' }));
    release();
    expect(existsSync(path.join(dir, LOCK_NAME))).toBe(true);
  });

  it('a lock from another host is respected until it is old', async () => {
    const dir = tmpDir('lock');
    writeFileSync(
      path.join(dir, LOCK_NAME),
      JSON.stringify({ pid: 1, host: 'elsewhere', started_at: new Date().toISOString(), token: 't', command: 'c' }),
    );
    await expect(acquireBackupMutex(dir, { timeoutMs: 100, command: 'x' })).rejects.toMatchObject({ exitCode: 4 });
    writeFileSync(
      path.join(dir, LOCK_NAME),
      JSON.stringify({
        pid: 1,
        host: 'elsewhere',
        started_at: new Date(Date.now() - 7 * 3600_000).toISOString(),
        token: 't',
        command: 'c',
      }),
    );
    const release = await acquireBackupMutex(dir, { timeoutMs: 100, command: 'x' });
    release();
  });
});

describe('leftover sweep and catalog reading', () => {
  it('removes temp files of dead owners only', async () => {
    const dir = tmpDir('sweep');
    const dead = await deadPid();
    const mine = ownedTempPath(dir, 'x.db');
    expect(tempOwnerPid(path.basename(mine))).toBe(process.pid);
    writeFileSync(mine, '');
    writeFileSync(path.join(dir, `.wks-tmp-${dead}-0123abcd-y.db`), '');
    writeFileSync(path.join(dir, '.other.json.tmp-0123abcd'), '');
    expect(sweepLeftovers(dir)).toEqual([`.wks-tmp-${dead}-0123abcd-y.db`]);
    expect(sweepLeftovers(dir, { staleMs: 0, now: Date.now() + 1000 })).toEqual(['.other.json.tmp-0123abcd']);
    expect(existsSync(mine)).toBe(true);
  });

  it('a private file tracked from the scratch directory is removed with its dead owner; a live owner keeps its own', async () => {
    const dir = tmpDir('track');
    process.env.TMPDIR = path.join(dir, 'tmp');
    mkdirSync(process.env.TMPDIR);
    const mine = path.join(dir, 'mine.db');
    const untrack = trackPrivateFile(mine);
    writeFileSync(mine, 'ours');
    // what a restore killed with -9 left: its scratch directory pointing at the image beside its target
    const dead = await deadPid();
    const deadDir = path.join(scratchRoot(), `${dead}-abc123`);
    mkdirSync(deadDir, { mode: 0o700 });
    const left = path.join(dir, `.wks-tmp-${dead}-0123abcd-app.db.restore`);
    for (const f of [left, `${left}-wal`, `${left}-journal`]) writeFileSync(f, 'plaintext');
    writeFileSync(path.join(deadDir, 'outside-x1'), left);
    expect(sweepScratch()).toEqual([`${dead}-abc123`]);
    expect(readdirSync(dir).sort()).toEqual(['mine.db', 'tmp']);
    expect(readFileSync(mine, 'utf8')).toBe('ours');
    untrack();
    expect(readdirSync(processScratch()).filter((n) => n.startsWith('outside-'))).toEqual([]);
    expect(existsSync(mine)).toBe(true);
  });

  it('lists only valid manifests, reports unreadable ones, flags missing data, reads verification sidecars', async () => {
    const dir = tmpDir('cat');
    mkdirSync(dir, { recursive: true });
    const m = (id: string, created: string) => ({
      format: 'wks-backup/1',
      id,
      type: 'manual',
      engine: 'sqlite',
      file: `${id}.db.gz`,
      raw_size: 10,
      raw_sha256: 'a'.repeat(64),
      stored_size: 4,
      sha256: 'b'.repeat(64),
      compression: 'gzip',
      encryption: null,
      schema_version: null,
      row_counts: {},
      created_at: created,
    });
    writeFileSync(
      path.join(dir, '20261129T010000Z-aaaa.json'),
      JSON.stringify(m('20261129T010000Z-aaaa', '2026-11-29T01:00:00.000Z')),
    );
    writeFileSync(path.join(dir, '20261129T010000Z-aaaa.db.gz'), 'data');
    writeFileSync(
      path.join(dir, '20261129T020000Z-bbbb.json'),
      JSON.stringify(m('20261129T020000Z-bbbb', '2026-11-29T02:00:00.000Z')),
    );
    writeFileSync(path.join(dir, '20261129T030000Z-cccc.json'), '{ not json');
    writeFileSync(path.join(dir, '20261129T030000Z-cccc.db.gz'), 'data of a broken backup');
    writeFileSync(path.join(dir, '20261129T040000Z-dddd.db'), 'orphan: no manifest');
    const repo = new LocalRepository(dir);
    await writeVerification(repo, {
      id: '20261129T010000Z-aaaa',
      at: '2026-11-29T05:00:00.000Z',
      ok: false,
      deep: false,
      checks: [],
      failed: 'checksum',
      duration_ms: 1,
    });
    const { entries, problems } = await readCatalog(repo);
    expect(entries.map((e) => [e.manifest.id, e.dataPresent, e.verification?.failed ?? null])).toEqual([
      ['20261129T020000Z-bbbb', false, null],
      ['20261129T010000Z-aaaa', true, 'checksum'],
    ]);
    expect(problems).toEqual([
      {
        file: path.join(dir, '20261129T030000Z-cccc.json'),
        id: '20261129T030000Z-cccc',
        problem: 'not a JSON object (empty or unparseable)',
        data_files: ['20261129T030000Z-cccc.db.gz'],
      },
    ]);
    expect((await readCatalog(new LocalRepository(path.join(dir, 'missing')))).entries).toEqual([]);
  });
});
