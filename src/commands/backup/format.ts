/** Formatting shared by the backup commands (people only; --json gets raw numbers). */
import type { LogFn, ProgressEvent } from '../../backup/index.js';
import { describeOwner, type LockOwner } from '../../backup/index.js';
import type { Reporter, Progress } from '../../ui/index.js';
import { formatDuration } from '../../util/duration.js';
import { formatBytes } from '../../util/size.js';

export const ago = (ms: number): string => `${formatDuration(Math.max(0, Math.round(ms / 1000) * 1000))} ago`;

/**
 * Say, the way `migrate` does for its lock, that the command waits for another
 * wks's backup mutex: a warning on stderr (TTY or not) and, when a spinner
 * runs, its text.
 */
export function lockWaitNotice(out: Reporter, spin?: Progress): (o: LockOwner | null) => void {
  return (o) => {
    const text = `waiting for the backup mutex, held by ${describeOwner(o)}`;
    out.warn(text);
    spin?.update(text);
  };
}

/** The domain's log callback, routed to the reporter (debug -> -v). */
export function logTo(r: Reporter): LogFn {
  return (level, text) => (level === 'debug' ? r.debug(text) : level === 'warn' ? r.warn(text) : r.info(text));
}

/** A progress callback that updates a spinner. */
export function progressTo(p: Progress, label: string): (e: ProgressEvent) => void {
  return (e) => {
    const pct = e.total ? ` (${Math.floor((e.done / e.total) * 100)}%)` : '';
    const amount =
      e.unit === 'pages'
        ? `${e.done}/${e.total ?? '?'} pages`
        : e.total
          ? `${formatBytes(e.done)} / ${formatBytes(e.total)}`
          : formatBytes(e.done);
    p.update(`${label}: ${e.phase} ${amount}${pct}`);
  };
}
