/** Temporary directories that are removed after the test file. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll } from 'vitest';

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
