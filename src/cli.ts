/**
 * The wks command tree and the single top-level error handler.
 *
 * Group modules (src/commands/<area>/index.ts) only declare commands and
 * options; each verb's implementation is imported lazily when it runs.
 * Nothing but this file decides the process exit code.
 */
import { Command, CommanderError, Option } from 'commander';
import { currentContext } from './commands/context.js';
import { Reporter } from './ui/index.js';
import { ConfigError, ExitCode, isWksError } from './errors.js';
import { redactText } from './redact.js';
import { runInterruptCleanup, signalExitCode } from './util/interrupt.js';
import { VERSION } from './version.js';
import { register as registerInit } from './commands/init/index.js';
import { register as registerConfig } from './commands/config/index.js';
import { register as registerMigrate } from './commands/migrate/index.js';
import { register as registerDb } from './commands/db/index.js';
import { register as registerBackup } from './commands/backup/index.js';
import { register as registerWorkflow } from './commands/workflow/index.js';
import { register as registerLock } from './commands/lock/index.js';
import { register as registerSession } from './commands/session/index.js';
import { register as registerRatelimit } from './commands/ratelimit/index.js';
import { register as registerHealth } from './commands/health/index.js';
import { register as registerMetrics } from './commands/metrics/index.js';
import { register as registerServe } from './commands/serve/index.js';
import { register as registerAlerts } from './commands/alerts/index.js';
import { register as registerCompletion, attachExamples } from './commands/completion/index.js';

const increase = (_v: string, prev: number): number => prev + 1;

/** The top-level commands, each with the function that registers it (and its verbs); order is --help's. */
const GROUPS: ReadonlyArray<readonly [string, (program: Command) => void]> = [
  ['init', registerInit],
  ['config', registerConfig],
  ['migrate', registerMigrate],
  ['db', registerDb],
  ['backup', registerBackup],
  ['workflow', registerWorkflow],
  ['lock', registerLock],
  ['session', registerSession],
  ['ratelimit', registerRatelimit],
  ['health', registerHealth],
  ['metrics', registerMetrics],
  ['serve', registerServe],
  ['alerts', registerAlerts],
  ['completion', registerCompletion],
];

/**
 * The top-level command `argv` runs when it is named first (`wks lock list ...`): only its group is
 * then built, not the whole tree. Anything else (options first, `help`, an unknown or misspelt
 * name, `completion`, which reads the whole tree) gets the whole tree.
 */
export function groupOf(argv: string[]): string | undefined {
  const first = argv[2];
  return first !== 'completion' && GROUPS.some(([name]) => name === first) ? first : undefined;
}

/** Build the commander program (exported for tests): every command, or only the group `only`. */
export function buildProgram(only?: string): Command {
  const program = new Command('wks');
  program
    .description(
      'Operator toolkit for the workflow platform: backups, migrations, workflow state, locks, health, metrics.',
    )
    .version(VERSION, '-V, --version', 'print the wks version')
    .option('-c, --config <path>', 'config file (default: $WKS_CONFIG, else ./phase4-config.yml if present)')
    .option('--json', 'write exactly one JSON document to stdout')
    .option('--no-color', 'disable colour (NO_COLOR is honoured too)')
    .option('-q, --quiet', 'print nothing on success (no result, no notes); errors and warnings on stderr')
    .addOption(new Option('-v, --verbose', 'more detail; stack traces on errors').argParser(increase).default(0))
    .option('-y, --yes', 'answer yes to confirmations (required for destructive commands without a TTY)')
    .showSuggestionAfterError(true)
    .showHelpAfterError(false)
    .exitOverride()
    .configureOutput({
      // Commander's own error text is re-emitted by handleError in wks's format.
      outputError: () => undefined,
    })
    .addHelpText(
      'after',
      '\nExit codes: 0 ok, 1 failed/degraded, 2 usage/critical, 3 verification failed, 4 conflict, 5 not found, 78 config invalid.\nDocs: docs/ (runbooks, configuration, exit codes, JSON output).',
    );

  for (const [name, register] of GROUPS) if (only === undefined || name === only) register(program);
  // Last, so that the examples end every command's --help (the man page reads the same tree).
  attachExamples(program);
  return program;
}

function globalsFromArgv(argv: string[]): { json: boolean; verbose: number; color: boolean } {
  const args = argv.slice(2);
  return {
    json: args.includes('--json'),
    verbose:
      args.filter((a) => a === '-v' || a === '--verbose').length + (args.some((a) => /^-v{2,}$/.test(a)) ? 2 : 0),
    color: !args.includes('--no-color'),
  };
}

