/**
 * Streaming authenticated encryption of backups: AES-256-GCM in chunks.
 *
 * File layout (all integers big-endian):
 *   header (40 bytes) = magic "WKSENC01" (8) | kdf (1: 0 raw key, 1 scrypt)
 *                       | reserved (3) | chunk size (4) | salt (16, zero for raw)
 *                       | nonce prefix (8)
 *   then records: ciphertext (<= chunk size) | GCM tag (16)
 *
 * Record i uses IV = nonce prefix (8) | i (4) and AAD = header | i (4) | final (1).
 * Every full-size record is non-final; the last record is always shorter than
 * the chunk size (possibly empty) and flagged final. So reordering, dropping,
 * truncation (at a record boundary or inside one), appended data, a changed
 * header and any flipped bit all fail authentication or the framing check.
 *
 * The key comes from config (BACKUP_ENCRYPTION_KEY / key_file): 64 hex chars
 * or base64 of 32 bytes is used as is; anything else is a passphrase run
 * through scrypt with a random per-backup salt. The key never reaches the
 * manifest; only a key id (HMAC of a constant) does, to tell "wrong key" from
 * "corrupted".
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes, scryptSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Transform, type TransformCallback } from 'node:stream';
import { ConfigError } from '../../errors.js';
import type { Config } from '../../config/index.js';
import type { EncryptionParams } from '../types.js';

export const MAGIC = Buffer.from('WKSENC01');
export const HEADER_LEN = 40;
export const TAG_LEN = 16;
export const DEFAULT_CHUNK = 64 * 1024;
const SCRYPT = { N: 1 << 15, r: 8, p: 1 };

/** The configured key material: raw 32 bytes, or a passphrase to derive from. */
export type KeySource = { kind: 'raw'; key: Buffer } | { kind: 'passphrase'; passphrase: string };

/** Parse key text: 64 hex chars or base64 of 32 bytes -> raw key; anything else (>= 8 chars) -> passphrase. */
export function parseKeyText(text: string, origin: string): KeySource {
  const t = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(t)) return { kind: 'raw', key: Buffer.from(t, 'hex') };
  if (/^[A-Za-z0-9+/]{43}=$/.test(t)) {
    const b = Buffer.from(t, 'base64');
    if (b.length === 32) return { kind: 'raw', key: b };
  }
  if (t.length < 8) {
    throw new ConfigError(`the backup encryption key from ${origin} is too short`, [], {
      hint: 'use 64 hex characters, base64 of 32 bytes (openssl rand -base64 32), or a passphrase of at least 8 characters',
    });
  }
  return { kind: 'passphrase', passphrase: t };
}

/**
 * The configured key source (key takes precedence over key_file), or null
 * when none is configured. Throws ConfigError (78) when the key file cannot be read.
 */
