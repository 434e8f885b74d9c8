import { describe, it, expect } from 'vitest';
import { planRetention, type RetentionItem, type RetentionPolicy } from '../../src/backup/retention.js';

const NOW = new Date('2026-11-29T03:00:00Z');
const H = 3_600_000;
const D = 24 * H;

const none: RetentionPolicy = {
  retentionDays: 0,
  keepLast: 0,
  keepHourly: 0,
  keepDaily: 0,
  keepWeekly: 0,
  keepMonthly: 0,
  preMigrationMinAgeMs: 7 * D,
};

function item(id: string, ageMs: number, extra: Partial<RetentionItem> = {}): RetentionItem {
  return { id, type: 'scheduled', createdAt: new Date(NOW.getTime() - ageMs), verified: null, ...extra };
}
const kept = (d: ReturnType<typeof planRetention>) =>
  d
    .filter((x) => x.keep)
    .map((x) => x.id)
    .sort();
const gone = (d: ReturnType<typeof planRetention>) =>
  d
    .filter((x) => !x.keep)
    .map((x) => x.id)
    .sort();

describe('planRetention', () => {
  it('retention_days deletes everything older than the window, but never the newest', () => {
    const items = [item('a', 1 * D), item('b', 10 * D), item('c', 31 * D), item('d', 60 * D)];
    const d = planRetention(items, { ...none, retentionDays: 30 }, NOW);
    expect(kept(d)).toEqual(['a', 'b']);
    expect(gone(d)).toEqual(['c', 'd']);
    expect(d.find((x) => x.id === 'c')!.reasons[0]).toMatch(/older than retention_days 30 \(age 31d\)/);
  });

  it('keep_last keeps the N newest regardless of age (backups that stopped running are not all deleted)', () => {
    const items = [item('a', 40 * D), item('b', 50 * D), item('c', 60 * D), item('d', 70 * D)];
    const d = planRetention(items, { ...none, retentionDays: 30, keepLast: 2 }, NOW);
    expect(kept(d)).toEqual(['a', 'b']);
    expect(d.find((x) => x.id === 'b')!.reasons).toContain('keep_last 2/2');
  });

  it('GFS keeps the newest backup of each of the last N hours/days/weeks/months inside the window', () => {
    // One backup every hour for 3 days.
    const items = Array.from({ length: 72 }, (_, i) => item(`h${String(i).padStart(2, '0')}`, i * H + 5 * 60_000));
    const d = planRetention(items, { ...none, retentionDays: 30, keepHourly: 6, keepDaily: 3 }, NOW);
    // hourly: the 6 newest hours -> h00..h05; daily: newest of 2026-11-29, -28, -27.
    // now is 03:00; h00 is 02:55 on the 29th; the 28th's newest is the one at 23:55 (i=3)
    // and the 27th's newest is i=27 (23:55 on the 27th).
    expect(kept(d)).toEqual(['h00', 'h01', 'h02', 'h03', 'h04', 'h05', 'h27']);
    expect(d.find((x) => x.id === 'h27')!.reasons).toEqual(['daily 2026-11-27']);
    expect(gone(d)).toHaveLength(72 - 7);
  });

  it('weekly buckets are ISO weeks and monthly buckets are calendar months (UTC)', () => {
    const items = [
      item('sun', 0, { createdAt: new Date('2026-11-29T01:00:00Z') }), // Sunday, ISO week 48
      item('mon', 0, { createdAt: new Date('2026-11-23T01:00:00Z') }), // Monday, ISO week 48
      item('sat', 0, { createdAt: new Date('2026-11-22T01:00:00Z') }), // Saturday, ISO week 47
      item('oct', 0, { createdAt: new Date('2026-10-31T23:00:00Z') }),
      item('oct2', 0, { createdAt: new Date('2026-10-01T00:00:00Z') }),
    ];
    const w = planRetention(items, { ...none, keepWeekly: 2 }, NOW);
    expect(kept(w)).toEqual(['sat', 'sun']);
    const m = planRetention(items, { ...none, keepMonthly: 2 }, NOW);
    expect(kept(m)).toEqual(['oct', 'sun']);
  });

  it('never deletes the newest verified backup, even when it is old', () => {
    const items = [
      item('new', 1 * H, { verified: false }),
      item('old-ok', 90 * D, { verified: true }),
      item('older', 100 * D, { verified: true }),
    ];
    const d = planRetention(items, { ...none, retentionDays: 30 }, NOW);
    expect(kept(d)).toEqual(['new', 'old-ok']);
    expect(d.find((x) => x.id === 'old-ok')!.reasons).toContain('newest verified backup');
  });

  it('keeps pre-migration backups younger than the minimum age, and lets older ones go', () => {
    const items = [
      item('new', 1 * H),
      item('pm-young', 40 * D, { type: 'pre-migration' }),
      item('pm-old', 40 * D, { type: 'pre-migration' }),
    ];
    const d = planRetention(items, { ...none, retentionDays: 30, preMigrationMinAgeMs: 45 * D }, NOW);
    expect(kept(d)).toEqual(['new', 'pm-old', 'pm-young']);
    const d2 = planRetention(items, { ...none, retentionDays: 30, preMigrationMinAgeMs: 7 * D }, NOW);
    expect(kept(d2)).toEqual(['new']);
  });

  it('with no GFS rule, everything inside the window is kept; with retention_days 0 nothing ages out', () => {
    const items = [item('a', 1 * D), item('b', 29 * D), item('c', 400 * D)];
    expect(kept(planRetention(items, { ...none, retentionDays: 30 }, NOW))).toEqual(['a', 'b']);
    expect(kept(planRetention(items, { ...none, retentionDays: 0 }, NOW))).toEqual(['a', 'b', 'c']);
  });

  it('keeps backups dated in the future and is deterministic', () => {
    const items = [item('future', -2 * H), item('a', 1 * D), item('b', 50 * D)];
    const p = { ...none, retentionDays: 30 };
    const d = planRetention(items, p, NOW);
    expect(kept(d)).toEqual(['a', 'future']);
    expect(planRetention([...items].reverse(), p, NOW)).toEqual(d);
  });

  it('defaults-like policy over a year of daily backups keeps a bounded, explained set', () => {
    const items = Array.from({ length: 365 }, (_, i) => item(`d${String(i).padStart(3, '0')}`, i * D + H));
    const d = planRetention(
      items,
      {
        retentionDays: 30,
        keepLast: 3,
        keepHourly: 24,
        keepDaily: 7,
        keepWeekly: 4,
        keepMonthly: 6,
        preMigrationMinAgeMs: 7 * D,
      },
      NOW,
    );
    const k = d.filter((x) => x.keep);
    expect(k.length).toBeLessThanOrEqual(3 + 24 + 7 + 4 + 6);
    expect(k.every((x) => x.reasons.length > 0)).toBe(true);
    expect(d.filter((x) => !x.keep).every((x) => x.reasons.length === 1)).toBe(true);
    // nothing older than 30 days survives except via keep_last/newest (none here)
    expect(k.every((x) => Number(x.id.slice(1)) <= 30)).toBe(true);
  });
});
