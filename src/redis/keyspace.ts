/**
 * The Redis key convention of the platform's schema (docs/platform-schema.md), under a configurable
 * namespace (config.redis.namespace, REDIS_NAMESPACE; default `wks`):
 *
 *   {ns}:session:{userId}               hash   token, expires_at, user_data, last_activity  (TTL 24h)
 *   {ns}:workflow:{executionId}         hash   status, progress, current_step, data, started_at (TTL 1h)
 *                                       (the original application wrote a JSON string here: both are read)
 *   {ns}:ratelimit:{userId}:{endpoint}  string request count (TTL = the window)
 *   {ns}:executions:active              set    execution ids
 *   {ns}:lock:execution:{executionId}   string worker id (SET NX, TTL 300s)
 *   {ns}:cache:api:{hash}               string JSON response (TTL 1h)
 *
 * Pure functions only: no connection, no ioredis import.
 */

export type WorkflowStatus = 'pending' | 'running' | 'completed' | 'failed';

/** Escape the glob characters SCAN MATCH understands, so an id is matched literally. */
export function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

/** Key builders and SCAN patterns for one namespace. */
export interface Keyspace {
  readonly namespace: string;
  session(userId: string | number): string;
  workflow(executionId: string | number): string;
  rateLimit(userId: string | number, endpoint: string): string;
  readonly activeExecutions: string;
  lock(executionId: string | number): string;
  cache(hash: string): string;
  /** SCAN MATCH patterns. */
  readonly patterns: {
    sessions: string;
    workflows: string;
    locks: string;
    cache: string;
    rateLimits: string;
    /** Every rate-limit key of one user. */
    rateLimitsOf(userId: string | number): string;
  };
  /** Inverse of lock(): the execution id, or null when the key is not a lock key of this namespace. */
  parseLockKey(key: string): string | null;
  /** Inverse of session(). */
  parseSessionKey(key: string): string | null;
  /** Inverse of workflow(). */
  parseWorkflowKey(key: string): string | null;
  /** Inverse of rateLimit(): the user id is the first segment, the endpoint is the rest (it may contain ':'). */
  parseRateLimitKey(key: string): { userId: string; endpoint: string } | null;
}

/** Build the keyspace for `namespace` (default `wks`, the platform's). */
export function keyspace(namespace = 'wks'): Keyspace {
  const ns = namespace;
  const esc = escapeGlob(ns);
  const strip =
    (prefix: string) =>
    (key: string): string | null =>
      key.startsWith(prefix) && key.length > prefix.length ? key.slice(prefix.length) : null;
  const lockPrefix = `${ns}:lock:execution:`;
  const sessionPrefix = `${ns}:session:`;
  const workflowPrefix = `${ns}:workflow:`;
  const ratePrefix = `${ns}:ratelimit:`;
  return {
    namespace: ns,
    session: (u) => `${sessionPrefix}${u}`,
    workflow: (e) => `${workflowPrefix}${e}`,
    rateLimit: (u, endpoint) => `${ratePrefix}${u}:${endpoint}`,
    activeExecutions: `${ns}:executions:active`,
    lock: (e) => `${lockPrefix}${e}`,
    cache: (h) => `${ns}:cache:api:${h}`,
    patterns: {
      sessions: `${esc}:session:*`,
      workflows: `${esc}:workflow:*`,
      locks: `${esc}:lock:execution:*`,
      cache: `${esc}:cache:api:*`,
      rateLimits: `${esc}:ratelimit:*`,
      rateLimitsOf: (u) => `${esc}:ratelimit:${escapeGlob(String(u))}:*`,
    },
    parseLockKey: strip(lockPrefix),
    parseSessionKey: strip(sessionPrefix),
    parseWorkflowKey: strip(workflowPrefix),
    parseRateLimitKey(key) {
      const rest = strip(ratePrefix)(key);
      if (rest === null) return null;
      const i = rest.indexOf(':');
      if (i <= 0 || i === rest.length - 1) return null;
      return { userId: rest.slice(0, i), endpoint: rest.slice(i + 1) };
    },
  };
}

