/**
 * The structured logger of `wks serve` and of any command run with -v: pino,
 * loaded only when a logger is created (never by `wks --version` or `--help`).
 *
 *  - With a log file (LOG_FILE set in the environment or the config file):
 *    JSON lines appended to it (mode 0600, directory created), written
 *    synchronously so that no line is lost on a crash or a signal; reopen()
 *    closes and reopens the path, which is what logrotate's move + SIGHUP needs.
 *  - Otherwise stderr: JSON lines under --json, readable one-line text
 *    (pino-pretty; colour only on a TTY) otherwise.
 *  - Every line passes through redactText(), the redaction of all other output.
 *  - Repeated warnings and errors are summarised (repeat.ts).
 */
import { redactText } from '../redact.js';
import { repeating } from './repeat.js';
import type { Logger, LogLevel } from './types.js';

export type { Logger, LogLevel } from './types.js';
export { LOG_LEVELS } from './types.js';
export { RepeatFilter, repeating, dependencyLog, type LogLine } from './repeat.js';

export interface LoggerOptions {
  level: LogLevel;
  /** Append JSON lines to this file instead of writing to stderr. */
  file?: string | null;
  /** JSON lines on stderr (--json). Ignored with `file`. */
  json?: boolean;
  /** Colour in the readable form (a TTY without NO_COLOR). */
  color?: boolean;
  /** Summary interval for repeated warnings/errors (ms). Default 5 minutes. */
  repeatIntervalMs?: number;
  /** Where stderr lines go (tests). Default: file descriptor 2. */
  stream?: { write(s: string): unknown };
}

export interface AppLogger {
  readonly log: Logger;
  readonly level: LogLevel;
  readonly file: string | null;
  /** Reopen the log file (after logrotate moved it). No-op without a file. */
  reopen(): void;
  /** Flush and close the file. */
  close(): void;
}

/** A logger that drops everything (library default when no logger is given). */
export const silentLogger: Logger = () => undefined;

const PRETTY_TIME = 'SYS:yyyy-mm-dd HH:MM:ss.l';

async function destination(o: LoggerOptions): Promise<{
  write: (s: string) => void;
  reopen?: () => void;
  end?: () => void;
}> {
  const { default: pino } = await import('pino');
  if (o.file) {
    const boom = pino.destination({ dest: o.file, sync: true, mkdir: true, mode: 0o600, append: true });
    return { write: (s) => boom.write(s), reopen: () => boom.reopen(), end: () => boom.end() };
  }
  if (o.stream) {
    const s = o.stream;
    if (o.json) return { write: (line) => void s.write(line) };
  }
  if (o.json) {
    const boom = pino.destination({ fd: 2, sync: true });
    return { write: (s) => boom.write(s) };
  }
  const { default: pretty } = await import('pino-pretty');
  const p = pretty({
    destination: o.stream ? (o.stream as never) : 2,
    sync: true,
    colorize: !!o.color,
    translateTime: PRETTY_TIME,
    ignore: 'pid,hostname,name',
    singleLine: true,
  });
  return { write: (s) => void p.write(s) };
}

/** Create the logger (imports pino). */
export async function createLogger(o: LoggerOptions): Promise<AppLogger> {
  const { default: pino } = await import('pino');
  const dest = await destination(o);
  const p = pino(
    {
      name: 'wks',
      level: o.level,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    // The last step before any byte is written: the same redaction as every other output.
    { write: (s: string) => dest.write(redactText(s)) },
  );
  const log: Logger = repeating((level, message, fields) => {
    if (!p.isLevelEnabled(level)) return;
    if (fields && Object.keys(fields).length) p[level](fields, message);
    else p[level](message);
  }, o.repeatIntervalMs ?? 300_000);
  return {
    log,
    level: o.level,
    file: o.file ?? null,
    reopen() {
      dest.reopen?.();
    },
    close() {
      p.flush?.();
      dest.end?.();
    },
  };
}
