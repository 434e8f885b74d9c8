#!/usr/bin/env node
// Every bench in one go, one after the other (never in parallel: they would
// measure each other), then one table of every result line.
//
//   npm run build && node bench/all.mjs              # or: npm run bench
//   BENCH_SIZE_MB=2 node bench/all.mjs               # smoke run at a tiny scale
//   BENCH_ONLY_FILES=backup,health node bench/all.mjs
//
// A bench whose reference tool is missing (dbmate, pgloader, wrk) says so and
// is listed as skipped; a bench that fails is listed as failed, and the run
// exits 1 at the end. Figures are only meaningful on a quiet machine: every
// result line carries the load average it was taken under.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { have, load } from './lib.mjs';

const ALL = ['startup', 'health', 'locks', 'backup', 'backup-s3', 'backup-pg', 'copy', 'migrate', 'serve'];
const only = process.env.BENCH_ONLY_FILES?.split(',');
const files = only ? ALL.filter((f) => only.includes(f)) : ALL;

// The reference tool each bench cannot do without.
const NEEDS = {
  'backup-pg': 'pg_dump',
  copy: 'pgloader',
  migrate: 'dbmate',
  serve: 'wrk',
  backup: 'sqlite3',
  'backup-s3': 'sqlite3',
};

const results = [];
const status = [];
for (const f of files) {
  if (NEEDS[f] && !have(NEEDS[f])) {
    status.push(`${f.padEnd(10)} skipped: ${NEEDS[f]} is not installed`);
    continue;
  }
  console.log(`\n=================== bench/${f}.mjs  (${load()})`);
  const t0 = Date.now();
  const child = spawn(process.execPath, [fileURLToPath(new URL(`./${f}.mjs`, import.meta.url))], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (d) => {
    process.stdout.write(d);
    out += d;
  });
  const code = await new Promise((r) => child.on('close', r));
  const lines = out.split('\n');
  const tagged = lines.filter((l) => l.startsWith('RESULT ')).map((l) => l.slice(7));
  // Benches that do not use lib.mjs's summary: their verdict lines.
  const mine = tagged.length
    ? tagged
    : lines.filter((l) => /\b(MET|NOT MET|MISSED|ok)\s*$/.test(l) && /ratio|x \(/.test(l));
  for (const l of mine) results.push(`${f.padEnd(10)} ${l}`);
  status.push(
    `${f.padEnd(10)} ${code === 0 ? 'ok' : `FAILED (exit ${code})`} in ${((Date.now() - t0) / 1000).toFixed(0)} s`,
  );
}
console.log('\n=================== every result');
for (const r of results) console.log(r);
console.log('\n=================== benches');
for (const s of status) console.log(s);
if (status.some((s) => s.includes('FAILED'))) process.exitCode = 1;
