/**
 * Backups in an S3-compatible repository, as a user runs them: `wks backup
 * create|list|verify|restore|rotate` against a real S3-protocol server
 * (tests/helpers/s3.ts: s3rver, or WKS_TEST_S3_URL) behind a fault-injecting
 * proxy that counts requests and produces 500s, 503 SlowDown, resets and stalls.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { existsSync, readdirSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { spawn } from 'node:child_process';
import path from 'node:path';
import Database from 'better-sqlite3';
import { runWks, baseEnv, WKS_BIN, REPO } from '../helpers/cli.js';
import { tmpDir } from '../helpers/tmp.js';
import {
  startS3,
  startFaultProxy,
  s3Env,
  listKeys,
  getObject,
  putObject,
  pendingUploads,
  type S3Target,
  type FaultProxy,
} from '../helpers/s3.js';

const KEY = '0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0';

let s3: S3Target | null = null;
let proxy: FaultProxy;

beforeAll(async () => {
  s3 = await startS3('e2e');
  if (s3) proxy = await startFaultProxy(s3.endpoint);
});
afterAll(async () => {
  await proxy?.close();
  await s3?.stop();
});

function seed(file: string, n: number): void {
  const db = new Database(file);
  const ins = db.prepare('INSERT INTO users (username, email, password_hash) VALUES (?, ?, ?)');
  db.transaction(() => {
    for (let i = 0; i < n; i++) ins.run(`u${i}`, `u${i}@example.com`, `h${i}`);
  })();
  db.close();
}

function users(file: string): Array<Record<string, unknown>> {
  const db = new Database(file, { readonly: true });
  try {
    return db.prepare('SELECT id, username, email, password_hash FROM users ORDER BY id').all() as Array<
      Record<string, unknown>
    >;
  } finally {
    db.close();
  }
}

/** A host: its own database, staging directory and prefix in the shared bucket. */
async function host(tag: string, prefix: string, extra: Record<string, string> = {}) {
  const dir = tmpDir(`s3-${tag}`);
  const env = {
    DATABASE_PATH: path.join(dir, 'app.db'),
    BACKUP_STORAGE_PATH: path.join(dir, 'staging'),
    BACKUP_S3_MAX_ATTEMPTS: '4',
    BACKUP_S3_RETRY_BUDGET_MS: '8000',
    BACKUP_S3_REQUEST_TIMEOUT_MS: '3000',
    ...s3Env(s3!, proxy.endpoint, prefix),
    ...extra,
  };
  const m = await runWks(['migrate', 'up', '--no-backup'], { env });
  expect(m.code, m.stderr).toBe(0);
  return { dir, env };
}

const skip = (): boolean => {
  if (!s3) console.warn('S3 server unavailable: test skipped');
  return !s3;
};

