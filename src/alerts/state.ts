/**
 * Where the alert state lives between leaders: the `alert_state` table
 * (migration 0005), in the database every instance already shares (the
 * leader lease lives there too, so whoever leads can reach it).
 *
 * The alerts job loads the stored state before each evaluation and stores
 * it after notifying. A notification is stored as sent only once it was
 * delivered, so a leader that dies between the two may cause one repeat
 * (at least once), never a lost notification.
 */
import type { DatabaseAdapter } from '../db/index.js';
import type { AlertState, PersistedRuleState } from './rules.js';

interface Row {
  rule: string;
  state: AlertState;
  since_ms: number | string | null;
  value: number | null;
  notified_at_ms: number | string | null;
}

const num = (v: number | string | null): number | null => (v === null || v === undefined ? null : Number(v));

/** The stored states (empty when none were stored yet). Throws when the table is missing (run `wks migrate up`). */
export async function loadAlertState(db: DatabaseAdapter): Promise<PersistedRuleState[]> {
  const rows = await db.query<Row>('SELECT rule, state, since_ms, value, notified_at_ms FROM alert_state');
  return rows.map((r) => ({
    rule: r.rule,
    state: r.state,
    sinceMs: num(r.since_ms),
    value: r.value === null ? null : Number(r.value),
    notifiedAtMs: num(r.notified_at_ms),
  }));
}

/** Store every rule's state in one transaction (upsert by rule). */
export async function saveAlertState(
  db: DatabaseAdapter,
  states: PersistedRuleState[],
  by: string,
  now: Date,
): Promise<void> {
  await db.transaction(async (tx) => {
    for (const s of states) {
      await tx.run(
        `INSERT INTO alert_state (rule, state, since_ms, value, notified_at_ms, updated_at_ms, updated_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (rule) DO UPDATE SET state = excluded.state, since_ms = excluded.since_ms,
           value = excluded.value, notified_at_ms = excluded.notified_at_ms,
           updated_at_ms = excluded.updated_at_ms, updated_by = excluded.updated_by`,
        [s.rule, s.state, s.sinceMs, s.value, s.notifiedAtMs, now.getTime(), by],
      );
    }
  });
}
