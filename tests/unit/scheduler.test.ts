import { describe, it, expect } from 'vitest';
import { Scheduler, nextRuns } from '../../src/serve/scheduler.js';
import { createMetrics } from '../../src/metrics/registry.js';
import { JOB_NAMES, describeSchedule } from '../../src/serve/daemon.js';
import { DEFAULTS } from '../../src/config/defaults.js';

const val = async (m: ReturnType<typeof createMetrics>, job: string, result: string) =>
  (await m.jobRunsTotal.get()).values.find((v) => v.labels.job_name === job && v.labels.result === result)?.value ?? 0;

describe('nextRuns', () => {
  it("computes the platform's backup schedule from a fixed time", () => {
    const from = new Date('2026-03-01T03:00:00');
    const runs = nextRuns('0 2 * * *', 2, from);
    expect(runs.map((d) => [d.getDate(), d.getHours(), d.getMinutes()])).toEqual([
      [2, 2, 0],
      [3, 2, 0],
    ]);
  });

  it('describeSchedule lists every job with next runs, and why a job is off', async () => {
    const c = structuredClone(DEFAULTS);
    const s = await describeSchedule(c, { n: 2, from: new Date('2026-03-01T00:00:00Z') });
    expect(s.jobs.map((j) => j.name)).toEqual([...JOB_NAMES]);
    expect(s.jobs.find((j) => j.name === 'alerts')).toMatchObject({
      enabled: false,
      reason: expect.stringMatching(/monitoring.alerts.enabled/),
      next: [],
    });
    expect(s.jobs.find((j) => j.name === 'reap')!.next).toHaveLength(2);
    expect(s.leader.mechanism).toBe('file');
  });
});

describe('Scheduler', () => {
  it('never overlaps a job with itself and counts the skipped run', async () => {
    const m = createMetrics({ processDefaults: false });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const s = new Scheduler([{ name: 'slow', schedule: '0 0 1 1 *', enabled: true, run: () => gate }], { metrics: m });
    const first = s.trigger('slow');
    expect(await s.trigger('slow')).toBe('skipped_overlap');
    release();
    expect(await first).toBe('success');
    expect(await val(m, 'slow', 'success')).toBe(1);
    expect(await val(m, 'slow', 'skipped_overlap')).toBe(1);
    expect((await m.jobLastSuccess.get()).values[0]!.value).toBeGreaterThan(0);
  });

  it('counts and logs a failing job without throwing', async () => {
    const m = createMetrics({ processDefaults: false });
    const logs: string[] = [];
    const s = new Scheduler(
      [{ name: 'bad', schedule: '0 0 1 1 *', enabled: true, run: async () => Promise.reject(new Error('boom')) }],
      {
        metrics: m,
        log: (lvl, msg) => logs.push(`${lvl} ${msg}`),
      },
    );
    expect(await s.trigger('bad')).toBe('failure');
    expect(await val(m, 'bad', 'failure')).toBe(1);
    expect(s.status()[0]!.lastError).toBe('boom');
    expect(logs.some((l) => l.startsWith('error job bad failed: boom'))).toBe(true);
  });

  it('runs on schedule only while leader, and drain waits for the running job', async () => {
    const m = createMetrics({ processDefaults: false });
    let leader = false;
    let runs = 0;
    const s = new Scheduler([{ name: 'tick', schedule: '* * * * * *', enabled: true, run: async () => void runs++ }], {
      metrics: m,
      isLeader: () => leader,
    });
    s.start();
    expect(s.status()[0]!.nextRun).not.toBeNull();
    await new Promise((r) => setTimeout(r, 1300));
    expect(runs).toBe(0);
    leader = true;
    await new Promise((r) => setTimeout(r, 2100));
    s.stop();
    expect(runs).toBeGreaterThanOrEqual(1);
    expect(await s.drain(1000)).toBe(true);
    expect(s.status()[0]!.nextRun).toBeNull();
    expect(await s.trigger('tick')).toBe('stopped');
  });

  it('drain reports a job that outlives the grace period', async () => {
    const s = new Scheduler([
      { name: 'long', schedule: '0 0 1 1 *', enabled: true, run: () => new Promise((r) => setTimeout(r, 500)) },
    ]);
    const p = s.trigger('long');
    s.stop();
    expect(await s.drain(50)).toBe(false);
    await p;
  });
});
