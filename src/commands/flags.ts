/**
 * The one place numeric flags are parsed and range-checked: a whole number
 * or a duration, within documented bounds. Anything else (letters, a value
 * past the bound, one too large for a safe integer) is a UsageError (exit 2)
 * naming the flag and the accepted range, before any work starts.
 */
import { UsageError } from '../errors.js';
import { formatDuration, parseDuration } from '../util/duration.js';

const DAY = 86_400_000;

/** Upper bounds shared by the commands (docs/exit-codes.md). */
export const FLAG_LIMITS = {
  /** Row counts and limits. */
  count: 1_000_000,
  /** Timeouts a command waits for. */
  timeoutMs: DAY,
  /** Ages (`--older-than`). */
  ageMs: 365 * DAY,
} as const;

/** Parse a whole-number flag in [min, max] (defaults 0 and FLAG_LIMITS.count); `fallback` when absent. */
export function intFlag(
  value: string | undefined,
  flag: string,
  fallback: number,
  range: { min?: number; max?: number } = {},
): number {
  if (value === undefined) return fallback;
  const min = range.min ?? 0;
  const max = range.max ?? FLAG_LIMITS.count;
  const t = value.trim();
  const n = /^\d+$/.test(t) ? Number(t) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max)
    throw new UsageError(`${flag} expects a whole number from ${min} to ${max} (got "${value}")`, {
      hint: `e.g. ${flag} ${Math.min(Math.max(min, 100), max)}`,
    });
  return n;
}

/** Parse a duration flag (`90s`, `15m`, `2h`, `1d`, or milliseconds) in [min, max] ms; undefined when absent. */
export function durationFlag(
  value: string | undefined,
  flag: string,
  range: { min?: number; max?: number } = {},
): number | undefined {
  if (value === undefined) return undefined;
  const min = range.min ?? 0;
  const max = range.max ?? FLAG_LIMITS.ageMs;
  const ms = parseDuration(value);
  if (ms === undefined || !Number.isSafeInteger(ms) || ms < min || ms > max)
    throw new UsageError(
      `${flag} expects a duration from ${formatDuration(min)} to ${formatDuration(max)} such as 90s, 15m, 2h (got "${value}")`,
      { hint: `e.g. ${flag} 30m` },
    );
  return ms;
}
