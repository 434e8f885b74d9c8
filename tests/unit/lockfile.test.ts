/** The offline dependency review (scripts/check-lockfile.mjs): the repository passes; tampered lockfiles fail. */
import { describe, it, expect } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { REPO } from '../helpers/cli.js';
import { tmpDir } from '../helpers/tmp.js';
// @ts-expect-error: a plain .mjs script without type declarations
import { checkLockfile } from '../../scripts/check-lockfile.mjs';

function tampered(edit: (lock: any, pkg: any) => void): string {
  const d = tmpDir('lockfile');
  const lock = JSON.parse(readFileSync(path.join(REPO, 'package-lock.json'), 'utf8'));
  const pkg = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8'));
  edit(lock, pkg);
  writeFileSync(path.join(d, 'package-lock.json'), JSON.stringify(lock));
  writeFileSync(path.join(d, 'package.json'), JSON.stringify(pkg));
  return d;
}

describe('scripts/check-lockfile.mjs', () => {
  it('passes on the repository (exit 0, as .ci/run runs it)', () => {
    const r = spawnSync(process.execPath, [path.join(REPO, 'scripts/check-lockfile.mjs')], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(checkLockfile(REPO)).toEqual([]);
  });

  it('fails on a git URL, another registry, a missing integrity, a link and an unpinned dependency', () => {
    const d = tampered((lock, pkg) => {
      lock.packages['node_modules/pg'].resolved = 'git+ssh://git@evil.example/pg.git#abc';
      lock.packages['node_modules/yaml'].resolved = 'http://registry.evil.example/yaml/-/yaml-2.9.1.tgz';
      delete lock.packages['node_modules/zod'].integrity;
      lock.packages['node_modules/croner'] = { resolved: '../croner', link: true };
      pkg.dependencies.chalk = '^5.6.2';
    });
    const problems: string[] = checkLockfile(d);
    expect(problems.join('\n')).toMatch(/node_modules\/pg: resolved from git\+ssh/);
    expect(problems.join('\n')).toMatch(/node_modules\/yaml: resolved from http:\/\/registry\.evil/);
    expect(problems.join('\n')).toMatch(/node_modules\/zod: no sha512 integrity/);
    expect(problems.join('\n')).toMatch(/node_modules\/croner: a link/);
    expect(problems.join('\n')).toMatch(/chalk@\^5\.6\.2 is not pinned/);
    const r = spawnSync(process.execPath, [path.join(REPO, 'scripts/check-lockfile.mjs'), d], { encoding: 'utf8' });
    expect(r.status).toBe(1);
  });
});
