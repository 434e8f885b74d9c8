#!/usr/bin/env node
// Shebang shim. `--version` is answered here without loading the CLI so that
// cron and health probes that ask for it pay only for Node's own start-up.
import { readFileSync, existsSync } from 'node:fs';

const argv = process.argv.slice(2);
if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-V')) {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
  process.stdout.write(`${pkg.version}\n`);
} else {
  // Node >= 22.1 keeps V8's compiled code for dist/ between runs, in a per-user directory
  // (~10 ms, 8%, off `wks health` on Node 24, task-clock). NODE_DISABLE_COMPILE_CACHE=1 turns
  // it off; a directory that cannot be written (read-only home) is simply not used.
  const { enableCompileCache } = await import('node:module');
  if (typeof enableCompileCache === 'function') {
    const { homedir } = await import('node:os');
    const base = process.env.XDG_CACHE_HOME || `${homedir()}/.cache`;
    try {
      enableCompileCache(`${base}/wks/node-compile-cache`);
    } catch {
      /* start-up is only slower */
    }
  }
  const cli = new URL('../dist/cli.js', import.meta.url);
  if (!existsSync(cli)) {
    process.stderr.write('Error: wks is not built (dist/cli.js is missing).\nTry: npm install   (or: npm run build)\n');
    process.exitCode = 1;
  } else {
    const { main } = await import(cli.href);
    await main(process.argv);
  }
}
