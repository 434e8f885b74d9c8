/**
 * Pushgateway support for the commands cron runs (`backup create`, `rotate`,
 * `verify`, `drill`, `migrate up`): when monitoring.prometheus.pushgateway_url
 * (PROMETHEUS_PUSHGATEWAY_URL) is set, each run pushes its outcome when it
 * finishes, in the group job="wks", command="<command>", instance="<host>".
 *
 * Semantics: a successful run replaces its whole group (PUT), so nothing stale
 * lingers; a failed run replaces only the series it carries (POST) and leaves
 * wks_run_last_success_timestamp_seconds as the last success pushed it.
 * The gateway adds push_time_seconds itself; docs/metrics.md has the alert
 * rules for cron installs (templates/prometheus/wks-cron-alerts.yml).
 *
 * Pushing never changes the outcome of the command: the caller turns a
 * rejection into a warning.
 */
import { hostname } from 'node:os';
import { Gauge, Pushgateway, Registry } from 'prom-client';

export interface RunOutcome {
  /** `backup_create`, `backup_rotate`, `backup_verify`, `backup_drill`, `migrate_up`. */
  command: string;
  startedAt: Date;
  finishedAt: Date;
  exitCode: number;
  /** Bytes the run wrote or checked (backup size, bytes verified, bytes freed), when it has such a figure. */
  bytes?: number | null;
}

export interface PushOptions {
  /** Grouping label `instance` (default: the host name). */
  instance?: string;
  timeoutMs?: number;
}

/** The exposition pushed for one run (a fresh registry: nothing else of the process is pushed). */
export function runRegistry(o: RunOutcome): Registry {
  const registry = new Registry();
  const r = [registry];
  const g = (name: string, help: string, v: number) => new Gauge({ name, help, registers: r }).set(v);
  const finished = o.finishedAt.getTime() / 1000;
  if (o.exitCode === 0)
    g('wks_run_last_success_timestamp_seconds', 'Unix time the last successful run finished', finished);
  g('wks_run_last_timestamp_seconds', 'Unix time the last run finished, whatever its outcome', finished);
  g('wks_run_duration_seconds', 'Duration of the last run', (o.finishedAt.getTime() - o.startedAt.getTime()) / 1000);
  g('wks_run_exit_code', 'Exit status of the last run (0 ok; docs/exit-codes.md)', o.exitCode);
  if (o.bytes !== undefined && o.bytes !== null) g('wks_run_bytes', 'Bytes the last run wrote or checked', o.bytes);
  return registry;
}

/**
 * Push one run's outcome. Resolves with the method used; rejects with the
 * gateway's error (HTTP status, connection refused, timeout).
 */
export async function pushRunOutcome(url: string, o: RunOutcome, opts: PushOptions = {}): Promise<'PUT' | 'POST'> {
  const gateway = new Pushgateway(url, { timeout: opts.timeoutMs ?? 5000 }, runRegistry(o));
  const params = { jobName: 'wks', groupings: { command: o.command, instance: opts.instance ?? hostname() } };
  if (o.exitCode === 0) {
    await gateway.push(params);
    return 'PUT';
  }
  await gateway.pushAdd(params);
  return 'POST';
}
