/**
 * The `alerts` job of `wks serve`: load the shared alert state (what the
 * previous leader saw and notified), evaluate the rules, notify each
 * transition once, store the state for whoever leads next.
 */
import type { Config } from '../config/index.js';
import type { DatabaseAdapter } from '../db/index.js';
import type { WksMetrics } from '../metrics/index.js';
import {
  type AlertEngine,
  type AlertEvent,
  type SignalSources,
  gatherSignals,
  loadAlertState,
  notifyAll,
  saveAlertState,
} from '../alerts/index.js';
import type { Logger } from './scheduler.js';

export interface AlertJobDeps {
  config: Config;
  engine: AlertEngine;
  metrics: WksMetrics;
  log: Logger;
  /** This instance's id (stored as the state's writer). */
  instance: string;
  db: () => Promise<DatabaseAdapter | null>;
  signals: Omit<SignalSources, 'db'>;
}

/** One evaluation. Returns the transitions notified. A state store that fails is logged, never fatal. */
export async function runAlertJob(deps: AlertJobDeps, now: Date): Promise<AlertEvent[]> {
  const { config, engine, metrics, log } = deps;
  const db = await deps.db().catch(() => null);
  // Another instance may have led until now: take over what it saw and notified.
  if (db) {
    try {
      engine.restore(await loadAlertState(db));
    } catch (err) {
      log('warn', `could not read the alert state (${(err as Error).message}); using this instance's own`, {
        key: 'alert_state',
      });
    }
  }
  const signals = await gatherSignals(config, { ...deps.signals, db: deps.db }, now);
  const events = engine.evaluate(signals, now);
  for (const s of engine.snapshot()) metrics.alertsFiring.set({ alert: s.name }, s.state === 'firing' ? 1 : 0);
  for (const ev of events) {
    log(ev.kind === 'firing' ? 'warn' : 'info', `alert ${ev.rule} ${ev.kind}: ${ev.summary}`);
    const results = await notifyAll(config, ev);
    for (const r of results) {
      metrics.notificationsTotal.inc({ channel: r.channel, result: r.ok ? 'success' : 'failure' });
      if (!r.ok) log('error', r.error ?? `could not notify ${r.channel}`);
    }
    if (results.length === 0 || results.some((r) => r.ok)) engine.markNotified(ev.rule, new Date());
  }
  if (db) {
    try {
      await saveAlertState(db, engine.persisted(), deps.instance, now);
      log('debug', 'alert state stored', { key: 'alert_state' });
    } catch (err) {
      log('warn', `could not store the alert state (${(err as Error).message}); a new leader may notify again`, {
        key: 'alert_state',
      });
    }
  }
  return events;
}
