/**
 * Security of the daemon's probes: with a bearer token configured, /ready and
 * /health answer without it (kubelet sends none) but show only verdicts; a
 * failing /ready is cached briefly so a probe storm during an outage cannot
 * run the checks back to back.
 */
import { describe, it, expect } from 'vitest';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { runWks } from '../helpers/cli.js';
import { startServe } from '../helpers/serve.js';
import { tmpDir } from '../helpers/tmp.js';
import { tokenMatches, publicProbe } from '../../src/serve/http.js';

describe('probe documents and the bearer token', () => {
  it('without the token /ready and /health show only verdicts; with it, everything', async () => {
    const dir = tmpDir('e2e-serve-auth');
    const env = { DATABASE_PATH: path.join(dir, 'w.db'), BACKUP_STORAGE_PATH: path.join(dir, 'b') };
    expect((await runWks(['migrate', 'up', '--no-backup'], { env, cwd: dir })).code).toBe(0);
    const token = randomBytes(16).toString('hex');
    const s = await startServe([], { ...env, METRICS_BEARER_TOKEN: token }, dir);
    try {
      const anon = await fetch(`${s.url}/ready`);
      const doc = (await anon.json()) as Record<string, unknown>;
      expect(anon.status).toBe(200);
      expect(Object.keys(doc).sort()).toEqual(['checked_at', 'checks', 'ready']);
      expect(JSON.stringify(doc)).not.toMatch(/instance|holder|pid|detail|jobs|w\.db/);
      const full = (await (
        await fetch(`${s.url}/ready`, { headers: { Authorization: `Bearer ${token}` } })
      ).json()) as Record<string, unknown>;
      expect(full).toHaveProperty('leader');
      expect(full).toHaveProperty('jobs');
      const health = (await (await fetch(`${s.url}/health`)).json()) as Record<string, unknown>;
      expect(health).toEqual({ status: 'ok' });
      expect((await fetch(`${s.url}/metrics`, { headers: { Authorization: `Bearer ${token}x` } })).status).toBe(401);
    } finally {
      s.child.kill('SIGTERM');
      await s.exited;
    }
  });

  it('a failing /ready is reused for a short time (probes do not re-run the checks back to back)', async () => {
    const dir = tmpDir('e2e-serve-failcache');
    // No database file: the readiness database check fails.
    const s = await startServe([], { DATABASE_PATH: path.join(dir, 'missing.db'), BACKUP_STORAGE_PATH: dir }, dir);
    try {
      const a = await fetch(`${s.url}/ready`);
      const first = (await a.json()) as { ready: boolean; checked_at: string };
      expect(a.status).toBe(503);
      expect(first.checked_at).toMatch(/^\d{4}-\d\d-\d\dT/);
      await new Promise((r) => setTimeout(r, 30)); // distinct timestamps if the checks ran again
      const second = (await (await fetch(`${s.url}/ready`)).json()) as { checked_at: string };
      expect(second.checked_at).toBe(first.checked_at);
    } finally {
      s.child.kill('SIGTERM');
      await s.exited;
    }
  });

  it('compares tokens over digests: wrong, shorter, longer, missing and non-Bearer values are refused', () => {
    expect(tokenMatches('Bearer s3cret', 's3cret')).toBe(true);
    expect(tokenMatches('bearer   s3cret ', 's3cret')).toBe(true);
    for (const h of ['Bearer s3cre', 'Bearer s3cretX', 'Bearer ', undefined, 's3cret', 'Basic s3cret'])
      expect(tokenMatches(h, 's3cret'), String(h)).toBe(false);
    expect(
      publicProbe({ ready: false, checks: [{ name: 'database', status: 'critical', detail: '/srv/x.db' }] }),
    ).toEqual({ ready: false, checks: [{ name: 'database', status: 'critical' }] });
  });
});
