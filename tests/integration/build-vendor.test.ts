/**
 * The start-up bundle (src/build/vendor.mjs): after `npm run build`, dist/ imports the
 * bundled packages only through dist/vendor/, the bundles are self-contained and export
 * every name dist/ takes from them, and a bundling failure fails the build under CI=true
 * (and only warns otherwise, leaving dist/ with working plain imports).
 * Reads the built dist/ (run `npm run build` first, as `npm test` does) and runs the real
 * bundler (rolldown) on a throw-away project for the failure path.
 */
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, copyFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { buildProject, runVendor } from '../helpers/tmp.js';
// @ts-expect-error: a plain .mjs build script without type declarations
import { VENDORED } from '../../src/build/vendored.mjs';

const root = path.resolve(__dirname, '../..');
const dist = path.join(root, 'dist');
const vendorDir = path.join(dist, 'vendor');
const packages = VENDORED as string[];

function jsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) out.push(...jsFiles(p));
    else if (p.endsWith('.js')) out.push(p);
  }
  return out;
}

const quoteRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
/** `from 'pkg'`, `import('pkg')`, `import 'pkg'`, subpaths (`pkg/sub`) included. */
const plainImport = (pkg: string) =>
  new RegExp(`(?:\\bfrom\\s*|\\bimport\\s*\\(\\s*|\\bimport\\s+)(['"])${quoteRe(pkg)}(?:/[^'"]*)?\\1`);

function builtDist(): { app: string[]; bundles: string[] } {
  if (!existsSync(path.join(dist, 'cli.js'))) throw new Error('dist/ is not built: run `npm run build` first');
  const all = jsFiles(dist);
  const inVendor = (f: string) => f.startsWith(vendorDir + path.sep);
  return { app: all.filter((f) => !inVendor(f)), bundles: all.filter(inVendor) };
}

describe('the start-up bundle in dist/', () => {
  it('no file outside dist/vendor/ imports a bundled package by its plain name', () => {
    const { app } = builtDist();
    expect(app.length).toBeGreaterThan(20);
    const offenders: string[] = [];
    const viaVendor = new Set<string>();
    for (const file of app) {
      const src = readFileSync(file, 'utf8');
      for (const pkg of packages) {
        if (plainImport(pkg).test(src)) offenders.push(`${path.relative(root, file)} imports '${pkg}'`);
        if (new RegExp(`(['"])[^'"]*vendor/${quoteRe(pkg)}\\.js\\1`).test(src)) viaVendor.add(pkg);
      }
    }
    expect(offenders).toEqual([]);
    // Not vacuous: every bundled package is really reached through its bundle.
    expect([...viaVendor].sort()).toEqual([...packages].sort());
  });

  it('each bundle loads on its own, outside the project, and exports every name dist/ imports from it', () => {
    const { app, bundles } = builtDist();
    expect(bundles.map((f) => path.basename(f)).sort()).toEqual(packages.map((p) => `${p}.js`).sort());
    const wanted = new Map<string, Set<string>>();
    for (const file of app) {
      const src = readFileSync(file, 'utf8');
      for (const m of src.matchAll(/import\s*\{([^}]*)\}\s*from\s*(['"])([^'"]*vendor\/([\w-]+)\.js)\2/g)) {
        const names = wanted.get(m[4]) ?? new Set<string>();
        for (const part of m[1].split(',')) {
          const name = part
            .trim()
            .split(/\s+as\s+/)[0]
            .trim();
          if (name) names.add(name);
        }
        wanted.set(m[4], names);
      }
    }
    expect(wanted.size).toBeGreaterThan(0);
    // A copy in a directory with no node_modules above it: any import the bundler left
    // pointing at a package (or at a file beside it) fails to load there.
    const alone = mkdtempSync(path.join(os.tmpdir(), 'wks-vendor-alone-'));
    try {
      for (const pkg of packages) {
        const copy = path.join(alone, `${pkg}.js`);
        copyFileSync(path.join(vendorDir, `${pkg}.js`), copy);
        const r = spawnSync(
          process.execPath,
          [
            '--input-type=module',
            '-e',
            `const m = await import(${JSON.stringify(pathToFileURL(copy).href)});
            process.stdout.write(JSON.stringify(Object.entries(m).filter(([, v]) => v !== undefined).map(([k]) => k)));`,
          ],
          { cwd: alone, encoding: 'utf8' },
        );
        expect(r.status, `${pkg}: ${r.stderr}`).toBe(0);
        const exported = new Set(JSON.parse(r.stdout) as string[]);
        expect(
          [...(wanted.get(pkg) ?? [])].filter((n) => !exported.has(n)),
          pkg,
        ).toEqual([]);
      }
    } finally {
      rmSync(alone, { recursive: true, force: true });
    }
  });
});

describe('src/build/vendor.mjs on a throw-away project', () => {
  /** A project with the real build script and node_modules, and one dist/ module. */
  function project(distModule: string): { dir: string; file: string } {
    const dir = buildProject({ 'a.js': distModule }, 'wks-vendor');
    return { dir, file: path.join(dir, 'dist/a.js') };
  }

  const broken = "import { notAnExportOfZod } from 'zod';\nexport const x = notAnExportOfZod;\n";

  it('under CI=true a bundling failure exits 1 and says why; dist/ keeps its plain imports', () => {
    const { dir, file } = project(broken);
    const r = runVendor(dir, true);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/vendor: bundling failed \(.*notAnExportOfZod.*\); CI=true makes this fail the build/);
    expect(readFileSync(file, 'utf8')).toBe(broken);
    expect(existsSync(path.join(dir, 'dist/vendor'))).toBe(false);
  });

  it('without CI the same failure only warns (exit 0) and leaves dist/ untouched', () => {
    const { dir, file } = project(broken);
    const r = runVendor(dir, false);
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/vendor: bundling skipped \(.*notAnExportOfZod.*\); dist\/ keeps plain package imports/);
    expect(readFileSync(file, 'utf8')).toBe(broken);
    expect(existsSync(path.join(dir, 'dist/vendor'))).toBe(false);
  });

  it('a good module is rewritten to its bundle, which works', async () => {
    const { dir, file } = project("import { z } from 'zod';\nexport const ok = z.string().parse('yes');\n");
    const r = runVendor(dir, true);
    expect(r.status, r.stderr).toBe(0);
    const out = readFileSync(file, 'utf8');
    expect(out).toContain("from './vendor/zod.js'");
    expect(out).not.toMatch(plainImport('zod'));
    const mod = (await import(pathToFileURL(file).href)) as { ok: string };
    expect(mod.ok).toBe('yes');
  });
});
