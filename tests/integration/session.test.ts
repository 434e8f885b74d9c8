import { describe, it, expect, afterAll, beforeEach } from 'vitest';
import { createTestRedis } from '../helpers/services.js';
import { loadConfig } from '../../src/config/loader.js';
import { listSessions, revokeSession, tokenFingerprint } from '../../src/redis/sessions.js';
import { ConfigError, NotFoundError } from '../../src/errors.js';
import { tmpDir } from '../helpers/tmp.js';

const redis = await createTestRedis('session');
afterAll(async () => redis?.cleanup());

describe.skipIf(!redis)('sessions', () => {
  const config = () => loadConfig({ env: redis!.env, cwd: tmpDir('sess') }).config;
  const key = (u: string) => `${redis!.namespace}:session:${u}`;
  beforeEach(async () => {
    await redis!.client.del(key('u1'), key('u2'));
    await redis!.client.hset(key('u1'), {
      token: 'secret-token-u1',
      expires_at: '1780000000',
      user_data: '{"role":"admin"}',
      last_activity: '1779990000',
    });
    await redis!.client.expire(key('u1'), 86400);
    await redis!.client.hset(key('u2'), {
      token: 'secret-token-u2',
      expires_at: '1780000000',
      user_data: '{}',
      last_activity: '1779000000',
    });
  });

  it('lists sessions newest activity first, never showing the token', async () => {
    const res = await listSessions(config());
    expect(res.sessions.map((s) => s.userId)).toEqual(['u1', 'u2']);
    const u1 = res.sessions[0]!;
    expect(u1.tokenFingerprint).toBe(tokenFingerprint('secret-token-u1'));
    expect(JSON.stringify(res)).not.toContain('secret-token');
    expect(u1.userData).toEqual({ role: 'admin' });
    expect(u1.lastActivity?.toISOString()).toBe(new Date(1779990000 * 1000).toISOString());
    expect(u1.ttlMs).toBeGreaterThan(86_000_000);
    expect(res.sessions[1]!.ttlMs).toBeNull();
    const one = await listSessions(config(), { user: 'u2' });
    expect(one.sessions.map((s) => s.userId)).toEqual(['u2']);
  });

  it('revokes one session; dry run and decline keep it; unknown user is exit 5', async () => {
    expect((await revokeSession(config(), 'u1', { dryRun: true })).revoked).toBe(false);
    expect((await revokeSession(config(), 'u1', { confirm: async () => false })).revoked).toBe(false);
    expect(await redis!.client.exists(key('u1'))).toBe(1);
    expect((await revokeSession(config(), 'u1')).revoked).toBe(true);
    expect(await redis!.client.exists(key('u1'))).toBe(0);
    expect(await redis!.client.exists(key('u2'))).toBe(1);
    await expect(revokeSession(config(), 'nobody')).rejects.toBeInstanceOf(NotFoundError);
  });

  it('fails with one line naming REDIS_ENABLED when Redis is disabled', async () => {
    const { config: off } = loadConfig({ env: { ...redis!.env, REDIS_ENABLED: 'false' }, cwd: tmpDir('sess') });
    const err = await listSessions(off).catch((x) => x);
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toMatch(/REDIS_ENABLED=false/);
  });
});
