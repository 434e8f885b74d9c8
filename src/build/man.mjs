#!/usr/bin/env node
// Build step (runs after tsc and the vendor bundle): render wks(1) from the
// built command tree (dist/cli.js buildProgram) into man/wks.1, which the
// package ships (package.json "man" and "files"). The page comes from the same
// definitions as --help (src/commands/completion/manpage.ts), so the two stay in step.
// The date is SOURCE_DATE_EPOCH's when set (reproducible builds), else today.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const dist = path.join(root, 'dist');
const { buildProgram } = await import(pathToFileURL(path.join(dist, 'cli.js')).href);
const { renderManPage } = await import(pathToFileURL(path.join(dist, 'commands', 'completion', 'index.js')).href);
const { VERSION } = await import(pathToFileURL(path.join(dist, 'version.js')).href);

const epoch = Number(process.env.SOURCE_DATE_EPOCH);
const date = (Number.isFinite(epoch) && epoch > 0 ? new Date(epoch * 1000) : new Date()).toISOString().slice(0, 10);
const out = path.join(root, 'man', 'wks.1');
mkdirSync(path.dirname(out), { recursive: true });
writeFileSync(out, renderManPage(buildProgram(), VERSION, date));
console.log(`man: wrote ${path.relative(root, out)}`);
