/**
 * The daemon's last line of defence: an exception or rejection that escaped
 * every handler (a bug) is logged and counted in
 * wks_unexpected_errors_total{source}, and the daemon keeps running its
 * scheduler, backups and alerts. Node's default would end the process, and
 * with it tonight's backup; a supervisor restarting it cannot help when the
 * same input keeps arriving.
 */
import type { Counter } from 'prom-client';
import type { Logger } from './scheduler.js';

/** Install the process-wide handlers. Returns a function that removes them. */
export function installCrashGuard(counter: Counter<'source'>, log: Logger): () => void {
  const report = (source: string, err: unknown): void => {
    counter.inc({ source });
    const e = err instanceof Error ? err : new Error(String(err));
    log('error', `unexpected ${source.replace('_', ' ')} (kept running; please report it): ${e.stack ?? e.message}`);
  };
  const onException = (err: Error): void => report('uncaught_exception', err);
  const onRejection = (reason: unknown): void => report('unhandled_rejection', reason);
  process.on('uncaughtException', onException);
  process.on('unhandledRejection', onRejection);
  return () => {
    process.off('uncaughtException', onException);
    process.off('unhandledRejection', onRejection);
  };
}
