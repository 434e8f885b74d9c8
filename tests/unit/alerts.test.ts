import { describe, it, expect } from 'vitest';
import { parseCondition, buildRules, AlertEngine, conditionHolds } from '../../src/alerts/rules.js';
import { DEFAULTS } from '../../src/config/defaults.js';
import { ConfigError } from '../../src/errors.js';
import type { Config } from '../../src/config/schema.js';

const cfg = (patch: (c: Config) => void = () => undefined): Config => {
  const c = structuredClone(DEFAULTS);
  patch(c);
  return c;
};
const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s));

describe('alert conditions', () => {
  it("parses the platform's conditions, converting durations to seconds", () => {
    expect(parseCondition('error_rate > 0.05')).toEqual({ signal: 'error_rate', op: '>', threshold: 0.05 });
    expect(parseCondition('workflow_duration > 600s')).toEqual({
      signal: 'workflow_duration',
      op: '>',
      threshold: 600,
    });
    expect(parseCondition('backup_age >= 1h')).toEqual({ signal: 'backup_age', op: '>=', threshold: 3600 });
    expect(() => parseCondition('cpu > 1')).toThrow(/unknown signal/);
    expect(() => parseCondition('error_rate >')).toThrow(/cannot parse/);
  });

  it('treats missing data as not holding', () => {
    expect(conditionHolds({ op: '>', threshold: 0 }, null)).toBe(false);
    expect(conditionHolds({ op: '<', threshold: 10 }, 5)).toBe(true);
    expect(conditionHolds({ op: '>', threshold: 10 }, Number.POSITIVE_INFINITY)).toBe(true);
  });

  it("builds the platform's rules plus the built-ins, RPO from health.backup_rpo", () => {
    const rules = buildRules(cfg((c) => (c.health.backup_rpo = '2h')));
    expect(rules.map((r) => r.name)).toEqual([
      'high_error_rate',
      'workflow_timeout',
      'backup_stale',
      'backup_failed',
      'backup_offhost_lag',
      'disk_low',
      'dependency_down',
    ]);
    expect(rules.find((r) => r.name === 'high_error_rate')!.forMs).toBe(300_000);
    expect(rules.find((r) => r.name === 'workflow_timeout')!.forMs).toBe(60_000);
    expect(rules.find((r) => r.name === 'backup_stale')!.threshold).toBe(7200);
  });

  it('rejects an unparseable configured rule with its key path (exit 78)', () => {
    try {
      buildRules(cfg((c) => c.monitoring.alerts.rules.push({ name: 'x', condition: 'nonsense', duration: '1m' })));
      throw new Error('expected ConfigError');
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).issues[0]!.key).toBe('phase4.monitoring.alerts.rules[2].condition');
    }
  });
});

describe('AlertEngine', () => {
  const rules = buildRules(cfg()).filter((r) => r.name === 'high_error_rate' || r.name === 'backup_failed');

  it('goes pending, fires after the for-duration once, then resolves once', () => {
    const e = new AlertEngine(rules);
    expect(e.evaluate({ error_rate: 0.2 }, at(0))).toEqual([]);
    expect(e.snapshot().find((s) => s.name === 'high_error_rate')!.state).toBe('pending');
    expect(e.evaluate({ error_rate: 0.2 }, at(299))).toEqual([]);
    const fired = e.evaluate({ error_rate: 0.2 }, at(300));
    expect(fired.map((x) => [x.rule, x.kind])).toEqual([['high_error_rate', 'firing']]);
    expect(fired[0]!.dedupKey).toBe('wks:high_error_rate');
    expect(fired[0]!.at).toEqual(at(0));
    // de-duplicated while it keeps firing
    expect(e.evaluate({ error_rate: 0.3 }, at(360))).toEqual([]);
    const resolved = e.evaluate({ error_rate: 0.01 }, at(420));
    expect(resolved.map((x) => [x.rule, x.kind])).toEqual([['high_error_rate', 'resolved']]);
    expect(e.evaluate({ error_rate: 0.01 }, at(480))).toEqual([]);
  });

  it('a condition that clears while pending never fires', () => {
    const e = new AlertEngine(rules);
    e.evaluate({ error_rate: 0.2 }, at(0));
    e.evaluate({ error_rate: 0 }, at(100));
    expect(e.evaluate({ error_rate: 0.2 }, at(350))).toEqual([]);
    expect(e.evaluate({ error_rate: 0.2 }, at(650)).map((x) => x.kind)).toEqual(['firing']);
  });

  it('backup_offhost_lag: fires after backups stayed local-only for 1h; no data (not local+s3) never fires', () => {
    const lag = buildRules(cfg()).filter((r) => r.name === 'backup_offhost_lag');
    expect(lag.map((r) => [r.condition, r.forMs, r.severity])).toEqual([
      ['backups_offhost_pending > 0', 3_600_000, 'warning'],
    ]);
    const e = new AlertEngine(lag);
    expect(e.evaluate({ backups_offhost_pending: 2 }, at(0))).toEqual([]);
    expect(e.evaluate({ backups_offhost_pending: 2 }, at(3599))).toEqual([]);
    expect(e.evaluate({ backups_offhost_pending: 1 }, at(3600)).map((x) => [x.rule, x.kind, x.value])).toEqual([
      ['backup_offhost_lag', 'firing', 1],
    ]);
    expect(e.evaluate({ backups_offhost_pending: 0 }, at(3700)).map((x) => x.kind)).toEqual(['resolved']);
    const none = new AlertEngine(lag);
    expect(none.evaluate({ backups_offhost_pending: null }, at(0))).toEqual([]);
    expect(none.evaluate({ backups_offhost_pending: null }, at(86_400))).toEqual([]);
    // Its duration is configurable as any built-in's: a configured rule of the same name replaces it.
    const custom = buildRules(
      cfg((c) =>
        c.monitoring.alerts.rules.push({
          name: 'backup_offhost_lag',
          condition: 'backups_offhost_pending > 0',
          duration: '3h',
        }),
      ),
    );
    expect(custom.filter((r) => r.name === 'backup_offhost_lag').map((r) => r.forMs)).toEqual([3 * 3_600_000]);
  });

  it('fires a zero-duration rule on the first evaluation', () => {
    const e = new AlertEngine([{ ...rules.find((r) => r.name === 'backup_failed')!, forMs: 0 }]);
    expect(e.evaluate({ backup_failed: 1 }, at(0)).map((x) => [x.rule, x.kind])).toEqual([['backup_failed', 'firing']]);
  });

  it('no built-in fires at the first evaluation: each waits its for-duration', () => {
    const e = new AlertEngine(buildRules(cfg()));
    const bad = { backup_failed: 1, backup_age: 1e9, disk_free_bytes: 0, dependency_down: 1 };
    expect(e.evaluate(bad, at(0))).toEqual([]);
    expect(e.evaluate(bad, at(59)).map((x) => x.rule)).toEqual([]);
    expect(
      e
        .evaluate(bad, at(60))
        .map((x) => x.rule)
        .sort(),
    ).toEqual(['backup_failed', 'dependency_down']);
    expect(
      e
        .evaluate(bad, at(600))
        .map((x) => x.rule)
        .sort(),
    ).toEqual(['backup_stale', 'disk_low']);
  });
});
