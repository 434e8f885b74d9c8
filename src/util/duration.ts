/**
 * Human durations: `500ms`, `90s`, `5m`, `1h`, `2d`, `1w`, or combinations
 * such as `1h30m`. A bare number is milliseconds.
 */

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/gy;

/** Parse a duration into milliseconds. Returns undefined when the text is not a duration. */
export function parseDuration(input: string | number): number | undefined {
  if (typeof input === 'number') return Number.isFinite(input) && input >= 0 ? input : undefined;
  const text = input.trim().toLowerCase();
  if (text === '') return undefined;
  if (/^\d+$/.test(text)) return Number(text);
  PART.lastIndex = 0;
  let total = 0;
  let consumed = 0;
  for (let m = PART.exec(text); m !== null; m = PART.exec(text)) {
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
    consumed = PART.lastIndex;
  }
  return consumed === text.length ? Math.round(total) : undefined;
}

/**
 * Format milliseconds for people, the one format wks shows durations in: `850ms`, `4.2s` (one decimal
 * under 10 s), `42s`, `5m 3s`, `2h 10m`, `3d 4h`.
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  const neg = ms < 0;
  let rest = Math.abs(Math.round(ms));
  if (rest < 1000) return `${neg ? '-' : ''}${rest}ms`;
  if (rest < 10_000) return `${neg ? '-' : ''}${(Math.floor(rest / 100) / 10).toString()}s`;
  const parts: string[] = [];
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ] as const) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
    if (parts.length === 2) break;
  }
  return (neg ? '-' : '') + parts.join(' ');
}
