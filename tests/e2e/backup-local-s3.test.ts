/**
 * Local plus remote (database.backup.local_copy with an S3 repository), as a
 * user runs it: every backup is kept in the local directory and copied to a
 * real S3-protocol server (tests/helpers/s3.ts: s3rver behind the fault
 * proxy). Each side is rotated by its own policy; a failed copy keeps the
 * local backup and a later `backup upload` copies it; restores use the local
 * copy, and the bucket's when the local one is gone.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { spawn } from 'node:child_process';
import { runWks, baseEnv, expectOneLineError, WKS_BIN, REPO } from '../helpers/cli.js';
import { tmpDir } from '../helpers/tmp.js';
import { eventually, startServe } from '../helpers/serve.js';
import { startS3, startFaultProxy, s3Env, listKeys, type S3Target, type FaultProxy } from '../helpers/s3.js';

let s3: S3Target | null = null;
let proxy: FaultProxy;

beforeAll(async () => {
  s3 = await startS3('e2e-both');
  if (s3) proxy = await startFaultProxy(s3.endpoint);
});
afterAll(async () => {
  await proxy?.close();
  await s3?.stop();
});

const skip = (): boolean => {
  if (!s3) console.warn('S3 server unavailable: test skipped');
  return !s3;
};

function seed(file: string, n: number, from = 0): void {
  const db = new Database(file);
  const ins = db.prepare('INSERT INTO users (username, email, password_hash) VALUES (?, ?, ?)');
  db.transaction(() => {
    for (let i = from; i < from + n; i++) ins.run(`u${i}`, `u${i}@example.com`, `h${i}`);
  })();
  db.close();
}

function users(file: string): unknown[] {
  const db = new Database(file, { readonly: true });
  try {
    return db.prepare('SELECT id, username, email FROM users ORDER BY id').all();
  } finally {
    db.close();
  }
}

/** A host in local+s3 mode: its database, its local backup directory, its prefix in the bucket. */
async function host(tag: string, extra: Record<string, string> = {}) {
  const dir = tmpDir(`both-${tag}`);
  const env = {
    DATABASE_PATH: path.join(dir, 'app.db'),
    BACKUP_STORAGE_PATH: path.join(dir, 'backups'),
    BACKUP_LOCAL_COPY: 'true',
    BACKUP_S3_MAX_ATTEMPTS: '3',
    BACKUP_S3_RETRY_BUDGET_MS: '3000',
    BACKUP_S3_REQUEST_TIMEOUT_MS: '3000',
    ...s3Env(s3!, proxy.endpoint, tag),
    ...extra,
  };
  const m = await runWks(['migrate', 'up', '--no-backup'], { env });
  expect(m.code, m.stderr).toBe(0);
  return { dir, env, backups: env.BACKUP_STORAGE_PATH };
}

/** The backup ids whose manifest is in the local directory / in the bucket under `prefix`. */
const localIds = (dir: string): string[] =>
  (existsSync(dir) ? readdirSync(dir) : [])
    .filter((n) => /^\d{8}T\d{6}Z-[0-9a-f]{4}\.json$/.test(n))
    .map((n) => n.slice(0, -5))
    .sort();
const bucketIds = async (prefix: string): Promise<string[]> =>
  (await listKeys(s3!, `${prefix}/`))
    .map((k) => k.slice(prefix.length + 1))
    .filter((n) => /^\d{8}T\d{6}Z-[0-9a-f]{4}\.json$/.test(n))
    .map((n) => n.slice(0, -5))
    .sort();

async function create(env: Record<string, string>, args: string[] = []): Promise<string> {
  const c = await runWks(['backup', 'create', '--json', ...args], { env, timeoutMs: 60_000 });
  expect(c.code, c.stderr).toBe(0);
  return c.json().backup.id as string;
}

