/**
 * The app bundle (src/build/vendor.mjs, bundleApp): after `npm run build`, dist/cli.js re-exports
 * dist/bundle/cli.js; every `import.meta.url` in the bundle is rewritten to a file of dist/ that
 * exists (workers, templates, package.json and migrations are found beside their module as before);
 * a command starts from a handful of files; and a bundling failure puts dist/cli.js back, keeps the
 * vendor bundles, and fails the build only under CI=true.
 * Reads the built dist/ (run `npm run build` first) and runs the real bundler on a throw-away project.
 */
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { buildProject, runVendor } from '../helpers/tmp.js';

const root = path.resolve(__dirname, '../..');
const dist = path.join(root, 'dist');
const bundle = path.join(dist, 'bundle');

describe('the app bundle in dist/bundle/', () => {
  it('dist/cli.js is the bundled entry', () => {
    expect(readFileSync(path.join(dist, 'cli.js'), 'utf8')).toMatch(/export \* from '\.\/bundle\/cli\.js';/);
    expect(existsSync(path.join(bundle, 'cli.js'))).toBe(true);
  });

  it("every import.meta.url in it names its module's own file in dist/, which exists", () => {
    const seen: string[] = [];
    for (const f of readdirSync(bundle).filter((n) => n.endsWith('.js'))) {
      const src = readFileSync(path.join(bundle, f), 'utf8');
      const all = src.match(/import\.meta\.url/g)?.length ?? 0;
      const rewritten = [...src.matchAll(/new URL\("([^"]+)", import\.meta\.url\)\.href/g)].map((m) => m[1]!);
      expect(rewritten.length, f).toBe(all);
      for (const rel of rewritten) {
        const file = fileURLToPath(new URL(rel, pathToFileURL(path.join(bundle, f))));
        expect(existsSync(file), `${f}: ${rel}`).toBe(true);
        seen.push(path.relative(dist, file));
      }
    }
    // Not vacuous: the modules that find things beside themselves are among them.
    expect(seen).toEqual(expect.arrayContaining(['version.js', 'config/init.js', 'copy/reader.js']));
  });

  it('a command starts from a handful of files of dist/', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'wks-bundle-run-'));
    try {
      // NODE_DEBUG=esm is not there on Node 20; a loader hook lists what is loaded.
      const hook = path.join(dir, 'hook.mjs');
      writeFileSync(
        hook,
        `export async function load(url, ctx, next) { if (url.startsWith('file:')) process.stderr.write('LOAD ' + url + '\\n'); return next(url, ctx); }\n`,
      );
      const reg = path.join(dir, 'reg.mjs');
      writeFileSync(
        reg,
        `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hook).href)});\n`,
      );
      const r = spawnSync(
        process.execPath,
        ['--import', pathToFileURL(reg).href, path.join(root, 'bin/wks.js'), 'config', 'validate'],
        { cwd: dir, encoding: 'utf8', env: { PATH: process.env.PATH, HOME: dir, NODE_DISABLE_COMPILE_CACHE: '1' } },
      );
      expect(r.status, r.stderr).toBe(0);
      const loaded = r.stderr
        .split('\n')
        .filter((l) => l.startsWith('LOAD '))
        .map((l) => path.relative(root, fileURLToPath(l.slice(5))));
      const fromDist = loaded.filter((f) => f.startsWith('dist/'));
      expect(fromDist).toContain('dist/cli.js');
      expect(fromDist.filter((f) => !f.startsWith('dist/bundle/'))).toEqual(['dist/cli.js']);
      expect(fromDist.length).toBeLessThanOrEqual(12);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('bundling wks on a throw-away project', () => {
  /** A project with the real build script, node_modules, a dist/cli.js and one module it imports. */
  const project = (cli: string): string =>
    buildProject(
      {
        'cli.js': cli,
        'a.js':
          "import { z } from 'zod';\nexport const ok = z.string().parse('yes');\nexport const here = import.meta.url;\n",
      },
      'wks-bundle',
    );

  it('bundles the entry; the module keeps its own import.meta.url', async () => {
    const dir = project("export { ok, here } from './a.js';\n");
    const r = runVendor(dir, true);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/bundled dist\/cli\.js into dist\/bundle\//);
    const mod = (await import(pathToFileURL(path.join(dir, 'dist/cli.js')).href)) as { ok: string; here: string };
    expect(mod.ok).toBe('yes');
    expect(mod.here).toBe(pathToFileURL(path.join(dir, 'dist/a.js')).href);
  });

  for (const ci of [true, false]) {
    it(`a failure puts dist/cli.js back and keeps the vendor bundles (CI=${ci}: exit ${ci ? 1 : 0})`, async () => {
      const cli = "import { ok } from './a.js';\nimport { gone } from './missing.js';\nexport { ok, gone };\n";
      const dir = project(cli);
      const r = runVendor(dir, ci);
      expect(r.status).toBe(ci ? 1 : 0);
      expect(r.stderr).toMatch(ci ? /bundling dist\/cli\.js failed .*CI=true/ : /bundling dist\/cli\.js skipped/);
      expect(readFileSync(path.join(dir, 'dist/cli.js'), 'utf8')).toBe(cli);
      expect(existsSync(path.join(dir, 'dist/bundle'))).toBe(false);
      expect(readFileSync(path.join(dir, 'dist/a.js'), 'utf8')).toContain("from './vendor/zod.js'");
      const mod = (await import(pathToFileURL(path.join(dir, 'dist/a.js')).href)) as { ok: string };
      expect(mod.ok).toBe('yes');
    });
  }
});
