#!/usr/bin/env node
// Build step (runs after tsc): bundle the pure-JS packages that every command
// loads at start-up (commander, chalk, yaml, zod, croner), and ioredis, which every
// Redis command loads (~40 CommonJS files), into one file each
// under dist/vendor/, keeping only the names dist/ imports from them, and point
// dist/'s imports at those files. Then bundle wks itself, dist/cli.js and all it
// imports, into dist/bundle/ (see bundleApp).
//
// Why: Node resolves, reads and compiles each module file separately, and zod
// alone is ~95 files. Measured on this project: `wks config validate` drops from
// 4.5x to ~3x `node -e 0`; zod's import from ~27 ms to ~10 ms; `wks lock list`
// on an empty namespace from ~330 to ~240 ms of CPU (median of 9, user+sys).
//
// Safe by construction: if bundling fails for any reason, dist/ is left with
// its ordinary package imports (slower, identical behaviour) and a warning.
// Under CI=true the failure fails the build instead (exit 1), so a broken
// bundle cannot slip through CI as a slower start-up nobody notices.
// Tests that import src/ use the packages directly; e2e tests run this output;
// tests/integration/build-vendor.test.ts checks dist/ and the failure path.
import {
  existsSync,
  readdirSync,
  readFileSync,
  writeFileSync,
  mkdirSync,
  rmSync,
  statSync,
  mkdtempSync,
} from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stripVTControlCharacters } from 'node:util';
import { VENDORED } from './vendored.mjs';

const root = fileURLToPath(new URL('../../', import.meta.url));
const dist = path.join(root, 'dist');
const vendorDir = path.join(dist, 'vendor');
const bundleDir = path.join(dist, 'bundle');

function jsFiles(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) {
      if (p !== vendorDir && p !== bundleDir) out.push(...jsFiles(p));
    } else if (p.endsWith('.js')) out.push(p);
  }
  return out;
}

const quoteRe = (pkg) => pkg.replace(/[.*+?^${}()|[\]\\/@-]/g, '\\$&');
const staticImport = (pkg) => new RegExp(`import\\s*\\{([^}]*)\\}\\s*from\\s*(['"])${quoteRe(pkg)}\\2`, 'g');
const anyImport = (pkg) => new RegExp(`(\\bfrom\\s*|\\bimport\\s*\\(\\s*|\\bimport\\s+)(['"])${quoteRe(pkg)}\\2`, 'g');

