/** Temporary directories that are removed after the test file. */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll } from 'vitest';
import { REPO } from './cli.js';

const made: string[] = [];
afterAll(() => {
  for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A fresh empty directory under the OS temp dir, removed after this test file. */
export function tmpDir(tag = 'wks'): string {
  const d = mkdtempSync(path.join(tmpdir(), `${tag}-`));
  made.push(d);
  return d;
}

/**
 * A throw-away project with the real build scripts (src/build/vendor.mjs, vendored.mjs), the
 * repository's node_modules and the given files under dist/; removed after this test file.
 */
export function buildProject(distFiles: Record<string, string>, tag = 'wks-build'): string {
  const dir = tmpDir(tag);
  mkdirSync(path.join(dir, 'src/build'), { recursive: true });
  mkdirSync(path.join(dir, 'dist'));
  for (const f of ['vendor.mjs', 'vendored.mjs'])
    copyFileSync(path.join(REPO, 'src/build', f), path.join(dir, 'src/build', f));
  symlinkSync(path.join(REPO, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
  for (const [name, text] of Object.entries(distFiles)) writeFileSync(path.join(dir, 'dist', name), text);
  return dir;
}

/** Run a buildProject's src/build/vendor.mjs, with CI=true or with CI unset. */
export function runVendor(dir: string, ci: boolean): SpawnSyncReturns<string> {
  const env = { ...process.env };
  delete env.CI;
  if (ci) env.CI = 'true';
  return spawnSync(process.execPath, [path.join(dir, 'src/build/vendor.mjs')], { env, encoding: 'utf8' });
}
