/**
 * The man page, wks(1), rendered from the command tree: the same names,
 * arguments, options, descriptions and examples that --help shows, so the two
 * cannot drift. `npm run build` writes it to man/wks.1 (src/build/man.mjs),
 * and the package ships it (package.json "man" and "files").
 */
import type { Command } from 'commander';
import { commandPath, examplesOf, visibleOptions, walkCommands } from './help.js';

/** Escape text for roff: backslashes, leading dots/quotes, and hyphens in option names. */
function esc(text: string): string {
  return text
    .replace(/\\/g, '\\e')
    .replace(/-/g, '\\-')
    .replace(/^([.'])/gm, '\\&$1');
}

function usage(c: Command): string {
  const args = c.registeredArguments.map((a) => (a.required ? `<${a.name()}>` : `[${a.name()}]`)).join(' ');
  const path = commandPath(c);
  return `wks${path ? ` ${path}` : ''}${c.options.length ? ' [options]' : ''}${c.commands.length ? ' <command>' : ''}${args ? ` ${args}` : ''}`;
}

function section(c: Command): string[] {
  const out: string[] = [];
  const path = commandPath(c);
  out.push(path ? `.SS ${esc(`wks ${path}`)}` : '.SH OPTIONS');
  if (path) {
    out.push(`.B ${esc(usage(c))}`, '.br', esc(c.description()));
  }
  for (const a of c.registeredArguments) {
    out.push('.TP', `.I ${esc(a.name())}`, esc(a.description || ''));
  }
  for (const o of visibleOptions(c)) {
    if (o.long === '--help') continue;
    const choices = o.argChoices?.length ? ` (one of: ${o.argChoices.join(', ')})` : '';
    const dflt =
      o.defaultValue !== undefined && o.defaultValue !== false ? ` (default: ${String(o.defaultValue)})` : '';
    out.push('.TP', `.B ${esc(o.flags)}`, esc(`${o.description}${choices}${dflt}`));
  }
  const ex = examplesOf(c);
  if (ex.length) {
    out.push('.PP', 'Examples:', '.RS', '.nf');
    for (const e of ex) out.push(esc(e));
    out.push('.fi', '.RE');
  }
  return out;
}

/** The complete wks(1) page in roff (man macros). `date` is the page date (YYYY-MM-DD). */
export function renderManPage(root: Command, version: string, date: string): string {
  const all = walkCommands(root);
  const lines: string[] = [
    '.\\" Generated from the wks command tree by `npm run build` (src/commands/completion/manpage.ts). Do not edit.',
    `.TH WKS 1 "${date}" "wks ${esc(version)}" "User Commands"`,
    '.SH NAME',
    `wks \\- ${esc(root.description())}`,
    '.SH SYNOPSIS',
    '.B wks',
    '[global options] <command> [options] [arguments]',
    '.SH DESCRIPTION',
    esc(
      'wks is the operator toolkit for the workflow-orchestration platform: backups and restore drills, migrations, workflow state, execution locks, sessions, rate limits, health checks, metrics and the wks serve daemon. Every command takes the global options below; each command is described under COMMANDS. Shell completion: wks completion bash|zsh|fish.',
    ),
    ...section(root),
    '.SH COMMANDS',
  ];
  for (const c of all) if (c !== root) lines.push(...section(c));
  lines.push(
    '.SH EXIT STATUS',
    esc(
      '0 ok, 1 failed (health: degraded), 2 usage error (health: critical), 3 verification failed (a backup, a migration checksum, a restore drill), 4 conflict, 5 not found, 78 configuration invalid.',
    ),
    '.SH ENVIRONMENT',
    esc(
      'WKS_CONFIG (the config file), and the platform variables (DATABASE_PATH, PG_*, REDIS_*, BACKUP_*, METRICS_*, ...): see docs/configuration.md. NO_COLOR disables colour.',
    ),
    '.SH SEE ALSO',
    esc(
      'The documents in docs/ of the wks package: configuration, backup and recovery, health, serve, metrics, exit codes.',
    ),
    '',
  );
  return lines.join('\n');
}
