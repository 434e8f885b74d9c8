import { describe, it, expect } from 'vitest';
import { runChecks, worstStatus, exitCodeFor, SkipCheck } from '../../src/health/runner.js';
import { selectChecks, invalidConfigReport, CHECK_NAMES } from '../../src/health/index.js';
import { HealthResources } from '../../src/health/resources.js';
import { parseInfo } from '../../src/health/checks/redis.js';
import type { CheckDefinition, CheckOutcome } from '../../src/health/types.js';
import { DEFAULTS } from '../../src/config/defaults.js';
import { DependencyError, UsageError } from '../../src/errors.js';

const NOW = new Date('2026-03-01T12:00:00Z');
const config = structuredClone(DEFAULTS);

function base() {
  return { config, now: NOW, deep: false, resources: new HealthResources(config, 1000), configWarnings: [] };
}

const check = (name: string, run: CheckDefinition['run']): CheckDefinition => ({ name, description: name, run });
const after = (ms: number, outcome: CheckOutcome) => () =>
  new Promise<CheckOutcome>((r) => setTimeout(() => r(outcome), ms));

describe('health aggregation', () => {
  it('orders ok < warn < unknown < critical and maps exit codes 0/1/2', () => {
    expect(worstStatus([])).toBe('ok');
    expect(worstStatus(['ok', 'warn', 'ok'])).toBe('warn');
    expect(worstStatus(['warn', 'unknown'])).toBe('unknown');
    expect(worstStatus(['unknown', 'critical', 'warn'])).toBe('critical');
    expect([exitCodeFor('ok'), exitCodeFor('warn'), exitCodeFor('unknown'), exitCodeFor('critical')]).toEqual([
      0, 1, 2, 2,
    ]);
  });
});

describe('runChecks', () => {
  it('runs checks concurrently and reports each with a duration, in definition order', async () => {
    const t0 = Date.now();
    const report = await runChecks(
      [
        check('a', after(250, { status: 'ok', detail: 'a fine' })),
        check('b', after(250, { status: 'warn', detail: 'b meh', hint: 'fix b' })),
      ],
      base(),
      { timeoutMs: 5000, checkTimeoutMs: 3000 },
    );
    const elapsed = Date.now() - t0;
    expect(elapsed).toBeLessThan(480); // sequential would be >= 500
    expect(report.status).toBe('warn');
    expect(report.exitCode).toBe(1);
    expect(report.ok).toBe(false);
    expect(report.checkedAt).toBe(NOW.toISOString());
    expect(report.checks.map((c) => c.name)).toEqual(['a', 'b']);
    expect(report.checks[0]).toMatchObject({ status: 'ok', detail: 'a fine' });
    expect(report.checks[0]!.hint).toBeUndefined();
    expect(report.checks[1]).toMatchObject({ status: 'warn', hint: 'fix b' });
    expect(report.checks[1]!.durationMs).toBeGreaterThanOrEqual(240);
  });

  it('a hung check reports unknown "timed out after N ms", its signal aborts, and the others still report', async () => {
    let aborted = false;
    const hung = check('hung', (ctx) => {
      ctx.signal.addEventListener('abort', () => (aborted = true));
      return new Promise<CheckOutcome>(() => undefined); // never settles
    });
    const t0 = Date.now();
    const report = await runChecks([hung, check('fine', after(10, { status: 'ok', detail: 'ok' }))], base(), {
      timeoutMs: 5000,
      checkTimeoutMs: 300,
    });
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(aborted).toBe(true);
    expect(report.checks[0]).toMatchObject({ name: 'hung', status: 'unknown', detail: 'timed out after 300 ms' });
    expect(report.checks[0]!.hint).toMatch(/check_timeout_ms/);
    expect(report.checks[1]).toMatchObject({ name: 'fine', status: 'ok' });
    expect(report.status).toBe('unknown');
    expect(report.exitCode).toBe(2);
  });

  it('the overall timeout bounds every check and the cleanup together', async () => {
    let cleaned = false;
    const t0 = Date.now();
    const report = await runChecks([check('slow', () => new Promise<CheckOutcome>(() => undefined))], base(), {
      timeoutMs: 400,
      checkTimeoutMs: 3000,
      // A close that never finishes must not hold the report back.
      cleanup: () => {
        cleaned = true;
        return new Promise<void>(() => undefined);
      },
    });
    const elapsed = Date.now() - t0;
    expect(cleaned).toBe(true);
    expect(elapsed).toBeLessThan(400 + 150); // the budget plus timer slack on a busy machine
    expect(report.checks[0]!.status).toBe('unknown');
    expect(report.checks[0]!.detail).toMatch(/^timed out after 36\d ms$/);
    expect(report.timeoutMs).toBe(400);
  });

  it('grades thrown errors: WksError -> critical with its hint, SkipCheck -> unknown skipped, other -> unknown', async () => {
    const report = await runChecks(
      [
        check('dep', async () => {
          throw new DependencyError('Redis at h:1 is unreachable (connection refused)', { hint: 'start redis' });
        }),
        check('skip', async () => {
          throw new SkipCheck('database unavailable: gone');
        }),
        check('bug', () => {
          throw new TypeError('x is not a function'); // synchronous throw
        }),
      ],
      base(),
      { timeoutMs: 1000, checkTimeoutMs: 1000 },
    );
    expect(report.checks[0]).toMatchObject({
      status: 'critical',
      detail: 'Redis at h:1 is unreachable (connection refused)',
      hint: 'start redis',
    });
    expect(report.checks[1]).toMatchObject({ status: 'unknown', detail: 'skipped: database unavailable: gone' });
    expect(report.checks[2]).toMatchObject({ status: 'unknown', detail: 'check failed: x is not a function' });
    expect(report.status).toBe('critical');
  });
});

