import { formatDuration } from '../../util/duration.js';
import type { Reporter } from '../../ui/index.js';
import type { Discrepancy } from '../../workflow/index.js';

export const dur = (ms: number | null | undefined): string =>
  ms === null || ms === undefined ? '-' : formatDuration(ms);
export const ttl = (ms: number | null | undefined): string =>
  ms === null || ms === undefined ? 'no TTL' : formatDuration(ms);
export const when = (d: Date | null | undefined): string =>
  d
    ? d
        .toISOString()
        .replace('T', ' ')
        .replace(/\.\d{3}Z$/, 'Z')
    : '-';

/** Print the "Redis state not included" note when it applies: a note when Redis is turned off (quiet with -q), a warning when it is unreachable. */
export function redisNote(r: Reporter, redis: { included: boolean; reason: string | null; disabled?: boolean }): void {
  if (redis.included) return;
  const text = `Redis state is not included: ${redis.reason ?? 'Redis is not available'}`;
  if (redis.disabled) r.info(text);
  else r.warn(text);
}

/** Render discrepancies as a table (or a one-line all-clear). */
export function renderDiscrepancies(r: Reporter, list: Discrepancy[], truncated = false): void {
  if (list.length === 0) {
    r.line(r.c.green('no discrepancies between the database and Redis'));
  } else {
    r.line(r.c.bold(r.c.yellow(`${list.length} discrepanc${list.length === 1 ? 'y' : 'ies'}:`)));
    r.table(list, [
      { header: 'EXECUTION', value: 'executionId', align: 'right' },
      { header: 'KIND', value: 'kind', style: (t) => r.c.yellow(t) },
      { header: 'DETAIL', value: 'detail' },
      { header: 'WHAT TO DO', value: 'action', style: (t) => r.c.dim(t) },
    ]);
  }
  if (truncated) r.warn('a bounded scan stopped early: the discrepancy list may be incomplete');
}
