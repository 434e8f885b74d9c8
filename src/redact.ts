/**
 * Credential redaction, applied to every log line, error message, `config show`
 * and --json document. Two mechanisms:
 *  - URL userinfo passwords are masked wherever they appear
 *    (`postgres://user:secret@host` -> `postgres://user:****@host`);
 *  - secret values loaded from configuration are registered here and masked
 *    verbatim wherever they appear in text.
 */

export const MASK = '****';

/**
 * Secrets shorter than this are not masked by value: a short value ("short",
 * "admin") also occurs in wks's own sentences, which masking would rewrite
 * ("the key is too ****"). The configuration loader refuses shorter values for
 * the secrets wks owns (encryption passphrase, bearer token, JWT secret) and
 * warns for the others, which stay masked by key (config show, URLs, errors).
 */
export const MIN_SECRET_LENGTH = 8;

const registered = new Set<string>();
/** The registered secrets, longest first so that a secret containing another is masked whole. */
let longestFirst: string[] = [];

/** Remember a secret value so that redactText() masks it everywhere. Values shorter than MIN_SECRET_LENGTH are ignored (see there). */
export function registerSecret(value: unknown): void {
  if (typeof value !== 'string' || value.length < MIN_SECRET_LENGTH || registered.has(value)) return;
  registered.add(value);
  longestFirst = [...registered].sort((a, b) => b.length - a.length);
}

/** Forget all registered secrets (tests). */
export function clearSecrets(): void {
  registered.clear();
  longestFirst = [];
}

// scheme://user:password@host  -> keep user, mask password. The password is everything up to the
// LAST @ of the URL, so a raw `@` or `/` in it (postgres://wks:p@ss/w@host) is masked whole.
const URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s:@/"'<>]*):([^\s"'<>]+)@/gi;
// scheme://token@host (no colon, e.g. redis://secret@host) is left alone: it is usually a user name.
// key=value secrets in connection strings: password=..., passwd=..., sslpassword=...
const KV_SECRET = /\b(password|passwd|pwd|secret|token|api[_-]?key)=([^\s&;]+)/gi;

/** Mask credentials inside free text. Safe to call on any string. */
export function redactText(text: string): string {
  if (!text) return text;
  let out = text;
  // The patterns need `://` and `=`: text without them (most of it: ids, keys, worker names) skips the regexes.
  if (out.includes('://'))
    out = out.replace(URL_USERINFO, (_m, scheme: string, user: string) => `${scheme}${user}:${MASK}@`);
  if (out.includes('=')) out = out.replace(KV_SECRET, (_m, k: string) => `${k}=${MASK}`);
  for (const s of longestFirst) {
    if (out.includes(s)) out = out.split(s).join(MASK);
  }
  return out;
}

/** Redact a URL for display: keeps scheme, user, host, port and path; masks the password. */
export function redactUrl(url: string): string {
  return redactText(maskUrlPassword(url));
}

/**
 * Mask a URL's password by position, for values known to be URLs (by key):
 * everything between `user:` and the last `@` before the host. Returns the
 * URL unchanged when it has no password.
 */
export function maskUrlPassword(url: string): string {
  const start = url.indexOf('://');
  if (start < 0) return url;
  const at = url.lastIndexOf('@');
  if (at < start) return url;
  const colon = url.indexOf(':', start + 3);
  if (colon < 0 || colon > at) return url;
  return `${url.slice(0, colon + 1)}${MASK}${url.slice(at)}`;
}

/** The password of a URL (raw, as written, and percent-decoded), or [] when none. For registerSecret. */
export function urlPasswords(url: string): string[] {
  const start = url.indexOf('://');
  const at = url.lastIndexOf('@');
  const colon = start < 0 ? -1 : url.indexOf(':', start + 3);
  if (start < 0 || at < start || colon < 0 || colon > at) return [];
  const raw = url.slice(colon + 1, at);
  let decoded = raw;
  try {
    decoded = decodeURIComponent(raw);
  } catch {
    /* not percent-encoded */
  }
  return raw ? [raw, decoded] : [];
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