async function main() {
  const files = jsFiles(dist);
  const sources = new Map(files.map((f) => [f, readFileSync(f, 'utf8')]));

  // Which names does dist/ use from each package? `null` = everything (namespace/default/dynamic import).
  const used = new Map();
  for (const pkg of VENDORED) {
    let names = new Set();
    for (const src of sources.values()) {
      const all = [...src.matchAll(anyImport(pkg))].length;
      const named = [...src.matchAll(staticImport(pkg))];
      if (all > named.length) names = null;
      if (names)
        for (const m of named)
          for (const part of m[1].split(',')) {
            const name = part
              .trim()
              .split(/\s+as\s+/)[0]
              .trim();
            if (name) names.add(name);
          }
    }
    if (names === null || names.size > 0) used.set(pkg, names);
  }

  const { build } = await import('rolldown');
  rmSync(vendorDir, { recursive: true, force: true });
  mkdirSync(vendorDir, { recursive: true });
  // Entries live inside the project so that the packages resolve from its node_modules.
  const tmp = mkdtempSync(path.join(dist, '.vendor-'));
  try {
    for (const [pkg, names] of used) {
      // Every export that is a plain name: Node >= 23 also lists a CommonJS module's `module.exports`.
      const list = names
        ? [...names]
        : Object.keys(await import(pkg)).filter((n) => n !== 'default' && /^[A-Za-z_$][\w$]*$/.test(n));
      const entry = path.join(tmp, `${pkg}.mjs`);
      writeFileSync(entry, `export { ${list.join(', ')} } from '${pkg}';\n`);
      await build({
        input: entry,
        cwd: root,
        platform: 'node',
        logLevel: 'silent',
        output: { file: path.join(vendorDir, `${pkg}.js`), format: 'esm' },
      });
      const bundled = readFileSync(path.join(vendorDir, `${pkg}.js`), 'utf8');
      if (new RegExp(`^\\s*(import|export)\\b[^;]*?from\\s*['"]${quoteRe(pkg)}['"]`, 'm').test(bundled)) {
        throw new Error(`${pkg} was not inlined (could not resolve it from ${root})`);
      }
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }

  // Rewrite the specifiers only after every bundle was written.
  for (const [file, src] of sources) {
    let out = src;
    for (const pkg of used.keys()) {
      let rel = path
        .relative(path.dirname(file), path.join(vendorDir, `${pkg}.js`))
        .split(path.sep)
        .join('/');
      if (!rel.startsWith('.')) rel = `./${rel}`;
      out = out.replace(anyImport(pkg), (_m, lead, q) => `${lead}${q}${rel}${q}`);
    }
    if (out !== src) writeFileSync(file, out);
  }
  const summary = [...used].map(([p, n]) => `${p}(${n ? n.size : 'all'})`).join(' ');
  console.log(`vendor: bundled ${summary} into dist/vendor/`);
  await bundleApp(build).catch(failApp);
}

/**
 * Second phase: wks itself. dist/cli.js and everything it imports (the vendor
 * bundles included) are bundled into dist/bundle/, one chunk per lazily
 * imported part (each command's verb, pg, the S3 repository...), so start-up
 * reads a handful of files instead of ~60; other packages (better-sqlite3,
 * pg, pino, the AWS SDK...) stay imports. dist/cli.js becomes a one-line
 * re-export of the bundled entry; a new `tsc` run overwrites it, so a stale
 * bundle is never run. The rest of dist/ stays as tsc wrote it: worker
 * threads start from those files.
 *
 * A module's `import.meta.url` is rewritten to the URL of its own file in
 * dist/ (from the chunk's), so that everything found beside a module
 * (workers, templates, package.json, migrations) is found as before.
 */
async function bundleApp(build) {
  const entry = path.join(dist, 'cli.js');
  rmSync(bundleDir, { recursive: true, force: true });
  if (!existsSync(entry)) return; // not wks's dist/ (the build test's throw-away projects)
  const original = readFileSync(entry, 'utf8');
  try {
    await build({
      input: { cli: entry },
      cwd: root,
      platform: 'node',
      logLevel: 'silent',
      // Bare specifiers are packages (and node: builtins): left to Node. Relative ones are bundled.
      external: (id) => !id.startsWith('.') && !path.isAbsolute(id),
      plugins: [
        {
          name: 'wks-own-import-meta-url',
          transform(code, id) {
            if (!code.includes('import.meta.url')) return null;
            const rel = path.relative(bundleDir, id).split(path.sep).join('/');
            return {
              code: code.replaceAll('import.meta.url', `new URL(${JSON.stringify(rel)}, import.meta.url).href`),
            };
          },
        },
      ],
      output: {
        dir: bundleDir,
        format: 'esm',
        entryFileNames: '[name].js',
        chunkFileNames: '[name]-[hash].js',
        // Everything every command loads (the entry's static imports) in one chunk; what most
        // commands load next (the configuration with zod, yaml and croner, src/util; the database
        // adapters) in one chunk each, instead of a dozen small shared ones.
        codeSplitting: {
          groups: [
            { name: 'start', tags: ['$initial'], priority: 3 },
            { name: 'config', test: /[\\/]dist[\\/](config|util|vendor[\\/](zod|yaml|croner)\.js)/, priority: 2 },
            { name: 'db', test: /[\\/]dist[\\/]db[\\/]/, priority: 1 },
          ],
        },
        // JSDoc and annotations are dead weight at run time; licence comments stay.
        comments: { legal: true, annotation: false, jsdoc: false },
      },
    });
    writeFileSync(
      entry,
      "// The bundled CLI (src/build/vendor.mjs); `tsc` alone writes the unbundled module here.\nexport * from './bundle/cli.js';\n",
    );
    console.log(`vendor: bundled dist/cli.js into dist/bundle/ (${readdirSync(bundleDir).length} files)`);
  } catch (err) {
    rmSync(bundleDir, { recursive: true, force: true });
    writeFileSync(entry, original);
    throw err;
  }
}

function firstLines(err) {
  return stripVTControlCharacters(String(err?.message ?? err))
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .slice(0, 2)
    .join(' ');
}

function fail(err) {
  rmSync(vendorDir, { recursive: true, force: true });
  const detail = firstLines(err);
  if (process.env.CI === 'true') {
    console.error(`vendor: bundling failed (${detail}); CI=true makes this fail the build`);
    process.exitCode = 1;
  } else {
    console.warn(`vendor: bundling skipped (${detail}); dist/ keeps plain package imports`);
  }
}

/** The app bundle failed (bundleApp put dist/cli.js back): dist/ runs unbundled, with its vendor bundles. */
function failApp(err) {
  const detail = firstLines(err);
  if (process.env.CI === 'true') {
    console.error(`vendor: bundling dist/cli.js failed (${detail}); CI=true makes this fail the build`);
    process.exitCode = 1;
  } else {
    console.warn(`vendor: bundling dist/cli.js skipped (${detail}); dist/ runs unbundled`);
  }
}

main().catch(fail);
