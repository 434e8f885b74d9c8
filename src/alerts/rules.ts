/**
 * Built-in alert rules and their evaluation (pure: time is a parameter).
 *
 * A rule is `<signal> <op> <number>[unit]` held for `for` milliseconds, as in
 * the platform's schema (`error_rate > 0.05` for 5m, `workflow_duration > 600s` for 1m).
 * Signals (computed by signals.ts):
 *   error_rate         failed / (completed + failed) over the last 5 minutes (no data: not evaluated)
 *   workflow_duration  seconds the longest-running execution has been running
 *   backup_age         seconds since the newest completed backup (no backup: +Inf)
 *   backup_failed      1 when the newest scheduled backup attempt failed, else 0
 *   backups_offhost_pending  local+s3 only: backups kept on this host only, not in the bucket yet
 *                      (any other repository: null, never evaluated)
 *   disk_free_bytes    free bytes on the database / backup filesystem (the smaller)
 *   dependency_down    number of dependencies (database, redis) not answering
 * Durations in a condition (`600s`, `1h`) are converted to seconds.
 *
 * States follow Prometheus: inactive -> pending (condition true, waiting for
 * `for`) -> firing; firing -> resolved (inactive) when the condition turns
 * false. A transition to firing and one to resolved are each reported once:
 * that is the de-duplication contract notifiers rely on.
 */
import type { Config } from '../config/index.js';
import { ConfigError } from '../errors.js';
import { parseDuration } from '../util/duration.js';

export const SIGNALS = [
  'error_rate',
  'workflow_duration',
  'backup_age',
  'backup_failed',
  'backups_offhost_pending',
  'disk_free_bytes',
  'dependency_down',
] as const;
export type SignalName = (typeof SIGNALS)[number];
export type AlertSignals = Partial<Record<SignalName, number | null>> & { down?: string[] };

export type Op = '>' | '>=' | '<' | '<=' | '==' | '!=';
export type Severity = 'critical' | 'warning';

export interface AlertRule {
  name: string;
  condition: string;
  signal: SignalName;
  op: Op;
  threshold: number;
  forMs: number;
  severity: Severity;
  summary: string;
}

const COND = /^\s*([a-z_]+)\s*(>=|<=|==|!=|>|<)\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$/;

/** Parse `signal op value[unit]`. Throws Error with a readable message when it does not parse. */
export function parseCondition(condition: string): { signal: SignalName; op: Op; threshold: number } {
  const m = COND.exec(condition);
  if (!m)
    throw new Error(
      `cannot parse condition "${condition}" (expected: <signal> <op> <number>[unit], e.g. error_rate > 0.05)`,
    );
  const signal = m[1] as SignalName;
  if (!(SIGNALS as readonly string[]).includes(signal))
    throw new Error(`unknown signal "${m[1]}" (known: ${SIGNALS.join(', ')})`);
  let threshold = Number(m[3]);
  if (m[4]) threshold = parseDuration(`${m[3]}${m[4]}`)! / 1000;
  return { signal, op: m[2] as Op, threshold };
}

/**
 * How long each built-in rule's condition must hold before it fires: the same
 * `for:` as the matching rule in templates/prometheus/wks-alerts.yml.
 *  - backup_stale 10m: with the default schedule (every 30 min) a backup is at
 *    most ~30 min old; older than the RPO means runs were missed, and 10 min
 *    more lets a late run land before anyone is paged.
 *  - backup_failed 1m, dependency_down 1m: one more evaluation, so a blip
 *    (a restart of the database) does not page.
 *  - disk_low 5m.
 *  - backup_offhost_lag 1h: `create` copies each backup right after storing
 *    it (and any older local-only one); with the default schedule (every 30
 *    min) a backup still only here after an hour means two runs in a row
 *    could not copy it, not a copy in progress.
 */
export const BUILTIN_FOR = {
  backup_stale: '10m',
  backup_failed: '1m',
  backup_offhost_lag: '1h',
  disk_low: '5m',
  dependency_down: '1m',
} as const;

