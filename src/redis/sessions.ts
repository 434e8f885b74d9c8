/**
 * User sessions (`{ns}:session:{userId}`, a hash: token, expires_at,
 * user_data, last_activity). The token is never shown: only a short
 * sha256 fingerprint, so two sessions can be told apart.
 */
import { createHash } from 'node:crypto';
import type { Config } from '../config/index.js';
import { NotFoundError } from '../errors.js';
import { requireRedisEnabled, scanKeys, withRedis } from './client.js';
import { epochToDate, type SessionInfo } from './keyspace.js';

export type { SessionInfo } from './keyspace.js';

/** First 12 hex characters of sha256(token). */
export function tokenFingerprint(token: string | undefined | null): string | null {
  return token ? createHash('sha256').update(token).digest('hex').slice(0, 12) : null;
}

function parseUserData(v: string | undefined): unknown {
  if (v === undefined) return null;
  try {
    return JSON.parse(v);
  } catch {
    return v;
  }
}

function toSession(userId: string, type: string, value: unknown, pttl: number): SessionInfo {
  let fields: Record<string, string> = {};
  if (type === 'hash' && value && typeof value === 'object') fields = value as Record<string, string>;
  else if (type === 'string' && typeof value === 'string') {
    // Tolerate a JSON-string session like the legacy workflow state.
    try {
      const o = JSON.parse(value);
      if (o && typeof o === 'object')
        fields = Object.fromEntries(
          Object.entries(o).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]),
        );
    } catch {
      /* unreadable: report the key with empty fields */
    }
  }
  return {
    userId,
    tokenFingerprint: tokenFingerprint(fields.token),
    expiresAt: epochToDate(fields.expires_at),
    lastActivity: epochToDate(fields.last_activity),
    userData: parseUserData(fields.user_data),
    ttlMs: pttl >= 0 ? pttl : null,
  };
}

export interface SessionList {
  namespace: string;
  sessions: SessionInfo[];
  truncated: boolean;
}

/**
 * List sessions (all, or one user's), newest activity first. Bounded SCAN
 * (cap default 10,000 sessions).
 * @throws ConfigError (Redis disabled), DependencyError (unreachable).
 */
export async function listSessions(config: Config, opts: { user?: string; cap?: number } = {}): Promise<SessionList> {
  requireRedisEnabled(config, '`wks session`');
  return withRedis(config, async ({ client, keys }) => {
    const state = { truncated: false };
    const found: string[] = [];
    if (opts.user !== undefined) {
      found.push(keys.session(opts.user));
    } else {
      for await (const batch of scanKeys(client, keys.patterns.sessions, { cap: opts.cap ?? 10_000, state }))
        found.push(...batch);
    }
    const sessions: SessionInfo[] = [];
    for (let i = 0; i < found.length; i += 500) {
      const batch = found.slice(i, i + 500);
      const p1 = client.pipeline();
      for (const k of batch) p1.type(k).pttl(k);
      const r1 = (await p1.exec()) ?? [];
      const p2 = client.pipeline();
      const reads: Array<{ key: string; type: string; pttl: number }> = [];
      batch.forEach((k, j) => {
        const type = String(r1[2 * j]?.[1]);
        if (type === 'hash') p2.hgetall(k);
        else if (type === 'string') p2.get(k);
        else return;
        reads.push({ key: k, type, pttl: Number(r1[2 * j + 1]?.[1]) });
      });
      const r2 = reads.length ? ((await p2.exec()) ?? []) : [];
      for (const [j, r] of reads.entries()) {
        sessions.push(toSession(keys.parseSessionKey(r.key) ?? r.key, r.type, r2[j]?.[1], r.pttl));
      }
    }
    sessions.sort((a, b) => (b.lastActivity?.getTime() ?? 0) - (a.lastActivity?.getTime() ?? 0));
    return { namespace: keys.namespace, sessions, truncated: state.truncated };
  });
}

/**
 * Revoke (delete) one user's session. `dryRun` only checks it exists.
 * @throws NotFoundError (no session, exit 5), ConfigError, DependencyError.
 */
export async function revokeSession(
  config: Config,
  userId: string,
  opts: { dryRun?: boolean; confirm?: (s: SessionInfo) => Promise<boolean> } = {},
): Promise<{ userId: string; revoked: boolean; session: SessionInfo }> {
  requireRedisEnabled(config, '`wks session`');
  return withRedis(config, async ({ client, keys }) => {
    const key = keys.session(userId);
    const [[, type], [, pttl]] = ((await client.multi().type(key).pttl(key).exec()) ?? []) as Array<[unknown, unknown]>;
    if (type === 'none') {
      throw new NotFoundError(`no session for user ${userId} (${key})`, {
        hint: '`wks session list` shows the sessions that exist',
      });
    }
    const value = type === 'hash' ? await client.hgetall(key) : type === 'string' ? await client.get(key) : null;
    const session = toSession(userId, String(type), value, Number(pttl));
    if (opts.dryRun) return { userId, revoked: false, session };
    if (opts.confirm && !(await opts.confirm(session))) return { userId, revoked: false, session };
    const n = await client.del(key);
    return { userId, revoked: n > 0, session };
  });
}
