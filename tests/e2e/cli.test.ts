import { describe, it, expect } from 'vitest';
import { writeFileSync, readFileSync, existsSync, statSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { runWks } from '../helpers/cli.js';
import { tmpDir } from '../helpers/tmp.js';

const GROUPS = [
  'init',
  'config',
  'migrate',
  'db',
  'backup',
  'workflow',
  'lock',
  'session',
  'ratelimit',
  'health',
  'metrics',
  'serve',
  'alerts',
  'completion',
];

const root = path.resolve(__dirname, '../..');
const pkgVersion = (JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string }).version;

/** The names in the "Commands:" section of `wks --help`. */
function helpCommands(help: string): string[] {
  const section = help.split(/^Commands:\n/m)[1] ?? '';
  return [...section.split(/\n\s*\n/)[0].matchAll(/^ {2}([a-z][\w-]*)/gm)].map((m) => m[1]);
}

describe('wks CLI foundation', () => {
  it('--help lists every command group, and every group in src/commands/ is listed here', async () => {
    const r = await runWks(['--help']);
    expect(r.code).toBe(0);
    expect(helpCommands(r.stdout).sort()).toEqual([...GROUPS, 'help'].sort());
    const dirs = readdirSync(path.join(root, 'src/commands'), { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name);
    expect(dirs.sort()).toEqual([...GROUPS].sort());
  });

  it('--version prints the version in package.json, from the shim and from the CLI', async () => {
    expect(pkgVersion).toMatch(/^\d+\.\d+\.\d+/);
    // `--version` and `-V` alone are answered by bin/wks.js; with another flag they go through dist/cli.js.
    for (const args of [['--version'], ['-V'], ['--no-color', '--version']]) {
      const r = await runWks(args);
      expect(r.code, args.join(' ')).toBe(0);
      expect(r.stdout, args.join(' ')).toBe(`${pkgVersion}\n`);
    }
  });

  it('config validate exits 0 with no config file', async () => {
    const cwd = tmpDir('e2e');
    const r = await runWks(['config', 'validate'], { cwd });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/valid/);
  });

  it('a YAML syntax error is reported with its line, exit 78, no stack', async () => {
    const cwd = tmpDir('e2e');
    writeFileSync(path.join(cwd, 'phase4-config.yml'), 'phase4:\n  redis:\n    enabled: true\n   oops: [\n');
    const r = await runWks(['config', 'validate'], { cwd });
    expect(r.code).toBe(78);
    expect(r.stderr).toMatch(/phase4-config\.yml:4/);
    expect(r.stderr).not.toMatch(/\bat .*\.js:\d+/);
  });

  it('REDIS_PORT=abc is named in the error, exit 78', async () => {
    const r = await runWks(['config', 'validate'], { cwd: tmpDir('e2e'), env: { REDIS_PORT: 'abc' } });
    expect(r.code).toBe(78);
    expect(r.stderr).toMatch(/REDIS_PORT.*integer.*"abc"/);
    expect(r.stderr).toMatch(/^Try: /m);
  });

  it('config show --json never prints the PG password', async () => {
    const r = await runWks(['config', 'show', '--json'], {
      cwd: tmpDir('e2e'),
      env: { PG_PASSWORD: 'hunter2', JWT_SECRET: 'jwt-s3cret' },
    });
    expect(r.code).toBe(0);
    expect(r.stdout + r.stderr).not.toContain('hunter2');
    expect(r.stdout + r.stderr).not.toContain('jwt-s3cret');
    const doc = r.json();
    expect(doc.config.phase4.database.postgresql.password).toBe('****');
  });

  it('config show --sources says which layer set each value', async () => {
    const r = await runWks(['config', 'show', '--sources', '--json'], {
      cwd: tmpDir('e2e'),
      env: { REDIS_HOST: 'cache' },
    });
    expect(r.code).toBe(0);
    const row = r.json().values.find((v: any) => v.key === 'phase4.redis.connection.host');
    expect(row).toMatchObject({ value: 'cache', layer: 'env', origin: 'REDIS_HOST' });
  });

  it('an unknown command suggests the nearest one and exits 2', async () => {
    const r = await runWks(['bakup']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown command 'bakup'/);
    expect(r.stderr).toMatch(/did you mean backup/i);
  });

  it('an unknown flag suggests the nearest one and exits 2', async () => {
    const r = await runWks(['config', 'show', '--jsn']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--json/);
  });

  it('--json errors are one JSON document on stdout', async () => {
    const r = await runWks(['config', 'validate', '--json'], { cwd: tmpDir('e2e'), env: { REDIS_PORT: 'abc' } });
    expect(r.code).toBe(78);
    const doc = r.json();
    expect(doc).toMatchObject({ ok: false, error: { code: 'config_invalid', exitCode: 78 } });
    expect(doc.error.issues[0]).toMatchObject({ key: 'REDIS_PORT', source: 'env' });
  });

  it('-v shows the stack trace for an error; without it there is none', async () => {
    const cwd = tmpDir('e2e');
    const quiet = await runWks(['-c', 'missing.yml', 'config', 'show'], { cwd });
    expect(quiet.code).toBe(78);
    expect(quiet.stderr).not.toMatch(/ConfigError: /);
    const loud = await runWks(['-v', '-c', 'missing.yml', 'config', 'show'], { cwd });
    expect(loud.stderr).toMatch(/ConfigError: /);
  });

  it('init writes a valid commented config and refuses to overwrite it', async () => {
    const cwd = tmpDir('e2e');
    const first = await runWks(['init'], { cwd });
    expect(first.code).toBe(0);
    const file = path.join(cwd, 'phase4-config.yml');
    expect(readFileSync(file, 'utf8')).toMatch(/^# wks configuration/);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect((await runWks(['config', 'validate'], { cwd })).code).toBe(0);
    const second = await runWks(['init'], { cwd });
    expect(second.code).toBe(4);
    expect(second.stderr).toMatch(/--force/);
    const forced = await runWks(['init', '--force'], { cwd });
    expect(forced.code).toBe(0);
    expect(existsSync(`${file}.bak`)).toBe(true);
  });

  it('NO_COLOR and non-TTY output carry no ANSI escapes', async () => {
    const r = await runWks(['bakup'], { env: { NO_COLOR: '1', FORCE_COLOR: '1' } });
    expect(r.stderr).not.toMatch(/\u001b\[/);
  });
});
