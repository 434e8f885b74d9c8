/**
 * Manifest authentication: what makes a backup repository that others can
 * write to (a shared directory, an object store) safe to restore from.
 *
 * - An encrypted backup's manifest carries `manifest_mac`: HMAC-SHA256 over
 *   its canonical form (every other field, keys sorted, JSON), keyed by
 *   HKDF-SHA256(backup key, info "wks-manifest-mac"). The manifest records
 *   the stored file's sha256, so the MAC covers the data too; the encrypted
 *   header binds the file to the backup id and creation time. An edited,
 *   relabelled or re-dated manifest, or a data file moved under another
 *   manifest, fails verification (exit 3).
 * - With encryption enabled in the configuration, an unencrypted backup (or
 *   an encrypted one made before manifests were authenticated) is refused,
 *   because anyone who can write to the repository could have planted it,
 *   unless the operator says `--allow-unauthenticated`.
 * - Without encryption there is no key, so nothing is authenticated: the
 *   checksums detect accidents (bit rot, truncation), not an attacker (see
 *   SECURITY.md and docs/backup-and-recovery.md).
 */
import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import type { Config } from '../config/index.js';
import { ConfigError } from '../errors.js';
import {
  backupBinding,
  deriveKey,
  keyId,
  keySourceFromConfig,
  type DecryptExpectation,
  type KeySource,
} from './codecs/encryption.js';
import type { EncryptionParams, LogFn, Manifest, VerifyCheck } from './types.js';

/** JSON with object keys sorted at every level; `manifest_mac` left out. The form the MAC is computed over. */
export function canonicalManifest(m: Manifest): string {
  const sort = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sort);
    if (v && typeof v === 'object')
      return Object.fromEntries(
        Object.keys(v)
          .sort()
          .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
          .map((k) => [k, sort((v as Record<string, unknown>)[k])]),
      );
    return v;
  };
  const { manifest_mac: _mac, ...rest } = m;
  return JSON.stringify(sort(rest));
}

/** HMAC-SHA256 (hex) of the canonical manifest, keyed from the backup's encryption key. */
export function manifestMac(key: Buffer, m: Manifest): string {
  const macKey = Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), 'wks-manifest-mac', 32));
  return createHmac('sha256', macKey).update(canonicalManifest(m)).digest('hex');
}

/**
 * The key of an encrypted backup, derived with the manifest's parameters.
 * Throws ConfigError (78) when no key is configured or it is not the one the
 * backup was made with (key id mismatch).
 */
export function backupKey(params: EncryptionParams, src: KeySource | null, what: string): Buffer {
  if (!src)
    throw new ConfigError(`${what} is encrypted and no encryption key is configured`, [], {
      hint: 'set BACKUP_ENCRYPTION_KEY (or database.backup.encryption.key_file) to the key the backup was made with',
    });
  const salt = params.salt ? Buffer.from(params.salt, 'hex') : null;
  const key = deriveKey(src, params.kdf, salt, params.scrypt);
  if (keyId(key) !== params.key_id) {
    throw new ConfigError(
      `the configured encryption key is not the one ${what} was made with (key id ${keyId(key)} != ${params.key_id})`,
      [],
      { hint: 'set BACKUP_ENCRYPTION_KEY to the key used when the backup was created' },
    );
  }
  return key;
}

/** What decodeTo needs to decrypt `m`'s data file (key from config, every parameter from the manifest). */
export function decryptExpectation(config: Config, m: Manifest, log?: LogFn): DecryptExpectation | null {
  if (!m.encryption) return null;
  return {
    key: backupKey(m.encryption, keySourceFromConfig(config, warnTo(log)), `backup ${m.id}`),
    params: m.encryption,
    binding: backupBinding(m.id, m.created_at),
  };
}

const warnTo = (log?: LogFn) => (log ? (text: string) => log('warn', text) : undefined);

export interface AuthOptions {
  log?: LogFn;
  /** Accept an unencrypted backup, or one made before manifests were authenticated, although encryption is enabled. */
  allowUnauthenticated?: boolean;
}

const ALLOW_HINT =
  'if you made this backup yourself (before encryption was enabled, or with an older wks), pass --allow-unauthenticated; otherwise do not restore it, and find out who wrote to the backup directory';

/**
 * The `manifest` verification check of `m`: authenticated, refused, or (no
 * encryption configured) accepted as unauthenticated. Throws ConfigError (78)
 * when the backup is encrypted and the key is missing or wrong.
 */
export function authenticateManifest(config: Config, m: Manifest, opts: AuthOptions = {}): VerifyCheck {
  const required = config.database.backup.encryption.enabled;
  const name = 'manifest' as const;
  if (!m.encryption) {
    if (required && !opts.allowUnauthenticated)
      return {
        name,
        ok: false,
        detail: `backup ${m.id} is not encrypted, but encryption is enabled: it cannot be authenticated and may have been planted (${ALLOW_HINT})`,
      };
    return { name, ok: true, detail: `${m.file}: unencrypted, so not authenticated (checksums only)` };
  }
  const key = backupKey(m.encryption, keySourceFromConfig(config, warnTo(opts.log)), `backup ${m.id}`);
  if (!m.manifest_mac || m.encryption.header !== 2) {
    if (!opts.allowUnauthenticated)
      return {
        name,
        ok: false,
        detail: `backup ${m.id} has no manifest authentication (made by an older wks, or stripped): ${ALLOW_HINT}`,
      };
    return { name, ok: true, detail: `${m.file}: accepted without manifest authentication (--allow-unauthenticated)` };
  }
  const want = Buffer.from(manifestMac(key, m), 'hex');
  const got = Buffer.from(m.manifest_mac, 'hex');
  if (got.length !== want.length || !timingSafeEqual(got, want))
    return {
      name,
      ok: false,
      detail: `the manifest of ${m.id} fails authentication: it was edited after the backup was made (relabelled, re-dated or planted)`,
    };
  return { name, ok: true, detail: `${m.file}, ${m.stored_size} bytes; manifest authenticated` };
}

/**
 * Why the manifest of `m` is not to be trusted for a decision (what rotate deletes, what health calls
 * protected), or null. With encryption enabled, a manifest must authenticate: an edited, re-dated or
 * planted one, an unencrypted or pre-authentication one, or one made with another key is not trusted.
 * Without encryption there is no key and nothing can be authenticated: null (checksums only). Never throws.
 */
export function untrustedManifest(config: Config, m: Manifest, log?: LogFn): string | null {
  if (!config.database.backup.encryption.enabled) return null;
  try {
    const check = authenticateManifest(config, m, { log });
    return check.ok ? null : check.detail;
  } catch (err) {
    return (err as Error).message;
  }
}

/**
 * The entries whose manifest can be trusted (see untrustedManifest): what the daemon's backup age
 * (alerts) and backup gauges (metrics) count, so a planted or re-dated manifest cannot make an old
 * catalog look fresh. All of them without encryption. Scrypt-derived keys are memoised per salt, so
 * a long-running process derives each backup's key once.
 */
export function trustedEntries<E extends { manifest: Manifest }>(config: Config, entries: E[]): E[] {
  if (!config.database.backup.encryption.enabled) return entries;
  return entries.filter((e) => untrustedManifest(config, e.manifest) === null);
}