describe('local plus remote (e2e)', () => {
  it('create keeps the backup in the directory AND the bucket; list shows local+s3; restore uses the local copy', async () => {
    if (skip()) return;
    const { dir, env, backups } = await host('both');
    seed(env.DATABASE_PATH, 500);
    const before = users(env.DATABASE_PATH);
    const c = await runWks(['backup', 'create', '--json'], { env, timeoutMs: 60_000 });
    expect(c.code, c.stderr).toBe(0);
    const doc = c.json();
    const id = doc.backup.id as string;
    expect(doc.location).toBe('local+s3');
    expect(doc.path).toBe(path.join(backups, doc.backup.file));
    expect(doc.remote.path).toBe(`s3://${s3!.bucket}/both/${doc.backup.file}`);
    expect(existsSync(path.join(backups, doc.backup.file))).toBe(true);
    expect(localIds(backups)).toEqual([id]);
    expect(await bucketIds('both')).toEqual([id]);
    expect(await listKeys(s3!, 'both/')).toContain(`both/${doc.backup.file}`);

    const l = await runWks(['backup', 'list', '--json'], { env });
    expect(l.code, l.stderr).toBe(0);
    expect(l.json().kind).toBe('local+s3');
    expect(l.json().backups.map((b: { id: string; location: string }) => [b.id, b.location])).toEqual([
      [id, 'local+s3'],
    ]);
    const table = await runWks(['backup', 'list'], { env });
    expect(table.stdout).toMatch(/LOCATION/);
    expect(table.stdout).toMatch(new RegExp(`${id}.*local\\+s3`));
    expect((await runWks(['backup', 'list', '--location', 'local', '--json'], { env })).json().backups).toEqual([]);
    const bad = await runWks(['backup', 'list', '--location', 'moon'], { env });
    expectOneLineError(bad, 2, /--location: unknown location "moon"/);

    // Verify and restore read the local copy: no object is downloaded from the bucket.
    proxy.resetCounts();
    const v = await runWks(['backup', 'verify', id, '--json'], { env });
    expect(v.code, v.stderr).toBe(0);
    const to = path.join(dir, 'restored.db');
    const r = await runWks(['backup', 'restore', id, '--to', to, '--yes', '--json'], { env, timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.json().copy).toEqual({ location: 'local', path: path.join(backups, doc.backup.file) });
    expect(proxy.counts().GetObject ?? 0).toBe(0);
    expect(users(to)).toEqual(before);

    const h = await runWks(['health', '--check', 'backups', '--json'], { env });
    expect(h.stdout).not.toMatch(/off-host copy/);
    expect(h.stdout).toMatch(/"count":\s*1/);
  });

  it('each side keeps its own retention: keep_last 3 in the bucket, local_retention.keep_last 1 here', async () => {
    if (skip()) return;
    const { dir, env, backups } = await host('ret');
    const cfg = path.join(dir, 'phase4-config.yml');
    writeFileSync(
      cfg,
      'phase4:\n  database:\n    backup:\n      keep_last: 3\n      keep_hourly: 1\n      keep_daily: 0\n      keep_weekly: 0\n      keep_monthly: 0\n      local_retention:\n        keep_last: 1\n',
    );
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push(await create(env)); // in creation order
    const sorted = (a: string[]) => [...a].sort();
    const dry = await runWks(['-c', cfg, 'backup', 'rotate', '--dry-run', '--json'], { env });
    expect(dry.code, dry.stderr).toBe(0);
    const gone = (d: { deleted: Array<{ id: string; location: string }> }, where: string) =>
      d.deleted
        .filter((x) => x.location === where)
        .map((x) => x.id)
        .sort();
    expect(gone(dry.json(), 's3')).toEqual(ids.slice(0, 1));
    expect(gone(dry.json(), 'local')).toEqual(sorted(ids.slice(0, 3)));
    expect(dry.json().local_policy.keepLast).toBe(1);
    expect(dry.json().policy.keepLast).toBe(3);
    const text = await runWks(['-c', cfg, 'backup', 'rotate', '--dry-run'], { env });
    expect(text.stdout).toMatch(new RegExp(`would delete\\s+${ids[1]}\\s+local`));
    expect(localIds(backups)).toEqual(sorted(ids));

    const r = await runWks(['-c', cfg, '--yes', 'backup', 'rotate', '--json'], { env });
    expect(r.code, r.stderr).toBe(0);
    expect(localIds(backups)).toEqual(ids.slice(3));
    expect(await bucketIds('ret')).toEqual(sorted(ids.slice(1)));
    // Manifest, data and sidecars went together: nothing of a deleted backup is left on either side.
    for (const id of ids.slice(0, 3)) expect(readdirSync(backups).some((n) => n.startsWith(id))).toBe(false);
    expect((await listKeys(s3!, 'ret/')).some((k) => k.includes(ids[0]!))).toBe(false);
    const l = (await runWks(['backup', 'list', '--json'], { env })).json().backups;
    expect(l.map((b: { id: string; location: string }) => [b.id, b.location])).toEqual([
      [ids[3], 'local+s3'],
      [ids[2], 's3'],
      [ids[1], 's3'],
    ]);
    // BACKUP_LOCAL_RETENTION_DAYS reaches local_retention.retention_days.
    const shown = await runWks(['config', 'show', '--json'], { env: { ...env, BACKUP_LOCAL_RETENTION_DAYS: '2' } });
    expect(shown.stdout).toMatch(/"retention_days":\s*2/);
  });

  it('a failed copy keeps the local backup (exit 1, one line); rotation keeps it; `backup upload` copies it later', async () => {
    if (skip()) return;
    const { dir, env, backups } = await host('fail');
    const cfg = path.join(dir, 'phase4-config.yml');
    writeFileSync(
      cfg,
      'phase4:\n  database:\n    backup:\n      keep_last: 5\n      keep_hourly: 1\n      keep_daily: 0\n      keep_weekly: 0\n      keep_monthly: 0\n      local_retention:\n        keep_last: 1\n',
    );
    const first = await create(env);
    proxy.inject('status500', Number.POSITIVE_INFINITY, /PutObject|UploadPart|CreateMultipartUpload/);
    let failed: string[] = [];
    try {
      for (let i = 0; i < 2; i++) {
        const c = await runWks(['backup', 'create'], { env, timeoutMs: 60_000 });
        expectOneLineError(c, 1, /is stored locally \(.*\) but was not copied to s3:\/\/.*HTTP 500/);
        expect(c.stderr).toMatch(/Try: .*wks backup upload/);
      }
      failed = localIds(backups).filter((id) => id !== first);
      expect(failed).toHaveLength(2);
      expect(await bucketIds('fail')).toEqual([first]);
      const l = await runWks(['backup', 'list', '--location', 'local', '--json'], { env });
      expect(
        l
          .json()
          .backups.map((b: { id: string }) => b.id)
          .sort(),
      ).toEqual(failed);
      const h = await runWks(['health', '--check', 'backups', '--json'], { env });
      expect(h.stdout).toMatch(
        /off-host copy lags: newest backup \S+ is only on this host \(2 backups not in the bucket\)/,
      );
      // While a create holds the backup mutex (it may be copying right now), the lag is not reported.
      const lock = path.join(backups, '.wks-backup.lock');
      const owner = {
        pid: process.pid,
        host: hostname(),
        started_at: new Date().toISOString(),
        token: 't',
        command: 'backup create (scheduled)',
      };
      writeFileSync(lock, JSON.stringify(owner));
      const busy = await runWks(['health', '--check', 'backups', '--json'], { env });
      rmSync(lock);
      expect(busy.stdout).not.toMatch(/off-host copy lags/);
      expect(busy.stdout).toMatch(/"copying":\s*true/);
      // The local policy would keep one; the backups the bucket lacks are the only copies, and stay.
      const rot = await runWks(['-c', cfg, '--yes', 'backup', 'rotate', '--json'], { env });
      expect(rot.code, rot.stderr).toBe(0);
      // The first backup is in the bucket: its local copy goes. The two the bucket lacks stay.
      const local = rot.json().kept.filter((k: { location: string }) => k.location === 'local');
      expect(local.map((k: { id: string }) => k.id).sort()).toEqual(failed);
      expect(rot.json().deleted.map((k: { id: string; location: string }) => [k.id, k.location])).toEqual([
        [first, 'local'],
      ]);
      const older = local.find((k: { reasons: string[] }) => !k.reasons.includes('newest backup'));
      expect(older.reasons).toEqual([`not yet copied to s3://${s3!.bucket}/fail`]);
      expect(localIds(backups)).toEqual(failed);
    } finally {
      proxy.clear();
    }
    const up = await runWks(['backup', 'upload', '--json'], { env, timeoutMs: 60_000 });
    expect(up.code, up.stderr).toBe(0);
    expect(
      up
        .json()
        .uploaded.map((u: { id: string }) => u.id)
        .sort(),
    ).toEqual(failed);
    expect(await bucketIds('fail')).toEqual([first, ...failed].sort());
    const l = (await runWks(['backup', 'list', '--json'], { env })).json().backups;
    expect(
      l
        .filter((b: { location: string }) => b.location === 'local+s3')
        .map((b: { id: string }) => b.id)
        .sort(),
    ).toEqual(failed);
    const h = await runWks(['health', '--check', 'backups', '--json'], { env });
    expect(h.stdout).not.toMatch(/off-host copy/);
  });

  it('restore falls back to the bucket when the local copy is gone, and says so', async () => {
    if (skip()) return;
    const { dir, env, backups } = await host('fallback', { BACKUP_ENCRYPTION_KEY: '7'.repeat(64) });
    seed(env.DATABASE_PATH, 300);
    const before = users(env.DATABASE_PATH);
    const id = await create(env, ['--encrypt']);
    for (const n of readdirSync(backups)) if (n.startsWith(id)) rmSync(path.join(backups, n));
    const l = (await runWks(['backup', 'list', '--json'], { env })).json().backups;
    expect(l.map((b: { id: string; location: string }) => [b.id, b.location])).toEqual([[id, 's3']]);
    const to = path.join(dir, 'from-bucket.db');
    const r = await runWks(['backup', 'restore', '--latest', '--to', to, '--yes', '--json'], {
      env,
      timeoutMs: 60_000,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.json().copy.location).toBe('s3');
    expect(r.json().copy.path).toMatch(new RegExp(`^s3://${s3!.bucket}/fallback/${id}\\.db`));
    expect(users(to)).toEqual(before);
    const text = await runWks(['backup', 'restore', id, '--to', path.join(dir, 'again.db'), '--yes'], {
      env,
      timeoutMs: 60_000,
    });
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/copy used\s+s3: s3:\/\//);
    // The verification of the bucket's copy is recorded beside it (this host has no copy of the backup).
    expect(readdirSync(backups).some((n) => n.startsWith(id))).toBe(false);
    expect(await listKeys(s3!, 'fallback/')).toContain(`fallback/${id}.verify.json`);
  });

  it('kill -9 while the copy is on its way: the local backup is whole, the bucket lists nothing of it, the next create copies it', async () => {
    if (skip()) return;
    const { env, backups } = await host('kill', { BACKUP_S3_STALE_UPLOAD_MINUTES: '0' });
    seed(env.DATABASE_PATH, 300);
    proxy.resetCounts();
    proxy.inject('stall', Number.POSITIVE_INFINITY, /PutObject|UploadPart|CreateMultipartUpload/);
    let killed = '';
    try {
      const child = spawn(process.execPath, [WKS_BIN, 'backup', 'create'], {
        cwd: REPO,
        env: baseEnv(env),
        stdio: 'ignore',
      });
      const copying = await eventually(
        async () => proxy.requests.some((r) => /PutObject|UploadPart|CreateMultipartUpload/.test(r.op)),
        (v) => v === true,
        30_000,
        20,
      );
      expect(copying, 'the copy to the bucket started').toBe(true);
      child.kill('SIGKILL');
      await new Promise((r) => child.on('close', r));
      [killed] = localIds(backups);
      expect(killed).toBeTruthy();
    } finally {
      proxy.clear();
    }
    const l = (await runWks(['backup', 'list', '--json'], { env })).json();
    expect(l.problems).toEqual([]);
    expect(l.backups.map((b: { id: string; location: string }) => [b.id, b.location])).toEqual([[killed, 'local']]);
    expect(await bucketIds('kill')).toEqual([]);
    const v = await runWks(['backup', 'verify', killed], { env });
    expect(v.code, v.stderr).toBe(0);
    const c = await runWks(['backup', 'create', '--json'], { env, timeoutMs: 60_000 });
    expect(c.code, c.stderr).toBe(0);
    expect(c.json().remote.backfilled).toEqual([killed]);
    expect(await bucketIds('kill')).toEqual([killed, c.json().backup.id].sort());
    const after = (await runWks(['backup', 'list', '--json'], { env })).json().backups;
    expect(after.every((b: { location: string }) => b.location === 'local+s3')).toBe(true);
  });

  it('the bucket unreachable: list warns and shows the local copies, restore uses them, rotate refuses in one line', async () => {
    if (skip()) return;
    const { dir, env } = await host('down');
    seed(env.DATABASE_PATH, 200);
    const before = users(env.DATABASE_PATH);
    const id = await create(env);
    proxy.inject('status500', Number.POSITIVE_INFINITY);
    try {
      const l = await runWks(['backup', 'list', '--json'], { env });
      expect(l.code, l.stderr).toBe(0);
      expect(l.json().warnings).toHaveLength(1);
      expect(l.json().warnings[0]).toMatch(/^s3:\/\/\S+ cannot be listed \(.*\); showing the local copies only$/);
      expect(l.stderr).toMatch(/warning: s3:\/\/\S+ cannot be listed/);
      expect(l.json().backups.map((b: { id: string; location: string }) => [b.id, b.location])).toEqual([
        [id, 'local'],
      ]);
      const to = path.join(dir, 'offline.db');
      const r = await runWks(['backup', 'restore', '--latest', '--to', to, '--yes', '--json'], {
        env,
        timeoutMs: 60_000,
      });
      expect(r.code, r.stderr).toBe(0);
      expect(r.json().copy.location).toBe('local');
      expect(users(to)).toEqual(before);
      const h = await runWks(['health', '--check', 'backups', '--json'], { env });
      expect(h.stdout).toMatch(/the off-host copy cannot be checked/);
      const rot = await runWks(['--yes', 'backup', 'rotate'], { env });
      expectOneLineError(rot, 1, /s3:\/\/\S+: ListObjectsV2 failed after \d+ attempts: HTTP 500/);
    } finally {
      proxy.clear();
    }
  });

  // A behaviour bound, not a benchmark: the full retry budget is 60 s, a read the local copy serves
  // must not wait it out (BACKUP_S3_LOCAL_FALLBACK_MS, 5 s by default); 15 s leaves a wide margin.
  it.each([
    ['stall', {}],
    ['status500', { BACKUP_S3_MAX_ATTEMPTS: '50' }],
  ] as const)(
    'the bucket down (%s forever, 60 s retry budget): list and restore --latest use the local copy without waiting out the budget',
    async (fault, extra) => {
      if (skip()) return;
      const { dir, env } = await host(`quick-${fault}`, {
        BACKUP_S3_MAX_ATTEMPTS: '6',
        BACKUP_S3_RETRY_BUDGET_MS: '60000',
        BACKUP_S3_REQUEST_TIMEOUT_MS: '60000',
        ...extra,
      });
      seed(env.DATABASE_PATH, 100);
      const before = users(env.DATABASE_PATH);
      const id = await create(env);
      proxy.inject(fault, Number.POSITIVE_INFINITY);
      try {
        let t = Date.now();
        const l = await runWks(['backup', 'list', '--json'], { env, timeoutMs: 90_000 });
        const listMs = Date.now() - t;
        expect(l.code, l.stderr).toBe(0);
        expect(l.json().warnings[0]).toMatch(/^s3:\/\/\S+ cannot be listed \(.*\); showing the local copies only$/);
        expect(l.json().backups.map((b: { id: string; location: string }) => [b.id, b.location])).toEqual([
          [id, 'local'],
        ]);
        expect(listMs).toBeLessThan(15_000);
        const to = path.join(dir, 'quick.db');
        t = Date.now();
        const r = await runWks(['backup', 'restore', '--latest', '--to', to, '--yes', '--json'], {
          env,
          timeoutMs: 90_000,
        });
        const restoreMs = Date.now() - t;
        expect(r.code, r.stderr).toBe(0);
        expect(r.json().copy.location).toBe('local');
        expect(users(to)).toEqual(before);
        expect(restoreMs).toBeLessThan(15_000);
      } finally {
        proxy.clear();
      }
    },
    180_000,
  );

  it('with no local backup, the listing is not cut short: a slow bucket still lists the backups only it holds', async () => {
    if (skip()) return;
    const { env, backups } = await host('slowlist', { BACKUP_S3_LOCAL_FALLBACK_MS: '1000' });
    seed(env.DATABASE_PATH, 50);
    const id = await create(env);
    for (const n of readdirSync(backups)) if (n.startsWith(id)) rmSync(path.join(backups, n));
    // The first listing stalls past the 1 s fallback; the full-budget one (retried after the 3 s request timeout) answers.
    proxy.inject('stall', 1, /ListObjectsV2/);
    try {
      const l = await runWks(['backup', 'list', '--json'], { env, timeoutMs: 60_000 });
      expect(l.code, l.stderr).toBe(0);
      expect(l.json().warnings).toEqual([]);
      expect(l.json().backups.map((b: { id: string; location: string }) => [b.id, b.location])).toEqual([[id, 's3']]);
    } finally {
      proxy.clear();
    }
  });

  it('listings slow (stalled) but the bucket alive, other backups local: verify and restore of a bucket-only id fetch its manifest by key', async () => {
    if (skip()) return;
    const { dir, env, backups } = await host('byid', { BACKUP_S3_RETRY_BUDGET_MS: '30000' });
    seed(env.DATABASE_PATH, 40);
    const before = users(env.DATABASE_PATH);
    const old = await create(env);
    for (const n of readdirSync(backups)) if (n.startsWith(old)) rmSync(path.join(backups, n));
    seed(env.DATABASE_PATH, 10, 40);
    const kept = await create(env);
    expect(kept).not.toBe(old);
    // Every listing stalls (past the 5 s fallback); GETs and HEADs answer.
    proxy.inject('stall', Number.POSITIVE_INFINITY, /ListObjectsV2/);
    try {
      proxy.resetCounts();
      const v = await runWks(['backup', 'verify', old, '--json'], { env, timeoutMs: 60_000 });
      expect(v.code, v.stderr).toBe(0);
      expect(v.stdout).toContain(old);
      expect(proxy.counts().GetObject).toBeGreaterThanOrEqual(1);

      const to = path.join(dir, 'byid.db');
      const r = await runWks(['backup', 'restore', old, '--to', to, '--yes', '--json'], { env, timeoutMs: 60_000 });
      expect(r.code, r.stderr).toBe(0);
      expect(r.json().copy.location).toBe('s3');
      expect(users(to)).toEqual(before);

      // An id the bucket does not hold either is still not found (exit 5), after the lookup.
      const missing = `${old.slice(0, -4)}${old.endsWith('0000') ? '0001' : '0000'}`;
      const n = await runWks(['backup', 'verify', missing], { env, timeoutMs: 60_000 });
      expectOneLineError(n, 5, new RegExp(`no backup matches "${missing}"`));
    } finally {
      proxy.clear();
    }
  }, 180_000);

  it("a damaged local copy: verify exits 3, restore warns and uses the bucket's copy", async () => {
    if (skip()) return;
    const { dir, env, backups } = await host('damaged');
    seed(env.DATABASE_PATH, 400);
    const before = users(env.DATABASE_PATH);
    const c = await runWks(['backup', 'create', '--compress', 'gzip', '--json'], { env, timeoutMs: 60_000 });
    expect(c.code, c.stderr).toBe(0);
    const { id, file } = c.json().backup as { id: string; file: string };
    const data = path.join(backups, file);
    const bytes = readFileSync(data);
    bytes[Math.floor(bytes.length / 2)]! ^= 0xff;
    writeFileSync(data, bytes);
    const v = await runWks(['backup', 'verify', id], { env });
    expect(v.code, v.stderr).toBe(3);
    const to = path.join(dir, 'restored.db');
    const r = await runWks(['backup', 'restore', id, '--to', to, '--yes', '--json'], { env, timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/the local copy of \S+ failed verification \(checksum\); trying s3:\/\//);
    expect(r.json().copy).toEqual({ location: 's3', path: `s3://${s3!.bucket}/damaged/${file}` });
    expect(users(to)).toEqual(before);
  });

  it("wks serve's scheduled backup and rotate jobs work on both sides", async () => {
    if (skip()) return;
    const { dir, env, backups } = await host('serve', { METRICS_SCRAPE_CACHE_MS: '0' });
    const cfg = path.join(dir, 'phase4-config.yml');
    writeFileSync(
      cfg,
      [
        'phase4:',
        '  database:',
        '    backup:',
        '      schedule: "*/2 * * * * *"',
        '      keep_last: 20',
        '      keep_hourly: 1',
        '      keep_daily: 0',
        '      keep_weekly: 0',
        '      keep_monthly: 0',
        '      local_retention: { keep_last: 1 }',
        '  serve:',
        '    jobs:',
        '      backup: { enabled: true }',
        '      rotate: { enabled: true, schedule: "*/3 * * * * *" }',
        '      verify: { enabled: false, schedule: "0 0 * * *" }',
        '      reap: { enabled: false, schedule: "0 0 * * *" }',
        '      agent_health: { enabled: false, schedule: "0 0 * * *" }',
        '      metrics_sample: { enabled: false, schedule: "0 0 * * *" }',
        '',
      ].join('\n'),
    );
    const s = await startServe(['-c', cfg, '-v'], env, dir);
    try {
      // Backups reach the bucket, and rotation thins the local directory to its own keep_last 1.
      const state = await eventually(
        async () => ({ local: localIds(backups), bucket: await bucketIds('serve') }),
        (v) => !(v instanceof Error) && v.bucket.length >= 3 && v.local.length === 1,
        60_000,
        250,
      );
      expect(state.bucket.length, s.stderr()).toBeGreaterThanOrEqual(3);
      expect(state.local, s.stderr()).toHaveLength(1);
      expect(s.stderr()).toMatch(/scheduled backup \S+ completed and verified/);
      // The metrics count a backup on either side, by where it is.
      const text = await eventually(
        async () => (await fetch(`${s.url}/metrics`)).text(),
        (t) => typeof t === 'string' && /^wks_backups_location\{location="s3"\} [1-9]/m.test(t),
        30_000,
        250,
      );
      expect(text).toMatch(/^wks_backups_location\{location="s3"\} [1-9]/m);
      expect(text).toMatch(/^wks_backups_location\{location="local\+s3"\} [1-9]/m);
    } finally {
      expect((await s.stop()).code, s.stderr()).toBe(0);
    }
    // Nothing local is missing from the bucket; the bucket keeps what its own policy keeps.
    const local = localIds(backups);
    const bucket = await bucketIds('serve');
    expect(local.every((id) => bucket.includes(id))).toBe(true);
    expect(bucket.length).toBeGreaterThan(local.length);
  });

  it('local_copy without a repository is a configuration error (78)', async () => {
    const dir = tmpDir('both-cfg');
    const r = await runWks(['backup', 'list'], {
      env: { DATABASE_PATH: path.join(dir, 'app.db'), BACKUP_STORAGE_PATH: dir, BACKUP_LOCAL_COPY: 'true' },
    });
    expect(r.code, r.stderr).toBe(78);
    expect(r.stderr).toMatch(/a local copy needs a remote repository/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});
