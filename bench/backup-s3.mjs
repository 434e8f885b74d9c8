#!/usr/bin/env node
// Benchmark for the S3 repository (issue #12), as ratios against a reference run
// in the same script, against the local S3 server (s3rver, a dev dependency, in
// its own process on 127.0.0.1) on the generated benchmark database:
//
//   create: `wks backup create --compress none` to S3
//           vs `sqlite3 .backup` + an upload of that file with the SDK's own Upload
//           (a ten-line script, same part size and queue)            target <= 1.3x
//   peak RSS of that create                                            target <= 200 MB
//   restore: `wks backup restore --latest --to X` from S3 (verify, then install)
//           vs a download of the same object with the same client    target <= 1.5x
//
//   npm run build && node bench/backup-s3.mjs          # ~1 GiB (BENCH_SIZE_MB=1024)
//   BENCH_SIZE_MB=2 node bench/backup-s3.mjs           # smoke run
//   BENCH_RUNS=5 ...                                   # runs per side, interleaved; median (at least 3)
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DATA, ensureDatabase } from './data.mjs';
import { RUNS, header, interleave, median, note, report, summary, timed } from './lib.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const WKS = path.join(ROOT, 'bin/wks.js');
const SIZE_MB = Number(process.env.BENCH_SIZE_MB ?? 1024);
const DB = ensureDatabase(SIZE_MB);
const WORK = path.join(DATA, 'work-s3');
const PART_MB = 16;
header(
  `wks backup to S3 (s3rver on 127.0.0.1): database ${DB} (${(statSync(DB).size / 1048576).toFixed(0)} MiB)${SIZE_MB < 1024 ? `  [REDUCED SCALE: ${SIZE_MB} MiB instead of 1 GiB]` : ''}`,
);

// ---------------------------------------------------------------- the server, in its own process
const store = mkdtempSync(path.join(tmpdir(), 'bench-s3rver-'));
const server = spawn(
  process.execPath,
  [
    '--input-type=module',
    '-e',
    `const S3rver = (await import('s3rver')).default;
     const s = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: ${JSON.stringify(store)}, configureBuckets: [{ name: 'bench' }] });
     const { port } = await s.run(); console.log(port);`,
  ],
  { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
);
const port = await new Promise((resolve, reject) => {
  server.stdout.once('data', (d) => resolve(Number(String(d).trim())));
  server.once('exit', (c) => reject(new Error(`s3rver exited ${c}`)));
});
const ENDPOINT = `http://127.0.0.1:${port}`;
const S3ENV = {
  AWS_ACCESS_KEY_ID: 'S3RVER',
  AWS_SECRET_ACCESS_KEY: 'S3RVER',
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
};
const env = (extra = {}) => ({
  PATH: process.env.PATH,
  HOME: process.env.HOME,
  DATABASE_PATH: DB,
  BACKUP_STORAGE_PATH: path.join(WORK, 'staging'),
  BACKUP_REPOSITORY: 's3://bench/wks',
  BACKUP_S3_ENDPOINT: ENDPOINT,
  BACKUP_S3_REGION: 'us-east-1',
  BACKUP_S3_FORCE_PATH_STYLE: 'true',
  BACKUP_S3_PART_SIZE_MB: String(PART_MB),
  ...S3ENV,
  ...extra,
});

// The reference client: the SDK's own Upload / GetObject, ten lines each.
const CLIENT = `const { S3Client, GetObjectCommand } = await import('@aws-sdk/client-s3');
const { Upload } = await import('@aws-sdk/lib-storage');
const fs = await import('node:fs'); const { pipeline } = await import('node:stream/promises');
const c = new S3Client({ endpoint: ${JSON.stringify(ENDPOINT)}, region: 'us-east-1', forcePathStyle: true });
const [op, key, file] = process.argv.slice(2);
if (op === 'up') await new Upload({ client: c, params: { Bucket: 'bench', Key: key, Body: fs.createReadStream(file),
  ChecksumAlgorithm: 'SHA256' }, partSize: ${PART_MB} * 1048576, queueSize: 2 }).done();
else await pipeline((await c.send(new GetObjectCommand({ Bucket: 'bench', Key: key }))).Body, fs.createWriteStream(file));`;
const clientFile = path.join(ROOT, 'bench', '.data', 's3-client.mjs');
mkdirSync(path.dirname(clientFile), { recursive: true });
writeFileSync(clientFile, CLIENT);

const wks = (args) => timed(process.execPath, [WKS, ...args], { env: env(), cwd: ROOT });
const client = (...args) =>
  timed(process.execPath, [clientFile, ...args], { env: { ...process.env, ...S3ENV }, cwd: ROOT });
const fresh = () => {
  rmSync(WORK, { recursive: true, force: true });
  mkdirSync(WORK, { recursive: true });
};

try {
  // ---------------------------------------------------------------- create vs .backup + Upload
  const ref = path.join(WORK, 'ref.db');
  const c = await interleave(
    {
      wks: () => wks(['backup', 'create', '--compress', 'none', '--no-encrypt']).ms,
      ref: () =>
        timed('sqlite3', [DB, `.backup '${ref}'`], { cwd: ROOT }).ms +
        client('up', 'ref/ref.db', ref).ms +
        (rmSync(ref, { force: true }) ?? 0),
    },
    { before: fresh },
  );
  report('create --compress none to S3', c.wks, '.backup + SDK Upload', c.ref, 1.3);

  // ---------------------------------------------------------------- peak RSS of create
  const rss = median(
    Array.from({ length: RUNS }, () => {
      fresh();
      const r = spawnSync(
        '/usr/bin/time',
        ['-f', '%M', process.execPath, WKS, 'backup', 'create', '--compress', 'none', '--no-encrypt'],
        { env: env(), encoding: 'utf8', cwd: ROOT },
      );
      if (r.status !== 0) throw new Error(r.stderr);
      return Number(r.stderr.trim().split('\n').pop()) / 1024;
    }),
  );
  note('peak RSS of create to S3', `${rss.toFixed(1)} MB (node process; target <= 200 MB)`, rss <= 200);

  // ---------------------------------------------------------------- restore vs download
  fresh();
  const made = JSON.parse(wks(['backup', 'create', '--compress', 'none', '--no-encrypt', '--json']).stdout).backup;
  const to = path.join(WORK, 'restored.db');
  const dl = path.join(WORK, 'download.db');
  const r = await interleave(
    {
      wks: () => wks(['backup', 'restore', made.id, '--to', to, '--yes']).ms,
      ref: () => client('down', `wks/${made.file}`, dl).ms,
    },
    {
      before: () => {
        rmSync(to, { force: true });
        rmSync(dl, { force: true });
      },
    },
  );
  report('restore from S3 (verify + install)', r.wks, 'SDK GetObject download', r.ref, 1.5);
} finally {
  server.kill();
  rmSync(store, { recursive: true, force: true });
  rmSync(WORK, { recursive: true, force: true });
}
summary();