export function keySourceFromConfig(config: Config): KeySource | null {
  const enc = config.database.backup.encryption;
  if (enc.key) return parseKeyText(enc.key, 'BACKUP_ENCRYPTION_KEY (database.backup.encryption.key)');
  if (enc.key_file) {
    let text: string;
    try {
      text = readFileSync(enc.key_file, 'utf8');
    } catch (err) {
      throw new ConfigError(
        `cannot read the backup key file ${enc.key_file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
        [],
        {
          hint: 'check BACKUP_ENCRYPTION_KEY_FILE (database.backup.encryption.key_file) and the file permissions',
        },
      );
    }
    return parseKeyText(text, `key file ${enc.key_file}`);
  }
  return null;
}

/** Throws ConfigError (78) saying how to provide a key. */
export function missingKeyError(what: string): ConfigError {
  return new ConfigError(`${what} needs an encryption key, and none is configured`, [], {
    hint: 'set BACKUP_ENCRYPTION_KEY (or BACKUP_ENCRYPTION_KEY_FILE / database.backup.encryption.key_file) to the key the backup was made with',
  });
}

/** Derive the 32-byte key for a given kdf and salt. */
export function deriveKey(src: KeySource, kdf: 'none' | 'scrypt', salt: Buffer | null): Buffer {
  if (kdf === 'none') {
    if (src.kind !== 'raw')
      throw new ConfigError('this backup was encrypted with a raw 32-byte key, but a passphrase is configured', [], {
        hint: 'configure the original key (64 hex chars or base64 of 32 bytes)',
      });
    return src.key;
  }
  if (src.kind === 'raw')
    throw new ConfigError('this backup was encrypted with a passphrase, but a raw key is configured', [], {
      hint: 'configure the original passphrase',
    });
  return scryptSync(src.passphrase, salt!, 32, { ...SCRYPT, maxmem: 64 * 1024 * 1024 });
}

/** Key id: first 8 bytes of HMAC-SHA256(key, "wks-backup-key-id"), hex. */
export function keyId(key: Buffer): string {
  return createHmac('sha256', key).update('wks-backup-key-id').digest('hex').slice(0, 16);
}

function buildHeader(kdf: 'none' | 'scrypt', chunk: number, salt: Buffer, prefix: Buffer): Buffer {
  const h = Buffer.alloc(HEADER_LEN);
  MAGIC.copy(h, 0);
  h.writeUInt8(kdf === 'scrypt' ? 1 : 0, 8);
  h.writeUInt32BE(chunk, 12);
  salt.copy(h, 16);
  prefix.copy(h, 32);
  return h;
}

function recordAad(header: Buffer, index: number, final: boolean): Buffer {
  const a = Buffer.alloc(HEADER_LEN + 5);
  header.copy(a, 0);
  a.writeUInt32BE(index, HEADER_LEN);
  a.writeUInt8(final ? 1 : 0, HEADER_LEN + 4);
  return a;
}

function recordIv(prefix: Buffer, index: number): Buffer {
  const iv = Buffer.alloc(12);
  prefix.copy(iv, 0);
  iv.writeUInt32BE(index, 8);
  return iv;
}

/** Prepare encryption for one backup: derives the key (fresh salt for passphrases) and returns the manifest parameters. */
export function prepareEncryption(
  src: KeySource,
  chunk = DEFAULT_CHUNK,
): { key: Buffer; params: EncryptionParams; salt: Buffer } {
  const kdf = src.kind === 'raw' ? 'none' : 'scrypt';
  const salt = kdf === 'scrypt' ? randomBytes(16) : Buffer.alloc(16);
  const key = deriveKey(src, kdf, salt);
  return {
    key,
    salt,
    params: {
      algorithm: 'aes-256-gcm',
      kdf,
      salt: kdf === 'scrypt' ? salt.toString('hex') : null,
      ...(kdf === 'scrypt' ? { scrypt: { N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p } } : {}),
      chunk_size: chunk,
      key_id: keyId(key),
    },
  };
}

/** The encrypting Transform (writes the header, then one record per chunk, then the final short record). */
export class EncryptStream extends Transform {
  private readonly header: Buffer;
  private readonly prefix = randomBytes(8);
  private index = 0;
  private pending: Buffer[] = [];
  private pendingLen = 0;

  constructor(
    private readonly key: Buffer,
    kdf: 'none' | 'scrypt',
    salt: Buffer,
    private readonly chunk = DEFAULT_CHUNK,
  ) {
    super();
    this.header = buildHeader(kdf, chunk, salt, this.prefix);
    this.push(this.header);
  }

  private seal(plain: Buffer, final: boolean): void {
    if (this.index >= 0xffffffff) throw new Error('backup too large for one encryption stream');
    const c = createCipheriv('aes-256-gcm', this.key, recordIv(this.prefix, this.index), { authTagLength: TAG_LEN });
    c.setAAD(recordAad(this.header, this.index, final));
    const out = Buffer.concat([c.update(plain), c.final(), c.getAuthTag()]);
    this.index++;
    this.push(out);
  }

  override _transform(data: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      this.pending.push(data);
      this.pendingLen += data.length;
      // Keep at least one byte back: a record of exactly `chunk` bytes is never final.
      if (this.pendingLen > this.chunk) {
        let buf = Buffer.concat(this.pending, this.pendingLen);
        let off = 0;
        while (buf.length - off > this.chunk) {
          this.seal(buf.subarray(off, off + this.chunk), false);
          off += this.chunk;
        }
        buf = buf.subarray(off);
        this.pending = [buf];
        this.pendingLen = buf.length;
      }
      cb();
    } catch (err) {
      cb(err as Error);
    }
  }

  override _flush(cb: TransformCallback): void {
    try {
      let buf = Buffer.concat(this.pending, this.pendingLen);
      if (buf.length === this.chunk) {
        this.seal(buf, false);
        buf = Buffer.alloc(0);
      }
      this.seal(buf, true);
      cb();
    } catch (err) {
      cb(err as Error);
    }
  }
}

/** Why decryption failed, for the verify report. */
export class DecryptError extends Error {}

/**
 * The decrypting Transform. `resolveKey(kdf, salt)` supplies the key once the
 * header is read. Errors (DecryptError) name what is wrong: bad header,
 * authentication failure at record N (corrupted or wrong key), truncation.
 */
export class DecryptStream extends Transform {
  private header: Buffer | null = null;
  private prefix: Buffer | null = null;
  private chunk = 0;
  private key: Buffer | null = null;
  private index = 0;
  private sawFinal = false;
  private pending: Buffer[] = [];
  private pendingLen = 0;

  constructor(private readonly resolveKey: (kdf: 'none' | 'scrypt', salt: Buffer) => Buffer) {
    super();
  }

  private takePending(): Buffer {
    const b = Buffer.concat(this.pending, this.pendingLen);
    this.pending = [];
    this.pendingLen = 0;
    return b;
  }

  private open(rec: Buffer, final: boolean): void {
    if (this.sawFinal)
      throw new DecryptError('data found after the final encrypted record (file was appended to or corrupted)');
    const d = createDecipheriv('aes-256-gcm', this.key!, recordIv(this.prefix!, this.index), {
      authTagLength: TAG_LEN,
    });
    d.setAAD(recordAad(this.header!, this.index, final));
    d.setAuthTag(rec.subarray(rec.length - TAG_LEN));
    let plain: Buffer;
    try {
      plain = Buffer.concat([d.update(rec.subarray(0, rec.length - TAG_LEN)), d.final()]);
    } catch {
      throw new DecryptError(
        `authentication failed at encrypted record ${this.index} (the file is corrupted or truncated, or the key is wrong)`,
      );
    }
    this.index++;
    if (final) this.sawFinal = true;
    this.push(plain);
  }

  override _transform(data: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      this.pending.push(data);
      this.pendingLen += data.length;
      if (!this.header) {
        if (this.pendingLen < HEADER_LEN) {
          cb();
          return;
        }
        const buf = this.takePending();
        const h = buf.subarray(0, HEADER_LEN);
        if (!h.subarray(0, 8).equals(MAGIC)) throw new DecryptError('not a wks encrypted backup (bad header magic)');
        const kdfByte = h.readUInt8(8);
        if (kdfByte > 1) throw new DecryptError('unknown key derivation in the encrypted header');
        this.chunk = h.readUInt32BE(12);
        if (this.chunk < 1024 || this.chunk > 64 * 1024 * 1024)
          throw new DecryptError('bad chunk size in the encrypted header');
        this.header = Buffer.from(h);
        this.prefix = Buffer.from(h.subarray(32, 40));
        this.key = this.resolveKey(kdfByte === 1 ? 'scrypt' : 'none', Buffer.from(h.subarray(16, 32)));
        const rest = buf.subarray(HEADER_LEN);
        if (rest.length) {
          this.pending = [rest];
          this.pendingLen = rest.length;
        }
      }
      const full = this.chunk + TAG_LEN;
      // A full-size record is non-final; keep the tail until flush decides.
      if (this.pendingLen > full) {
        const buf = this.takePending();
        let off = 0;
        while (buf.length - off > full) {
          this.open(buf.subarray(off, off + full), false);
          off += full;
        }
        const rest = buf.subarray(off);
        this.pending = [rest];
        this.pendingLen = rest.length;
      }
      cb();
    } catch (err) {
      cb(err as Error);
    }
  }

  override _flush(cb: TransformCallback): void {
    try {
      if (!this.header) throw new DecryptError('encrypted file is truncated (no complete header)');
      const buf = this.takePending();
      const full = this.chunk + TAG_LEN;
      if (buf.length === full) {
        this.open(buf, false);
        throw new DecryptError('encrypted file is truncated (final record missing)');
      }
      if (buf.length < TAG_LEN) throw new DecryptError('encrypted file is truncated (final record incomplete)');
      this.open(buf, true);
      cb();
    } catch (err) {
      cb(err as Error);
    }
  }
}
