import { describe, it, expect } from 'vitest';
import { parseDuration, formatDuration } from '../../src/util/duration.js';
import { nearest } from '../../src/util/suggest.js';
import { redactText, redactDeep, registerSecret, clearSecrets } from '../../src/redact.js';

describe('durations', () => {
  it('parses units and combinations', () => {
    expect(parseDuration('90s')).toBe(90_000);
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('7d')).toBe(604_800_000);
    expect(parseDuration('250')).toBe(250);
    expect(parseDuration('5 minutes')).toBeUndefined();
    expect(parseDuration('')).toBeUndefined();
  });
  it('formats compactly', () => {
    expect(formatDuration(850)).toBe('850ms');
    expect(formatDuration(4_260)).toBe('4.2s');
    expect(formatDuration(42_900)).toBe('42s');
    expect(formatDuration(303_000)).toBe('5m 3s');
    expect(formatDuration(90_000_000)).toBe('1d 1h');
  });
});

describe('suggestions', () => {
  it('finds near names only', () => {
    expect(nearest('bakup', ['backup', 'lock'])).toBe('backup');
    expect(nearest('zzz', ['backup', 'lock'])).toBeUndefined();
  });
});

describe('redaction', () => {
  it('masks URL passwords and key=value secrets', () => {
    expect(redactText('postgres://user:hunter2@db:5432/x failed')).toBe('postgres://user:****@db:5432/x failed');
    expect(redactText('host=db password=hunter2 user=x')).toBe('host=db password=**** user=x');
  });
  it('masks registered secret values anywhere, deep', () => {
    clearSecrets();
    registerSecret('s3cr3t-value');
    expect(redactDeep({ a: ['x s3cr3t-value y'] })).toEqual({ a: ['x **** y'] });
    clearSecrets();
  });
});