const SUMMARIES: Record<string, string> = {
  high_error_rate: 'Workflow error rate is above the threshold',
  workflow_timeout: 'A workflow execution has been running longer than the threshold',
  backup_stale: 'The newest backup is older than the recovery point objective',
  backup_failed: 'The last scheduled backup failed',
  backup_offhost_lag: 'Backups are kept on this host only: they were not copied to the bucket',
  disk_low: 'Free disk space for the database or backups is low',
  dependency_down: 'A dependency (database or Redis) is not answering',
};

/**
 * The effective rule set: the configured rules (monitoring.alerts.rules; the
 * platform's high_error_rate and workflow_timeout by default) plus the built-in
 * backup_stale (RPO = health.backup_rpo), backup_failed, backup_offhost_lag
 * (local+s3 only), disk_low (health.min_free_bytes) and dependency_down. A
 * configured rule with a built-in's name replaces it (e.g. another `for`). Throws ConfigError (78) naming the rule's key.
 */
export function buildRules(config: Config): AlertRule[] {
  const rpoS = (parseDuration(config.health.backup_rpo) ?? 3_600_000) / 1000;
  // The for-durations are those of templates/prometheus/wks-alerts.yml (BUILTIN_FOR; a test compares them).
  const builtins = [
    {
      name: 'backup_stale',
      condition: `backup_age > ${rpoS}`,
      duration: BUILTIN_FOR.backup_stale,
      severity: 'critical' as Severity,
    },
    {
      name: 'backup_failed',
      condition: 'backup_failed > 0',
      duration: BUILTIN_FOR.backup_failed,
      severity: 'critical' as Severity,
    },
    {
      name: 'backup_offhost_lag',
      condition: 'backups_offhost_pending > 0',
      duration: BUILTIN_FOR.backup_offhost_lag,
      severity: 'warning' as Severity,
    },
    {
      name: 'disk_low',
      condition: `disk_free_bytes < ${config.health.min_free_bytes}`,
      duration: BUILTIN_FOR.disk_low,
      severity: 'warning' as Severity,
    },
    {
      name: 'dependency_down',
      condition: 'dependency_down > 0',
      duration: BUILTIN_FOR.dependency_down,
      severity: 'critical' as Severity,
    },
  ];
  const configured = config.monitoring.alerts.rules.map((r) => ({ ...r, severity: 'warning' as Severity }));
  const names = new Set(configured.map((r) => r.name));
  const all = [...configured, ...builtins.filter((b) => !names.has(b.name))];
  const issues: Array<{ key: string; message: string; source: string }> = [];
  const rules: AlertRule[] = [];
  all.forEach((r, i) => {
    try {
      const c = parseCondition(r.condition);
      rules.push({
        name: r.name,
        condition: r.condition,
        ...c,
        forMs: parseDuration(r.duration) ?? 0,
        severity: r.severity,
        summary: SUMMARIES[r.name] ?? `${r.condition} for ${r.duration}`,
      });
    } catch (err) {
      issues.push({
        key: i < configured.length ? `phase4.monitoring.alerts.rules[${i}].condition` : `built-in rule ${r.name}`,
        message: (err as Error).message,
        source: 'config',
      });
    }
  });
  if (issues.length) throw new ConfigError('invalid alert rule', issues);
  return rules;
}

/** Compare with the rule's operator. A null/undefined value is "no data": never true. */
export function conditionHolds(rule: Pick<AlertRule, 'op' | 'threshold'>, value: number | null | undefined): boolean {
  if (value === null || value === undefined || Number.isNaN(value)) return false;
  switch (rule.op) {
    case '>':
      return value > rule.threshold;
    case '>=':
      return value >= rule.threshold;
    case '<':
      return value < rule.threshold;
    case '<=':
      return value <= rule.threshold;
    case '==':
      return value === rule.threshold;
    case '!=':
      return value !== rule.threshold;
  }
}

export type AlertState = 'inactive' | 'pending' | 'firing';