/** Turn any thrown value into the documented output and exit code. Never rethrows. */
export function handleError(err: unknown, argv: string[]): number {
  const g = globalsFromArgv(argv);
  const out = currentContext()?.out ?? new Reporter({ json: g.json, verbose: g.verbose, color: g.color });
  const c = out.c;

  if (err instanceof CommanderError) {
    if (['commander.helpDisplayed', 'commander.version'].includes(err.code)) return ExitCode.OK;
    if (err.code === 'commander.help' || err.code === 'commander.executeSubCommandAsync') return ExitCode.USAGE;
    const lines = err.message
      .replace(/^error:\s*/i, '')
      .split('\n')
      .filter(Boolean);
    const suggestion = lines.find((l) => /did you mean/i.test(l));
    const message = lines.filter((l) => l !== suggestion).join(' ');
    const hint = suggestion
      ? suggestion.replace(/^\(|\)$/g, '').replace(/^Did/, 'did')
      : 'run `wks --help` (or `wks <command> --help`)';
    out.jsonError({ ok: false, error: { code: 'usage', exitCode: ExitCode.USAGE, message, hint } });
    out.stderr(`${c.red('Error:')} ${message}\n${c.dim('Try:')} ${hint}\n`);
    return ExitCode.USAGE;
  }

  if (isWksError(err)) {
    out.jsonError({
      ok: false,
      error: {
        code: err.code,
        exitCode: err.exitCode,
        message: err.message,
        hint: err.hint ?? null,
        ...(err.details ?? {}),
      },
    });
    out.stderr(`${c.red('Error:')} ${err.message}\n`);
    if (err instanceof ConfigError) {
      for (const i of err.issues) {
        const value = i.value !== undefined ? ` (got ${i.value})` : '';
        out.stderr(`  ${c.bold(i.key)}: ${i.message}${value}  ${c.dim(`[${i.source}]`)}\n`);
      }
    }
    if (err.hint) out.stderr(`${c.dim('Try:')} ${err.hint}\n`);
    if (g.verbose > 0 && err.stack) out.stderr(`${c.dim(redactText(err.stack))}\n`);
    if (g.verbose > 0 && err.cause instanceof Error)
      out.stderr(`${c.dim(`caused by: ${redactText(err.cause.stack ?? err.cause.message)}`)}\n`);
    return err.exitCode;
  }

  // An unexpected failure: still one line, with the stack behind -v.
  const e = err instanceof Error ? err : new Error(String(err));
  out.jsonError({
    ok: false,
    error: { code: 'internal', exitCode: ExitCode.FAILED, message: e.message, hint: 're-run with -v for details' },
  });
  out.stderr(`${c.red('Error:')} ${e.message}\n`);
  if (g.verbose > 0) out.stderr(`${c.dim(redactText(e.stack ?? ''))}\n`);
  else out.stderr(`${c.dim('Try:')} re-run with -v for details; if it persists, report it with that output\n`);
  return ExitCode.FAILED;
}

/**
 * SIGINT/SIGTERM for every command except those that handle signals
 * themselves (`serve` adds its own listener, and this one then stands back):
 * kill the children, remove temporary plaintext, passfiles and the backup
 * lock (src/util/interrupt.ts), then exit 130 / 143 at once.
 */
function installSignalHandlers(): void {
  const onSignal = (sig: 'SIGINT' | 'SIGTERM'): void => {
    if (process.listenerCount(sig) > 1) return;
    runInterruptCleanup();
    const out = currentContext()?.out ?? new Reporter({ json: false, verbose: 0, color: false });
    const code = signalExitCode(sig);
    out.jsonError({
      ok: false,
      error: { code: 'interrupted', exitCode: code, message: `interrupted by ${sig}`, hint: null },
    });
    out.stderr(`Error: interrupted by ${sig}; temporary files removed, nothing half-written was kept\n`);
    process.exit(code);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

/**
 * Entry point used by bin/wks.js. Sets process.exitCode; calls process.exit
 * only from the signal handler (exit 130/143 after cleaning up).
 */
export async function main(argv: string[]): Promise<void> {
  installSignalHandlers();
  // `wks ... | head`: a reader that goes away is not an error worth a stack trace.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') throw err;
    });
  }
  const program = buildProgram(groupOf(argv));
  if (argv.length <= 2) {
    program.outputHelp({ error: true });
    process.exitCode = ExitCode.USAGE;
    return;
  }
  try {
    await program.parseAsync(argv);
    // A destructive command declined at its prompt did nothing: scripts must notice (exit 1).
    if (currentContext()?.out.declined && !process.exitCode) process.exitCode = ExitCode.FAILED;
  } catch (err) {
    process.exitCode = handleError(err, argv);
  }
}
