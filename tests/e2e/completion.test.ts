/**
 * `wks completion bash|zsh|fish` as a user installs it: the bash script,
 * sourced in a real bash, registers `complete -F` for wks and completes
 * `wks backup re` to `restore`, flags, flag choices and backup ids (through
 * `wks` on PATH, reading the catalog). zsh and fish scripts pass their
 * shell's syntax check when the shell is installed (skipped loudly otherwise).
 */
import { describe, it, expect, beforeAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { runWks, WKS_BIN } from '../helpers/cli.js';
import { tmpDir } from '../helpers/tmp.js';

let dir: string;
let env: Record<string, string>;
let script: string;
let backupId: string;

beforeAll(async () => {
  dir = tmpDir('wks-completion');
  // `wks` on PATH, as an installed package provides it.
  const bin = path.join(dir, 'bin');
  mkdirSync(bin);
  writeFileSync(path.join(bin, 'wks'), `#!/bin/sh\nexec "${process.execPath}" "${WKS_BIN}" "$@"\n`);
  chmodSync(path.join(bin, 'wks'), 0o755);
  env = {
    PATH: `${bin}:${process.env.PATH}`,
    DATABASE_PATH: path.join(dir, 'w.db'),
    BACKUP_STORAGE_PATH: path.join(dir, 'backups'),
  };
  expect((await runWks(['migrate', 'up', '--no-backup'], { env, cwd: dir })).code).toBe(0);
  const created = await runWks(['backup', 'create', '--json'], { env, cwd: dir });
  backupId = created.json().backup.id;
  const r = await runWks(['completion', 'bash'], { env, cwd: dir });
  expect(r.code, r.stderr).toBe(0);
  script = path.join(dir, 'wks.bash');
  writeFileSync(script, r.stdout);
}, 60_000);

/** COMPREPLY for the words typed so far (the last word is the one being completed). */
function complete(words: string[]): string[] {
  const quoted = words.map((w) => `'${w}'`).join(' ');
  const r = spawnSync(
    'bash',
    [
      '--norc',
      '-c',
      `source '${script}' && COMP_WORDS=(${quoted}) && COMP_CWORD=${words.length - 1} && _wks_completion && printf '%s\\n' "\${COMPREPLY[@]}"`,
    ],
    { cwd: dir, env: { ...env, HOME: dir }, encoding: 'utf8' },
  );
  expect(r.status, r.stderr).toBe(0);
  return r.stdout.split('\n').filter(Boolean);
}

describe('wks completion bash', () => {
  it('registers a completion function for wks (complete -p)', () => {
    const r = spawnSync('bash', ['--norc', '-c', `source '${script}' && complete -p wks`], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('complete -o default -F _wks_completion wks');
  });

  it('completes `wks backup re` to restore, and subcommands at every level', () => {
    expect(complete(['wks', 'backup', 're'])).toEqual(['restore']);
    expect(complete(['wks', 'ba'])).toEqual(['backup']);
    expect(complete(['wks', 'backup', ''])).toEqual([
      'create',
      'list',
      'verify',
      'restore',
      'drill',
      'upload',
      'rotate',
    ]);
    // Global flags and their values are skipped when finding the command.
    expect(complete(['wks', '-c', 'x.yml', '--json', 'backup', 'ver'])).toEqual(['verify']);
  });

  it('completes flags, global flags and flag choices', () => {
    expect(complete(['wks', 'backup', 'drill', '--rto'])).toEqual(['--rto-target']);
    expect(complete(['wks', 'backup', 'drill', '--js'])).toEqual(['--json']);
    expect(complete(['wks', 'backup', 'create', '--compress', ''])).toEqual(['none', 'gzip', 'zstd']);
    expect(complete(['wks', 'completion', ''])).toEqual([]);
  });

  it('completes backup ids from the catalog for verify, restore and drill', () => {
    expect(complete(['wks', 'backup', 'drill', ''])).toEqual([backupId]);
    expect(complete(['wks', 'backup', 'restore', '--to', 'x.db', backupId.slice(0, 4)])).toEqual([backupId]);
    expect(complete(['wks', 'backup', 'list', ''])).toEqual([]);
  });
});

describe('wks completion zsh|fish', () => {
  for (const shell of ['zsh', 'fish'] as const) {
    it(`${shell}: prints a script that its shell accepts`, async (ctx) => {
      const r = await runWks(['completion', shell], { env, cwd: dir });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(shell === 'zsh' ? /compdef _wks wks/ : /complete -c wks/);
      expect(r.stdout).toMatch(/restore/);
      const file = path.join(dir, `wks.${shell}`);
      writeFileSync(file, r.stdout);
      const has = spawnSync('sh', ['-c', `command -v ${shell}`]).status === 0;
      if (!has) {
        console.warn(`!!! SKIPPING the ${shell} syntax check: ${shell} is not installed`);
        return ctx.skip();
      }
      const check = spawnSync(shell, ['-n', file], { encoding: 'utf8' });
      expect(check.status, check.stderr).toBe(0);
    });
  }

  it('rejects an unknown shell with a usage error', async () => {
    const r = await runWks(['completion', 'tcsh'], { env, cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/bash, zsh, fish/);
  });
});