export interface AlertEvent {
  kind: 'firing' | 'resolved';
  rule: string;
  severity: Severity;
  summary: string;
  condition: string;
  value: number | null;
  /** When the condition first held (firing) / when it stopped holding (resolved). */
  at: Date;
  /** Stable key for de-duplication (PagerDuty dedup_key). */
  dedupKey: string;
  details?: Record<string, unknown>;
}

interface RuleState {
  state: AlertState;
  since: number | null;
  value: number | null;
  /** When the last notification for this rule was delivered (ms), or null. */
  notifiedAt: number | null;
}

/** One rule's state as stored for the next leader (state.ts). */
export interface PersistedRuleState {
  rule: string;
  state: AlertState;
  sinceMs: number | null;
  value: number | null;
  notifiedAtMs: number | null;
}

/** Holds rule states between evaluations; reports each transition once. */
export class AlertEngine {
  private readonly states = new Map<string, RuleState>();

  constructor(
    readonly rules: AlertRule[],
    private readonly dedupPrefix = 'wks',
  ) {
    for (const r of rules) this.states.set(r.name, { state: 'inactive', since: null, value: null, notifiedAt: null });
  }

  /**
   * Take over states stored by another instance (the previous leader), so
   * that what already fires is not notified again and a pending rule keeps
   * its start time. Unknown rules are ignored.
   */
  restore(rows: PersistedRuleState[]): void {
    for (const r of rows) {
      const st = this.states.get(r.rule);
      if (!st) continue;
      st.state = r.state;
      st.since = r.sinceMs;
      st.value = r.value;
      st.notifiedAt = r.notifiedAtMs;
    }
  }

  /** Every rule's state, for storing (state.ts). */
  persisted(): PersistedRuleState[] {
    return this.rules.map((r) => {
      const s = this.states.get(r.name)!;
      return {
        rule: r.name,
        state: s.state,
        sinceMs: s.since,
        value: s.value !== null && Number.isFinite(s.value) ? s.value : null,
        notifiedAtMs: s.notifiedAt,
      };
    });
  }

  /** Record that a notification for `rule` was delivered at `at`. */
  markNotified(rule: string, at: Date): void {
    const st = this.states.get(rule);
    if (st) st.notifiedAt = at.getTime();
  }

  /** Evaluate every rule against `signals` at `now`; returns the transitions (firing/resolved) to notify. */
  evaluate(signals: AlertSignals, now: Date): AlertEvent[] {
    const events: AlertEvent[] = [];
    for (const rule of this.rules) {
      const st = this.states.get(rule.name)!;
      const value = signals[rule.signal] ?? null;
      st.value = value;
      const holds = conditionHolds(rule, value);
      const base = {
        rule: rule.name,
        severity: rule.severity,
        summary: rule.summary,
        condition: rule.condition,
        value,
        dedupKey: `${this.dedupPrefix}:${rule.name}`,
        details: rule.signal === 'dependency_down' && signals.down?.length ? { down: signals.down } : undefined,
      };
      if (holds) {
        if (st.state === 'inactive') {
          st.state = 'pending';
          st.since = now.getTime();
        }
        if (st.state === 'pending' && now.getTime() - st.since! >= rule.forMs) {
          st.state = 'firing';
          events.push({ ...base, kind: 'firing', at: new Date(st.since!) });
        }
      } else {
        if (st.state === 'firing') events.push({ ...base, kind: 'resolved', at: now });
        st.state = 'inactive';
        st.since = null;
      }
    }
    return events;
  }

  /** Current state of every rule (for /ready and wks_alerts_firing). */
  snapshot(): Array<{
    name: string;
    state: AlertState;
    since: string | null;
    value: number | null;
    lastNotified: string | null;
  }> {
    return this.rules.map((r) => {
      const s = this.states.get(r.name)!;
      return {
        name: r.name,
        state: s.state,
        since: s.since ? new Date(s.since).toISOString() : null,
        value: s.value,
        lastNotified: s.notifiedAt ? new Date(s.notifiedAt).toISOString() : null,
      };
    });
  }
}