/** Workflow execution state as stored in Redis, normalised from either form. */
export interface WorkflowState {
  /** Which form it was stored in: the platform's hash or the legacy JSON string. */
  form: 'hash' | 'json';
  status: string | null;
  /** 0-100, or null when absent/unparseable. */
  progress: number | null;
  currentStep: string | null;
  /** The `data` field, parsed when it is JSON, else the raw string. */
  data: unknown;
  /** started_at as a Date (seconds or milliseconds since the epoch are both accepted). */
  startedAt: Date | null;
  /** Every field as stored (strings for a hash; the parsed object for JSON). */
  raw: Record<string, unknown>;
}

function toNumber(v: unknown): number | null {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
  return null;
}

/**
 * Epoch number (seconds or milliseconds) or ISO text -> Date. Numbers below
 * 1e11 are taken as seconds (1e11 ms is 1973; 1e11 s is year 5138).
 */
export function epochToDate(v: unknown): Date | null {
  const n = toNumber(v);
  if (n !== null) {
    if (n <= 0) return null;
    return new Date(n < 1e11 ? n * 1000 : n);
  }
  if (typeof v === 'string' && v.trim() !== '') {
    const d = new Date(v);
    return Number.isNaN(d.getTime()) ? null : d;
  }
  return null;
}

function parseMaybeJson(v: unknown): unknown {
  if (typeof v !== 'string') return v ?? null;
  const t = v.trim();
  if (t.startsWith('{') || t.startsWith('[')) {
    try {
      return JSON.parse(t);
    } catch {
      return v;
    }
  }
  return v;
}

function normalise(form: 'hash' | 'json', raw: Record<string, unknown>): WorkflowState {
  // The legacy JSON used camelCase in places (currentStep, startedAt); accept both spellings.
  const pick = (...names: string[]): unknown => {
    for (const n of names) if (raw[n] !== undefined && raw[n] !== null) return raw[n];
    return undefined;
  };
  const status = pick('status');
  const step = pick('current_step', 'currentStep');
  const progress = toNumber(pick('progress'));
  return {
    form,
    status: typeof status === 'string' ? status : status === undefined ? null : String(status),
    progress: progress === null ? null : Math.max(0, Math.min(100, progress)),
    currentStep: step === undefined ? null : String(step),
    data: parseMaybeJson(pick('data')),
    startedAt: epochToDate(pick('started_at', 'startedAt')),
    raw,
  };
}

/**
 * Read workflow state from what Redis returned for `{ns}:workflow:{id}`:
 * `type` is the result of TYPE, `value` the HGETALL result (hash) or GET
 * result (string). Returns null when the key does not exist or holds
 * something unreadable (a string that is not a JSON object).
 */
export function parseWorkflowState(type: string, value: unknown): WorkflowState | null {
  if (type === 'hash' && value && typeof value === 'object') {
    const fields = value as Record<string, string>;
    if (Object.keys(fields).length === 0) return null;
    return normalise('hash', fields);
  }
  if (type === 'string' && typeof value === 'string') {
    try {
      const parsed = JSON.parse(value);
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed))
        return normalise('json', parsed as Record<string, unknown>);
    } catch {
      /* not JSON: unreadable */
    }
    return null;
  }
  return null;
}

/** Session as stored (hash), with the token never exposed: only a short fingerprint. */
export interface SessionInfo {
  userId: string;
  /** First 12 hex chars of sha256(token), so two sessions can be told apart without revealing it. */
  tokenFingerprint: string | null;
  expiresAt: Date | null;
  lastActivity: Date | null;
  userData: unknown;
  /** Milliseconds until Redis expires the key; null when it has no TTL. */
  ttlMs: number | null;
}
