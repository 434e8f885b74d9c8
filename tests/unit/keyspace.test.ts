import { describe, it, expect } from 'vitest';
import { keyspace, escapeGlob, parseWorkflowState, epochToDate } from '../../src/redis/keyspace.js';

describe('keyspace', () => {
  it("builds the platform's keys under the default namespace", () => {
    const k = keyspace();
    expect(k.session(123)).toBe('wks:session:123');
    expect(k.workflow(456)).toBe('wks:workflow:456');
    expect(k.rateLimit('u1', '/api/auth')).toBe('wks:ratelimit:u1:/api/auth');
    expect(k.activeExecutions).toBe('wks:executions:active');
    expect(k.lock(7)).toBe('wks:lock:execution:7');
    expect(k.cache('abc')).toBe('wks:cache:api:abc');
    expect(k.patterns.locks).toBe('wks:lock:execution:*');
  });

  it('uses a configurable namespace and escapes glob characters in patterns', () => {
    const k = keyspace('prod.eu');
    expect(k.lock(1)).toBe('prod.eu:lock:execution:1');
    expect(keyspace('a*b').patterns.locks).toBe('a\\*b:lock:execution:*');
    expect(k.patterns.rateLimitsOf('u[1]')).toBe('prod.eu:ratelimit:u\\[1\\]:*');
    expect(escapeGlob('a?b\\c')).toBe('a\\?b\\\\c');
  });

  it('parses keys back, and rejects keys of another namespace', () => {
    const k = keyspace('wks');
    expect(k.parseLockKey('wks:lock:execution:42')).toBe('42');
    expect(k.parseLockKey('other:lock:execution:42')).toBeNull();
    expect(k.parseLockKey('wks:lock:execution:')).toBeNull();
    expect(k.parseSessionKey('wks:session:u9')).toBe('u9');
    expect(k.parseRateLimitKey('wks:ratelimit:u1:/api/auto:run')).toEqual({ userId: 'u1', endpoint: '/api/auto:run' });
    expect(k.parseRateLimitKey('wks:ratelimit:u1')).toBeNull();
  });
});

describe('workflow state', () => {
  it("reads the platform's hash form", () => {
    const s = parseWorkflowState('hash', {
      status: 'running',
      progress: '42',
      current_step: 'load',
      data: '{"a":1}',
      started_at: '1780000000000',
    })!;
    expect(s).toMatchObject({ form: 'hash', status: 'running', progress: 42, currentStep: 'load', data: { a: 1 } });
    expect(s.startedAt?.getTime()).toBe(1780000000000);
  });

  it('reads the legacy JSON string form (camelCase, seconds)', () => {
    const s = parseWorkflowState(
      'string',
      JSON.stringify({ status: 'completed', progress: 100, currentStep: 'done', startedAt: 1780000000, data: 'x' }),
    )!;
    expect(s).toMatchObject({ form: 'json', status: 'completed', progress: 100, currentStep: 'done', data: 'x' });
    expect(s.startedAt?.getTime()).toBe(1780000000 * 1000);
  });

  it('returns null for missing or unreadable state', () => {
    expect(parseWorkflowState('none', null)).toBeNull();
    expect(parseWorkflowState('hash', {})).toBeNull();
    expect(parseWorkflowState('string', 'not json')).toBeNull();
    expect(parseWorkflowState('string', '[1,2]')).toBeNull();
    expect(parseWorkflowState('set', ['a'])).toBeNull();
  });

  it('clamps progress and converts epochs', () => {
    expect(parseWorkflowState('hash', { status: 'running', progress: '250' })!.progress).toBe(100);
    expect(parseWorkflowState('hash', { status: 'running', progress: 'abc' })!.progress).toBeNull();
    expect(epochToDate('2026-01-01T00:00:00Z')?.toISOString()).toBe('2026-01-01T00:00:00.000Z');
    expect(epochToDate(0)).toBeNull();
    expect(epochToDate('')).toBeNull();
  });
});
