/**
 * Repeated-problem suppression for the structured log, the one mechanism for
 * it (the logger of createLogger runs every line through it; `repeating`
 * wraps any other Logger): a warning or error
 * that keeps coming (a dependency that is down, a job that fails every
 * minute, a follower polling a lease it cannot reach) is written once when
 * it starts, then as one summary line per interval with the number of
 * repeats, and once more when it changes (a different message for the same
 * key) or clears (a line at info/debug for that key).
 *
 * The key of a line is `fields.key` when the caller gives one (the identity
 * of the condition, e.g. `lease` or `job:reap`), else its level and message.
 * A dependency that keeps failing (Redis, the lease's store) is such a
 * condition: `dependencyLog` reports it. Pure apart from the clock, which is
 * a parameter.
 */
import type { Logger, LogLevel } from './types.js';

export interface LogLine {
  level: LogLevel;
  message: string;
  fields?: Record<string, unknown>;
}

interface Ongoing {
  message: string;
  level: LogLevel;
  /** Repeats since the last line written for this key. */
  repeats: number;
  /** Repeats since the problem started. */
  total: number;
  since: number;
  lastWritten: number;
}

export class RepeatFilter {
  private readonly ongoing = new Map<string, Ongoing>();

  constructor(
    private readonly intervalMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** The lines to write for `line` (none while a repeat is being counted). */
  filter(line: LogLine): LogLine[] {
    const explicit = typeof line.fields?.key === 'string' ? (line.fields.key as string) : null;
    const problem = line.level === 'warn' || line.level === 'error';
    const t = this.now();
    if (!problem) {
      const cleared = explicit ? this.ongoing.get(explicit) : undefined;
      if (!cleared || !explicit) return [line];
      this.ongoing.delete(explicit);
      const after = { after_repeats: cleared.total, after_ms: t - cleared.since, problem: cleared.message };
      return [{ ...line, fields: { ...line.fields, ...after } }];
    }
    const key = explicit ?? `${line.level}:${line.message}`;
    const cur = this.ongoing.get(key);
    if (cur && cur.message === line.message && t - cur.since < 24 * 3_600_000) {
      cur.repeats++;
      cur.total++;
      if (t - cur.lastWritten < this.intervalMs) return [];
      const summary: LogLine = {
        level: line.level,
        message: `${line.message} (repeated ${cur.repeats} times in the last ${Math.round((t - cur.lastWritten) / 1000)} s; ${cur.total} since ${new Date(cur.since).toISOString()})`,
        fields: { ...line.fields, repeats: cur.repeats, repeats_total: cur.total },
      };
      cur.repeats = 0;
      cur.lastWritten = t;
      return [summary];
    }
    this.ongoing.set(key, { message: line.message, level: line.level, repeats: 0, total: 0, since: t, lastWritten: t });
    return [line];
  }
}

const summarised = new WeakSet<Logger>();

/**
 * `log` with repeated problems summarised every `intervalMs` (a RepeatFilter in front of it). A
 * logger that already summarises (createLogger's, or one made here) is returned as it is: two
 * filters in a row would count the first one's summaries as changes of state.
 */
export function repeating(log: Logger, intervalMs: number, now: () => number = Date.now): Logger {
  if (summarised.has(log)) return log;
  const f = new RepeatFilter(intervalMs, now);
  const out: Logger = (level, message, fields) => {
    for (const l of f.filter({ level, message, fields })) log(l.level, l.message, l.fields);
  };
  summarised.add(out);
  return out;
}

/**
 * A dependency's availability, through a repeating logger: every failed attempt is the keyed warning
 * `<what> is unavailable` (the error in `error`), so the log shows it once when it starts, one count
 * per interval while it lasts (with the last error), and `<what> is available again` (with
 * `after_repeats`, `after_ms`) once when an attempt succeeds after a failure.
 */
export function dependencyLog(log: Logger, what: string): { failure(err: unknown): void; success(): void } {
  const key = `unavailable:${what}`;
  let down = false;
  return {
    failure(err) {
      down = true;
      log('warn', `${what} is unavailable`, { key, dependency: what, error: (err as Error)?.message ?? String(err) });
    },
    success() {
      if (!down) return;
      down = false;
      log('info', `${what} is available again`, { key, dependency: what });
    },
  };
}