describe('selectChecks', () => {
  it('defaults to every check and normalises order and duplicates', () => {
    expect(selectChecks(undefined)).toEqual([...CHECK_NAMES]);
    expect(selectChecks(['backups', 'database', 'BACKUPS'])).toEqual(['database', 'backups']);
  });
  it('rejects an unknown name with a suggestion (usage error)', () => {
    expect(() => selectChecks(['databse'])).toThrow(UsageError);
    try {
      selectChecks(['databse']);
    } catch (err) {
      expect((err as UsageError).hint).toMatch(/did you mean database\?/);
      expect((err as UsageError).exitCode).toBe(2);
    }
  });
});

describe('invalidConfigReport', () => {
  it('reports config critical and the rest unknown', () => {
    const r = invalidConfigReport(
      { message: 'configuration is invalid (1 problem)', hint: 'fix it', issues: [{ key: 'REDIS_PORT' }] },
      ['database'],
      NOW,
    );
    expect(r.status).toBe('critical');
    expect(r.exitCode).toBe(2);
    expect(r.checks).toEqual([
      {
        name: 'config',
        status: 'critical',
        detail: 'configuration is invalid (1 problem)',
        hint: 'fix it',
        durationMs: 0,
        data: { issues: [{ key: 'REDIS_PORT' }] },
      },
      { name: 'database', status: 'unknown', detail: 'skipped: configuration invalid', durationMs: 0 },
    ]);
  });
});

describe('HealthResources', () => {
  it('clamps driver timeouts to the check budget without touching the original config', () => {
    const c = structuredClone(DEFAULTS);
    const clamped = new HealthResources(c, 700).clampedConfig();
    expect(clamped.database.busy_timeout_ms).toBe(700);
    expect(clamped.database.query_timeout_ms).toBe(700);
    expect(clamped.database.pooling.connection_timeout_ms).toBe(700);
    expect(clamped.redis.connection.connect_timeout_ms).toBe(700);
    expect(c.database.busy_timeout_ms).toBe(DEFAULTS.database.busy_timeout_ms);
  });
  it('runs cleanups once, in reverse order, even when one fails', async () => {
    const r = new HealthResources(DEFAULTS, 100);
    const order: string[] = [];
    r.onClose(() => void order.push('first'));
    r.onClose(() => {
      order.push('second');
      throw new Error('boom');
    });
    await r.close();
    await r.close();
    expect(order).toEqual(['second', 'first']);
  });
});

describe('parseInfo', () => {
  it('reads key:value lines of INFO', () => {
    const info = parseInfo(
      '# Memory\r\nused_memory:1024\r\nmaxmemory:0\r\nmaxmemory_policy:noeviction\r\n\r\n# Stats\r\nevicted_keys:3\r\n',
    );
    expect(info).toMatchObject({
      used_memory: '1024',
      maxmemory: '0',
      maxmemory_policy: 'noeviction',
      evicted_keys: '3',
    });
  });
});
