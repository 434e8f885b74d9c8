/**
 * Repeated-problem suppression for the structured log: a warning or error
 * that keeps coming (a dependency that is down, a job that fails every
 * minute, a follower polling a lease it cannot reach) is written once when
 * it starts, then as one summary line per interval with the number of
 * repeats, and once more when it changes (a different message for the same
 * key) or clears (a line at info/debug for that key).
 *
 * The key of a line is `fields.key` when the caller gives one (the identity
 * of the condition, e.g. `lease` or `job:reap`), else its level and message.
 * Pure apart from the clock, which is a parameter.
 */
import type { LogLevel } from './types.js';

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
      return [{ ...line, fields: { ...line.fields, after_repeats: cleared.total, problem: cleared.message } }];
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