describe('S3 repository (e2e)', () => {
  it('SQLite round trip: create -> list -> verify -> restore, equal data; nothing staged is left behind', async () => {
    if (skip()) return;
    const { dir, env } = await host('rt', 'rt', { BACKUP_ENCRYPTION_KEY: KEY });
    seed(env.DATABASE_PATH, 2000);
    const before = users(env.DATABASE_PATH);
    for (const args of [
      ['--compress', 'gzip', '--encrypt'],
      ['--compress', 'none'],
    ]) {
      const c = await runWks(['backup', 'create', ...args, '--json'], { env, timeoutMs: 60_000 });
      expect(c.code, c.stderr).toBe(0);
      expect(c.json().path).toMatch(new RegExp(`^s3://${s3!.bucket}/rt/\\d{8}T\\d{6}Z-[0-9a-f]{4}\\.db`));
    }
    const keys = await listKeys(s3!, 'rt/');
    expect(keys.filter((k) => k.endsWith('.json'))).toHaveLength(2);
    // The store never holds plaintext of the encrypted backup.
    const enc = keys.find((k) => k.endsWith('.db.gz.enc'))!;
    expect((await getObject(s3!, enc)).subarray(0, 8).toString()).toMatch(/^WKSENC/);

    const l = await runWks(['backup', 'list', '--json'], { env });
    expect(l.code, l.stderr).toBe(0);
    expect(l.json().directory).toBe(`s3://${s3!.bucket}/rt`);
    expect(l.json().backups).toHaveLength(2);
    for (const b of l.json().backups) {
      const v = await runWks(['backup', 'verify', b.id, '--json'], { env });
      expect(v.code, v.stderr).toBe(0);
    }
    const listed = (await runWks(['backup', 'list', '--json'], { env })).json().backups;
    expect(listed.every((b: { verification: { ok: boolean } }) => b.verification?.ok)).toBe(true);

    for (const b of listed) {
      const to = path.join(dir, `restored-${b.id}.db`);
      const r = await runWks(['backup', 'restore', b.id, '--to', to, '--yes', '--json'], { env, timeoutMs: 60_000 });
      expect(r.code, r.stderr).toBe(0);
      expect(users(to)).toEqual(before);
    }
    // health's backups check reads the same repository.
    const h = await runWks(['health', '--check', 'backups', '--json'], { env });
    expect(h.stdout).toContain(`s3://${s3!.bucket}/rt`);
    expect(h.stdout).toMatch(/"count":\s*2/);
    // Staging holds nothing once the commands are done (no data, no plaintext).
    const staging = readdirSync(env.BACKUP_STORAGE_PATH).filter((n) => !n.startsWith('.wks-backup.lock'));
    expect(staging).toEqual([]);
  });

  it('fresh host: a directory with only a config file lists and restores the latest backup', async () => {
    if (skip()) return;
    const { env } = await host('old', 'fresh', { BACKUP_ENCRYPTION_KEY: KEY });
    seed(env.DATABASE_PATH, 300);
    const before = users(env.DATABASE_PATH);
    expect((await runWks(['backup', 'create', '--encrypt'], { env })).code).toBe(0);

    // The old host is lost (its database with it). The new machine: nothing but phase4-config.yml
    // (the same settings) and the credentials in the environment. (One machine plays both hosts here;
    // a replacement with another host name is source.ts rule 4, covered in tests/unit/backup-source.test.ts.)
    for (const s of ['', '-wal', '-shm']) rmSync(`${env.DATABASE_PATH}${s}`, { force: true });
    const fresh = tmpDir('s3-newhost');
    mkdirSync(fresh, { recursive: true });
    writeFileSync(
      path.join(fresh, 'phase4-config.yml'),
      [
        'phase4:',
        '  database:',
        `    path: ${env.DATABASE_PATH}`,
        '    backup:',
        `      repository: s3://${s3!.bucket}/fresh`,
        '      storage_path: ./staging',
        '      s3:',
        `        endpoint: ${proxy.endpoint}`,
        `        region: ${s3!.region}`,
        '        force_path_style: true',
        '',
      ].join('\n'),
    );
    const creds = {
      AWS_ACCESS_KEY_ID: s3!.accessKeyId,
      AWS_SECRET_ACCESS_KEY: s3!.secretAccessKey,
      BACKUP_ENCRYPTION_KEY: KEY,
    };
    const l = await runWks(['backup', 'list', '--json'], { env: creds, cwd: fresh });
    expect(l.code, l.stderr).toBe(0);
    expect(l.json().backups).toHaveLength(1);
    const r = await runWks(['backup', 'restore', '--latest', '--yes', '--json'], {
      env: creds,
      cwd: fresh,
      timeoutMs: 60_000,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(users(env.DATABASE_PATH)).toEqual(before);
    expect(readdirSync(fresh).sort()).toEqual(['phase4-config.yml', 'staging']);
  });

  it('one flipped byte in the remote data object: verify exits 3 and restore refuses', async () => {
    if (skip()) return;
    const { dir, env } = await host('flip', 'flip');
    seed(env.DATABASE_PATH, 200);
    for (const args of [
      ['--compress', 'none'],
      ['--compress', 'gzip'],
    ]) {
      const c = await runWks(['backup', 'create', ...args, '--json'], { env });
      expect(c.code, c.stderr).toBe(0);
      const m = c.json().backup;
      const key = `flip/${m.file}`;
      const buf = await getObject(s3!, key);
      buf[Math.floor(buf.length / 2)]! ^= 0x01;
      await putObject(s3!, key, buf);
      const v = await runWks(['backup', 'verify', m.id], { env });
      expect(v.code, v.stderr).toBe(3);
      expect(v.stderr).toMatch(/failed verification: (checksum|decode)/);
      const r = await runWks(['backup', 'restore', m.id, '--to', path.join(dir, 'x.db'), '--yes'], { env });
      expect(r.code).toBe(3);
      expect(existsSync(path.join(dir, 'x.db'))).toBe(false);
    }
  });

  it('checksums: each upload carries its SHA-256; a data GET does not ask the SDK to check (wks hashes it), a document GET does', async () => {
    if (skip()) return;
    const { env } = await host('sums', 'sums');
    seed(env.DATABASE_PATH, 50);
    proxy.resetCounts();
    const c = await runWks(['backup', 'create', '--compress', 'gzip', '--json'], { env });
    expect(c.code, c.stderr).toBe(0);
    const m = c.json().backup;
    const uploads = proxy.requests.filter((r) => ['PutObject', 'UploadPart'].includes(r.op));
    expect(uploads.length).toBeGreaterThan(0);
    for (const u of uploads)
      expect(u.headers['x-amz-checksum-sha256'] ?? u.headers['x-amz-trailer'], u.path).toMatch(
        /^(x-amz-checksum-sha256|[A-Za-z0-9+/]{43}=)$/,
      );
    proxy.resetCounts();
    const v = await runWks(['backup', 'verify', m.id], { env });
    expect(v.code, v.stderr).toBe(0);
    const gets = proxy.requests.filter((r) => r.op === 'GetObject');
    const data = gets.filter((r) => r.path.split('?')[0]!.endsWith(m.file));
    const docs = gets.filter((r) => r.path.split('?')[0]!.endsWith('.json'));
    expect(data).toHaveLength(1);
    expect(docs.length).toBeGreaterThan(0);
    expect(data[0]!.headers['x-amz-checksum-mode']).toBeUndefined();
    for (const d of docs) expect(d.headers['x-amz-checksum-mode'], d.path).toBe('ENABLED');
  });

  it('backup list costs one LIST and one GET per manifest (plus one per verification record), never a data GET; -v prints the counts', async () => {
    if (skip()) return;
    const { env } = await host('count', 'count');
    seed(env.DATABASE_PATH, 50);
    for (let i = 0; i < 3; i++) expect((await runWks(['backup', 'create'], { env })).code).toBe(0);
    const first = (await runWks(['backup', 'list', '--json'], { env })).json().backups[0].id;
    expect((await runWks(['backup', 'verify', first], { env })).code).toBe(0);
    proxy.resetCounts();
    const l = await runWks(['backup', 'list', '-v'], { env });
    expect(l.code, l.stderr).toBe(0);
    expect(proxy.counts()).toEqual({ ListObjectsV2: 1, GetObject: 4 });
    const gets = proxy.requests.filter((r) => r.op === 'GetObject').map((r) => r.path.split('?')[0]!);
    expect(gets.every((p) => p.endsWith('.json'))).toBe(true);
    expect(l.stderr).toMatch(/5 S3 request\(s\) \(GetObject 4, ListObjectsV2 1\)/);
  });

  it('500 and 503 SlowDown for a while: retried and the backup succeeds', async () => {
    if (skip()) return;
    const { env } = await host('retry', 'retry');
    seed(env.DATABASE_PATH, 100);
    proxy.inject('status500', 2);
    const a = await runWks(['backup', 'create', '--json'], { env });
    expect(a.code, a.stderr).toBe(0);
    proxy.inject('slowdown503', 2);
    const b = await runWks(['backup', 'create', '--json'], { env });
    expect(b.code, b.stderr).toBe(0);
    proxy.inject('reset', 1, /PutObject|UploadPart/);
    const c = await runWks(['backup', 'create', '--json'], { env });
    expect(c.code, c.stderr).toBe(0);
    proxy.clear();
    expect((await runWks(['backup', 'list', '--json'], { env })).json().backups).toHaveLength(3);
  });

  it('500 without end: fails within its bound, in one line that counts the attempts', async () => {
    if (skip()) return;
    const { env } = await host('down', 'down');
    seed(env.DATABASE_PATH, 100);
    proxy.inject('status500', Number.POSITIVE_INFINITY);
    const t0 = Date.now();
    const r = await runWks(['backup', 'create'], { env, timeoutMs: 60_000 });
    proxy.clear();
    expect(r.code).toBe(1);
    expect(Date.now() - t0).toBeLessThan(30_000);
    const lines = r.stderr.trim().split('\n');
    expect(lines.filter((l) => l.startsWith('Error:'))).toHaveLength(1);
    expect(lines.find((l) => l.startsWith('Error:'))).toMatch(/after 4 attempts: HTTP 500 InternalError/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('a stalled server: the request times out and is retried, the backup succeeds', async () => {
    if (skip()) return;
    const { env } = await host('stall', 'stall');
    seed(env.DATABASE_PATH, 50);
    proxy.inject('stall', 1, /PutObject/);
    const r = await runWks(['backup', 'create', '--json'], { env, timeoutMs: 60_000 });
    proxy.clear();
    expect(r.code, r.stderr).toBe(0);
  });

  it('wrong credentials and a missing bucket: one line, exit 78, the secret never printed', async () => {
    if (skip()) return;
    const { env } = await host('creds', 'creds');
    // (s3rver checks the access key id but not the SigV4 signature: a real store refuses the secret too.)
    const secret = 'wrongSecretValue/ABCDEFGHIJKLMN0123456789';
    for (const json of [false, true]) {
      const bad = await runWks(['backup', 'list', ...(json ? ['--json'] : [])], {
        env: {
          ...env,
          AWS_ACCESS_KEY_ID: s3!.external ? s3!.accessKeyId : 'AKIAWRONGKEYID000000',
          AWS_SECRET_ACCESS_KEY: secret,
        },
      });
      expect(bad.code, bad.stderr).toBe(78);
      expect(bad.stdout + bad.stderr).not.toContain(secret);
      if (json) expect(bad.json().error.message).toMatch(/credentials were refused/);
      else {
        expect(bad.stderr).toMatch(/^Error: s3:\/\/\S+: ListObjectsV2 failed: the S3 credentials were refused/m);
        expect(bad.stderr.trim().split('\n')).toHaveLength(2);
      }
    }
    const missing = await runWks(['backup', 'create'], {
      env: { ...env, BACKUP_REPOSITORY: 's3://wks-no-such-bucket-4711/x' },
    });
    expect(missing.code, missing.stderr).toBe(78);
    expect(missing.stderr).toMatch(/bucket "wks-no-such-bucket-4711" does not exist/);
    expect(missing.stderr.trim().split('\n')).toHaveLength(2);
    expect(missing.stdout + missing.stderr).not.toContain(s3!.secretAccessKey.length >= 8 ? s3!.secretAccessKey : '\0');
  });

  it('kill -9 in the middle of an upload: no listed backup; the next run aborts the upload and its parts are gone', async () => {
    if (skip()) return;
    const { env } = await host('kill', 'kill', {
      BACKUP_S3_PART_SIZE_MB: '5',
      BACKUP_S3_STALE_UPLOAD_MINUTES: '0',
    });
    // ~20 MB of incompressible data: several parts.
    const db = new Database(env.DATABASE_PATH);
    db.exec('CREATE TABLE blob (b BLOB)');
    const ins = db.prepare('INSERT INTO blob VALUES (randomblob(65536))');
    db.transaction(() => {
      for (let i = 0; i < 320; i++) ins.run();
    })();
    db.close();
    proxy.resetCounts();
    const child = spawn(process.execPath, [WKS_BIN, 'backup', 'create', '--compress', 'none'], {
      cwd: REPO,
      env: baseEnv(env),
      stdio: 'ignore',
    });
    const deadline = Date.now() + 30_000;
    while (!proxy.requests.some((r) => r.op === 'UploadPart') && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    expect(
      proxy.requests.some((r) => r.op === 'UploadPart'),
      'an UploadPart was sent',
    ).toBe(true);
    child.kill('SIGKILL');
    await new Promise((r) => child.on('close', r));
    const part = proxy.requests.find((r) => r.op === 'UploadPart')!;
    const uploadId = new URL(part.path, 'http://x').searchParams.get('uploadId')!;
    expect(uploadId).toBeTruthy();
    const l = await runWks(['backup', 'list', '--json'], { env });
    expect(l.json().backups).toEqual([]);
    // What the killed run left: the upload with its parts, and its in-progress record under the prefix.
    expect(await pendingUploads(s3!)).toContain(uploadId);
    const records = await listKeys(s3!, 'kill/.wks-uploads/');
    expect(records).toHaveLength(1);
    expect(JSON.parse((await getObject(s3!, records[0]!)).toString())).toMatchObject({
      upload_id: uploadId,
      key: expect.stringMatching(/^kill\/\.wks-tmp-|^kill\/\d{8}T/),
    });
    // The next run sweeps: the record's upload is aborted (on any server: s3rver cannot list
    // multipart uploads), its parts are gone, and so is the record.
    proxy.resetCounts();
    const next = await runWks(['backup', 'create', '--compress', 'gzip', '-v'], { env, timeoutMs: 60_000 });
    expect(next.code, next.stderr).toBe(0);
    // ListMultipartUploads is still asked (servers that have it get their uploads aborted too).
    expect(proxy.counts().ListMultipartUploads).toBe(1);
    const aborts = proxy.requests.filter((r) => r.op === 'AbortMultipartUpload');
    expect(aborts.map((r) => new URL(r.path, 'http://x').searchParams.get('uploadId'))).toEqual([uploadId]);
    expect(await pendingUploads(s3!)).not.toContain(uploadId);
    expect(await listKeys(s3!, 'kill/.wks-uploads/')).toEqual([]);
    expect(readdirSync(env.BACKUP_STORAGE_PATH).filter((n) => n.startsWith('.wks-tmp-'))).toEqual([]);
    expect((await runWks(['backup', 'list', '--json'], { env })).json().backups).toHaveLength(1);
    // Nothing under the prefix but the new backup's manifest, data and verification record.
    expect((await listKeys(s3!, 'kill/')).filter((k) => !/^kill\/\d{8}T\d{6}Z-[0-9a-f]{4}\./.test(k))).toEqual([]);
  });

  it('a completed multipart upload leaves no in-progress record; a failed one is aborted at once', async () => {
    if (skip()) return;
    const { env } = await host('mpu', 'mpu', { BACKUP_S3_PART_SIZE_MB: '5' });
    const db = new Database(env.DATABASE_PATH);
    db.exec('CREATE TABLE blob (b BLOB)');
    const ins = db.prepare('INSERT INTO blob VALUES (randomblob(65536))');
    db.transaction(() => {
      for (let i = 0; i < 200; i++) ins.run();
    })();
    db.close();
    proxy.resetCounts();
    const ok = await runWks(['backup', 'create', '--compress', 'none', '--no-encrypt'], { env, timeoutMs: 60_000 });
    expect(ok.code, ok.stderr).toBe(0);
    expect(proxy.counts().CompleteMultipartUpload).toBe(1);
    // Each part carries its SHA-256 for the server to check (the issue: every object or part).
    const parts = proxy.requests.filter((r) => r.op === 'UploadPart');
    expect(parts.length).toBeGreaterThan(1);
    for (const p of parts)
      expect(p.headers['x-amz-checksum-sha256'] ?? p.headers['x-amz-trailer'], p.path).toMatch(
        /^(x-amz-checksum-sha256|[A-Za-z0-9+/]{43}=)$/,
      );
    expect(await listKeys(s3!, 'mpu/.wks-uploads/')).toEqual([]);
    // Every attempt at the last part fails: the upload is aborted by the run itself, and its record removed.
    proxy.resetCounts();
    proxy.inject('status500', Number.POSITIVE_INFINITY, /^CompleteMultipartUpload$/);
    const bad = await runWks(['backup', 'create', '--compress', 'none', '--no-encrypt'], { env, timeoutMs: 60_000 });
    proxy.clear();
    expect(bad.code).toBe(1);
    expect(proxy.counts().AbortMultipartUpload).toBe(1);
    expect(await pendingUploads(s3!)).toEqual([]);
    expect(await listKeys(s3!, 'mpu/.wks-uploads/')).toEqual([]);
    expect((await runWks(['backup', 'list', '--json'], { env })).json().backups).toHaveLength(1);
  });

  it('backup upload back-fills the bucket from a local directory: checksums checked, manifest last, idempotent', async () => {
    if (skip()) return;
    const { dir, env } = await host('fill', 'fill', { BACKUP_ENCRYPTION_KEY: KEY });
    seed(env.DATABASE_PATH, 150);
    const before = users(env.DATABASE_PATH);
    const localEnv = { ...env, BACKUP_REPOSITORY: '', BACKUP_STORAGE_PATH: path.join(dir, 'local') };
    for (const args of [['--encrypt'], ['--compress', 'none']])
      expect((await runWks(['backup', 'create', ...args], { env: localEnv })).code).toBe(0);
    const dry = await runWks(['backup', 'upload', '--from', localEnv.BACKUP_STORAGE_PATH, '--dry-run', '--json'], {
      env,
    });
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.json().uploaded).toHaveLength(2);
    expect(await listKeys(s3!, 'fill/')).toEqual([]);
    const up = await runWks(['backup', 'upload', '--from', localEnv.BACKUP_STORAGE_PATH, '--json'], { env });
    expect(up.code, up.stderr).toBe(0);
    expect(up.json()).toMatchObject({ to: `s3://${s3!.bucket}/fill`, present: [], skipped: [] });
    expect(up.json().uploaded).toHaveLength(2);
    const again = await runWks(['backup', 'upload', '--from', localEnv.BACKUP_STORAGE_PATH, '--json'], { env });
    expect(again.json()).toMatchObject({ uploaded: [], skipped: [] });
    expect(again.json().present).toHaveLength(2);
    const listed = (await runWks(['backup', 'list', '--json'], { env })).json().backups;
    expect(listed).toHaveLength(2);
    for (const b of listed) {
      const to = path.join(dir, `from-s3-${b.id}.db`);
      const r = await runWks(['backup', 'restore', b.id, '--to', to, '--yes'], { env });
      expect(r.code, r.stderr).toBe(0);
      expect(users(to)).toEqual(before);
    }
    // Without an S3 repository configured: a usage error.
    const none = await runWks(['backup', 'upload'], { env: localEnv });
    expect(none.code).toBe(2);
  });
});
