/** Formatting shared by the backup commands (people only; --json gets raw numbers). */
import type { LogFn, ProgressEvent } from '../../backup/types.js';
import type { Reporter, Progress } from '../../ui/reporter.js';
import { formatDuration } from '../../util/duration.js';

/** 1536 -> `1.5 KiB`. */
export function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`;
}

export const ago = (ms: number): string => `${formatDuration(Math.max(0, Math.round(ms / 1000) * 1000))} ago`;

/** The domain's log callback, routed to the reporter (debug -> -v). */
export function logTo(r: Reporter): LogFn {
  return (level, text) => (level === 'debug' ? r.debug(text) : level === 'warn' ? r.warn(text) : r.info(text));
}

/** A progress callback that updates a spinner. */
export function progressTo(p: Progress, label: string): (e: ProgressEvent) => void {
  return (e) => {
    const pct = e.total ? ` (${Math.floor((e.done / e.total) * 100)}%)` : '';
    const amount = e.unit === 'pages' ? `${e.done}/${e.total ?? '?'} pages` : e.total ? `${bytes(e.done)} / ${bytes(e.total)}` : bytes(e.done);
    p.update(`${label}: ${e.phase} ${amount}${pct}`);
  };
}
