/**
 * Credential redaction, applied to every log line, error message, `config show`
 * and --json document. Two mechanisms:
 *  - URL userinfo passwords are masked wherever they appear
 *    (`postgres://user:secret@host` -> `postgres://user:****@host`);
 *  - secret values loaded from configuration are registered here and masked
 *    verbatim wherever they appear in text.
 */

export const MASK = '****';

const registered = new Set<string>();

/** Remember a secret value so that redactText() masks it everywhere. Values shorter than 4 chars are ignored (too likely to collide with ordinary text). */
export function registerSecret(value: unknown): void {
  if (typeof value === 'string' && value.length >= 4) registered.add(value);
}

/** Forget all registered secrets (tests). */
export function clearSecrets(): void {
  registered.clear();
}

// scheme://user:password@host  -> keep user, mask password
const URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s:@/]*):([^\s@/]+)@/gi;
// scheme://token@host (no colon, e.g. redis://secret@host) is left alone: it is usually a user name.
// key=value secrets in connection strings: password=..., passwd=..., sslpassword=...
const KV_SECRET = /\b(password|passwd|pwd|secret|token|api[_-]?key)=([^\s&;]+)/gi;

/** Mask credentials inside free text. Safe to call on any string. */
export function redactText(text: string): string {
  if (!text) return text;
  let out = text.replace(URL_USERINFO, (_m, scheme: string, user: string) => `${scheme}${user}:${MASK}@`);
  out = out.replace(KV_SECRET, (_m, k: string) => `${k}=${MASK}`);
  if (registered.size > 0) {
    // Longest first so that a secret containing another is masked whole.
    for (const s of [...registered].sort((a, b) => b.length - a.length)) {
      if (out.includes(s)) out = out.split(s).join(MASK);
    }
  }
  return out;
}

/** Redact a URL for display: keeps scheme, user, host, port and path; masks the password. */
export function redactUrl(url: string): string {
  return redactText(url);
}

/** Deep-copy a JSON-like value, redacting every string inside it. */
export function redactDeep<T>(value: T): T {
  if (typeof value === 'string') return redactText(value) as T;
  if (Array.isArray(value)) return value.map((v) => redactDeep(v)) as T;
  if (value && typeof value === 'object' && !(value instanceof Date)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) out[k] = redactDeep(v);
    return out as T;
  }
  return value;
}
