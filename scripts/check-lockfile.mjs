#!/usr/bin/env node
/**
 * Offline dependency review of package-lock.json (no network; run by .ci/run
 * before `npm ci`). Fails (exit 1, one line per problem) when:
 *  - a locked package has no sha512 integrity hash (npm ci could not detect a
 *    tampered tarball);
 *  - a package is resolved from anywhere but https://registry.npmjs.org/
 *    (a git URL, a plain-http or other-host tarball, a local path or link);
 *  - a runtime dependency in package.json is not pinned to an exact version,
 *    or the lockfile does not lock the version package.json asks for.
 * It does not know about published vulnerabilities: that needs `npm audit`
 * (network access to the registry). Usage: node scripts/check-lockfile.mjs [dir]
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';

const REGISTRY = 'https://registry.npmjs.org/';

/** The problems found in `dir`'s package.json and package-lock.json (empty when clean). */
export function checkLockfile(dir) {
  const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8'));
  const lock = JSON.parse(readFileSync(path.join(dir, 'package-lock.json'), 'utf8'));
  const problems = [];
  if (!(lock.lockfileVersion >= 2)) problems.push(`lockfileVersion ${lock.lockfileVersion} is too old (need 2 or 3)`);
  for (const [key, p] of Object.entries(lock.packages ?? {})) {
    if (key === '') continue;
    if (p.link) {
      problems.push(`${key}: a link to ${p.resolved} (a local path, not a registry package)`);
      continue;
    }
    if (p.resolved && !p.resolved.startsWith(REGISTRY))
      problems.push(`${key}: resolved from ${p.resolved}, not ${REGISTRY}`);
    if (!/^sha512-[A-Za-z0-9+/]{86}==$/.test(p.integrity ?? ''))
      problems.push(`${key}: no sha512 integrity hash (${p.integrity ?? 'none'})`);
  }
  for (const [name, spec] of Object.entries(pkg.dependencies ?? {})) {
    if (!/^\d+\.\d+\.\d+(-[\w.]+)?$/.test(spec))
      problems.push(`package.json dependency ${name}@${spec} is not pinned to an exact version`);
    const locked = lock.packages?.[`node_modules/${name}`]?.version;
    if (locked !== spec && /^\d/.test(spec))
      problems.push(`${name}: package.json wants ${spec}, the lockfile has ${locked ?? 'nothing'} (run npm install)`);
  }
  return problems;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const dir = path.resolve(process.argv[2] ?? path.join(path.dirname(new URL(import.meta.url).pathname), '..'));
  const problems = checkLockfile(dir);
  for (const p of problems) console.error(`lockfile: ${p}`);
  if (problems.length) process.exit(1);
  console.log(
    `lockfile: ${Object.keys(JSON.parse(readFileSync(path.join(dir, 'package-lock.json'), 'utf8')).packages).length - 1} packages pinned with sha512 from ${REGISTRY}`,
  );
}
