/**
 * Streaming authenticated encryption of backups: AES-256-GCM in chunks.
 *
 * File layout (all integers big-endian), version 2 (`WKSENC02`, 72-byte header):
 *   magic "WKSENC02" (8) | kdf (1: 0 raw key, 1 scrypt) | log2 N (1) | r (1) | p (1)
 *   | chunk size (4) | salt (16, zero for raw) | nonce prefix (8)
 *   | binding (32) = SHA-256("wks-backup-binding" 0 id 0 created_at)
 *   then records: ciphertext (<= chunk size) | GCM tag (16)
 * Version 1 (`WKSENC01`, 40 bytes: no scrypt parameters, no binding) is still read.
 *
 * Record i uses IV = nonce prefix (8) | i (4) and AAD = header | i (4) | final (1).
 * Every full-size record is non-final; the last record is always shorter than
 * the chunk size (possibly empty) and flagged final. So reordering, dropping,
 * truncation (at a record boundary or inside one), appended data, a changed
 * header and any flipped bit all fail authentication or the framing check.
 * The header (in every record's AAD) carries the KDF parameters, so they can
 * be raised without breaking old backups, and the binding ties the file to
 * one backup id and creation time: a data file moved under another manifest
 * fails. The decrypting side takes the key and every parameter from the
 * (authenticated) manifest and refuses a header that disagrees with it: a
 * tampered header is a verification failure, never "wrong key".
 *
 * The key comes from config (BACKUP_ENCRYPTION_KEY / key_file): 64 hex chars
 * or base64 of 32 bytes is used as is; anything else is a passphrase run
 * through scrypt with a random per-backup salt. The key never reaches the
 * manifest; only a key id (HMAC of a constant) does, to tell "wrong key" from
 * "corrupted".
 */
import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes, scryptSync } from 'node:crypto';
import { closeSync, constants as fsConstants, fstatSync, openSync, readFileSync } from 'node:fs';
import { Transform, type TransformCallback } from 'node:stream';
import { ConfigError } from '../../errors.js';
import type { Config } from '../../config/index.js';
import type { EncryptionParams } from '../types.js';

export const MAGIC_V1 = Buffer.from('WKSENC01');
export const MAGIC = Buffer.from('WKSENC02');
export const HEADER_LEN_V1 = 40;
export const HEADER_LEN = 72;
export const TAG_LEN = 16;
export const DEFAULT_CHUNK = 64 * 1024;
/** scrypt for passphrases: N = 2^17, r = 8, p = 1 (128 MiB, a fraction of a second); backups record their own. */
export const SCRYPT_DEFAULT = { N: 1 << 17, r: 8, p: 1 };
/** The scrypt cost of backups made before the parameters were recorded in the header. */
const SCRYPT_V1 = { N: 1 << 15, r: 8, p: 1 };
/** Bounds on recorded scrypt parameters (a manifest or header must not make wks allocate without limit). */
const SCRYPT_MAX_LOG2N = 22;

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
 * when none is configured. Throws ConfigError (78) when the key file cannot
 * be read, is writable by group or others, or is owned by someone other than
 * the running user or root (whoever can replace the key file chooses the key
 * new backups are encrypted with). Calls `warn` when it is readable by group
 * or others.
 */
export function keySourceFromConfig(config: Config, warn?: (text: string) => void): KeySource | null {
  const enc = config.database.backup.encryption;
  if (enc.key) return parseKeyText(enc.key, 'BACKUP_ENCRYPTION_KEY (database.backup.encryption.key)');
  if (enc.key_file) return parseKeyText(readKeyFile(enc.key_file, warn), `key file ${enc.key_file}`);
  return null;
}

/** Read a key file after checking its owner and mode (see keySourceFromConfig). */
function readKeyFile(file: string, warn?: (text: string) => void): string {
  const where = 'BACKUP_ENCRYPTION_KEY_FILE (database.backup.encryption.key_file)';
  let fd: number;
  try {
    fd = openSync(file, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(
      `cannot read the backup key file ${file}: ${code === 'ELOOP' ? 'it is a symbolic link' : (code ?? (err as Error).message)}`,
      [],
      { hint: `check ${where}: a regular file readable by the user wks runs as` },
    );
  }
  try {
    const st = fstatSync(fd);
    const uid = process.getuid?.() ?? st.uid;
    if (!st.isFile())
      throw new ConfigError(`the backup key file ${file} is not a regular file`, [], { hint: `check ${where}` });
    if (st.uid !== uid && st.uid !== 0)
      throw new ConfigError(
        `the backup key file ${file} is owned by uid ${st.uid}, not by this user (${uid}) or root`,
        [],
        {
          hint: `chown the key file to the user wks runs as (chown ${uid} ${file}), or point ${where} at one it owns`,
        },
      );
    if (st.mode & 0o022)
      throw new ConfigError(
        `the backup key file ${file} is writable by ${st.mode & 0o002 ? 'others' : 'its group'} (mode ${(st.mode & 0o777).toString(8)}): they could replace the key`,
        [],
        { hint: `chmod 600 ${file}` },
      );
    if (st.mode & 0o044)
      warn?.(
        `the backup key file ${file} is readable by its group or others (mode ${(st.mode & 0o777).toString(8)}); chmod 600 it`,
      );
    return readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
}

/** Throws ConfigError (78) saying how to provide a key. */
export function missingKeyError(what: string): ConfigError {
  return new ConfigError(`${what} needs an encryption key, and none is configured`, [], {
    hint: 'set BACKUP_ENCRYPTION_KEY (or BACKUP_ENCRYPTION_KEY_FILE / database.backup.encryption.key_file) to the key the backup was made with',
  });
}

export type ScryptParams = { N: number; r: number; p: number };

const derived = new Map<string, Buffer>();

/**
 * Derive the 32-byte key for a given kdf, salt and scrypt parameters (default:
 * the parameters of version-1 backups). Derivations are memoised per process
 * (verify then restore derive once). Throws ConfigError (78) when the kind of
 * key configured does not fit the backup, DecryptError for out-of-range parameters.
 */
export function deriveKey(
  src: KeySource,
  kdf: 'none' | 'scrypt',
  salt: Buffer | null,
  scrypt: ScryptParams = SCRYPT_V1,
): Buffer {
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
  const { N, r, p } = scrypt;
  if (!Number.isInteger(Math.log2(N)) || N < 2 || N > 2 ** SCRYPT_MAX_LOG2N || r < 1 || r > 32 || p < 1 || p > 16)
    throw new DecryptError(`scrypt parameters out of range (N=${N}, r=${r}, p=${p})`);
  const memo = createHash('sha256').update(src.passphrase).update(salt!).update(`${N}:${r}:${p}`).digest('hex');
  let key = derived.get(memo);
  if (!key) {
    key = scryptSync(src.passphrase, salt!, 32, { N, r, p, maxmem: 128 * N * r * p + 16 * 1024 * 1024 });
    derived.set(memo, key);
  }
  return key;
}

/** The 32-byte binding of an encrypted file to its backup: SHA-256 of the id and the creation time. */
export function backupBinding(id: string, createdAt: string): Buffer {
  return createHash('sha256').update(`wks-backup-binding\0${id}\0${createdAt}`).digest();
}

/** Key id: first 8 bytes of HMAC-SHA256(key, "wks-backup-key-id"), hex. */
export function keyId(key: Buffer): string {
  return createHmac('sha256', key).update('wks-backup-key-id').digest('hex').slice(0, 16);
}

/** What a version-2 header records (all of it authenticated as AAD of every record). */
export interface HeaderFields {
  kdf: 'none' | 'scrypt';
  scrypt: ScryptParams | null;
  chunk: number;
  salt: Buffer;
  binding: Buffer;
}

function buildHeader(f: HeaderFields, prefix: Buffer): Buffer {
  const h = Buffer.alloc(HEADER_LEN);
  MAGIC.copy(h, 0);
  h.writeUInt8(f.kdf === 'scrypt' ? 1 : 0, 8);
  if (f.scrypt) {
    h.writeUInt8(Math.log2(f.scrypt.N), 9);
    h.writeUInt8(f.scrypt.r, 10);
    h.writeUInt8(f.scrypt.p, 11);
  }
  h.writeUInt32BE(f.chunk, 12);
  f.salt.copy(h, 16);
  prefix.copy(h, 32);
  f.binding.copy(h, 40);
  return h;
}

function recordAad(header: Buffer, index: number, final: boolean): Buffer {
  const a = Buffer.alloc(header.length + 5);
  header.copy(a, 0);
  a.writeUInt32BE(index, header.length);
  a.writeUInt8(final ? 1 : 0, header.length + 4);
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
  scrypt: ScryptParams = SCRYPT_DEFAULT,
): { key: Buffer; params: EncryptionParams; salt: Buffer } {
  const kdf = src.kind === 'raw' ? 'none' : 'scrypt';
  const salt = kdf === 'scrypt' ? randomBytes(16) : Buffer.alloc(16);
  const key = deriveKey(src, kdf, salt, scrypt);
  return {
    key,
    salt,
    params: {
      algorithm: 'aes-256-gcm',
      header: 2,
      kdf,
      salt: kdf === 'scrypt' ? salt.toString('hex') : null,
      ...(kdf === 'scrypt' ? { scrypt: { N: scrypt.N, r: scrypt.r, p: scrypt.p } } : {}),
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

  private readonly chunk: number;

  constructor(
    private readonly key: Buffer,
    fields: HeaderFields,
  ) {
    super();
    this.chunk = fields.chunk;
    this.header = buildHeader(fields, this.prefix);
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

/** What the decrypting side expects, all from the manifest: the derived key, its parameters and the binding. */
export interface DecryptExpectation {
  key: Buffer;
  params: EncryptionParams;
  /** backupBinding(id, created_at); required for version-2 files. */
  binding: Buffer;
}

/** Why the header disagrees with the manifest's parameters, or null when it agrees. */
function headerMismatch(h: Buffer, e: DecryptExpectation): string | null {
  const v2 = e.params.header === 2;
  if (!h.subarray(0, 8).equals(v2 ? MAGIC : MAGIC_V1))
    return h.subarray(0, 7).equals(MAGIC.subarray(0, 7))
      ? 'the header version differs from the manifest'
      : 'not a wks encrypted backup (bad header magic)';
  if (h.readUInt8(8) !== (e.params.kdf === 'scrypt' ? 1 : 0))
    return 'the key derivation byte differs from the manifest';
  if (h.readUInt32BE(12) !== e.params.chunk_size) return 'the chunk size differs from the manifest';
  const salt = e.params.salt ? Buffer.from(e.params.salt, 'hex') : Buffer.alloc(16);
  if (!h.subarray(16, 32).equals(salt)) return 'the salt differs from the manifest';
  if (!v2) return null;
  const s = e.params.scrypt;
  const kdfBytes = s ? [Math.log2(s.N), s.r, s.p] : [0, 0, 0];
  if (h[9] !== kdfBytes[0] || h[10] !== kdfBytes[1] || h[11] !== kdfBytes[2])
    return 'the scrypt parameters differ from the manifest';
  if (!h.subarray(40, 72).equals(e.binding)) return 'the file belongs to another backup (id/creation time binding)';
  return null;
}

/**
 * The decrypting Transform. Checks the header against the manifest's
 * parameters first (DecryptError "encrypted header ... tampered" when they
 * disagree). Errors (DecryptError) name what is wrong: bad header,
 * authentication failure at record N (corrupted or wrong key), truncation.
 */
export class DecryptStream extends Transform {
  private header: Buffer | null = null;
  private prefix: Buffer | null = null;
  private readonly chunk: number;
  private readonly headerLen: number;
  private index = 0;
  private sawFinal = false;
  private pending: Buffer[] = [];
  private pendingLen = 0;

  constructor(private readonly expect: DecryptExpectation) {
    super();
    this.chunk = expect.params.chunk_size;
    this.headerLen = expect.params.header === 2 ? HEADER_LEN : HEADER_LEN_V1;
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
    const d = createDecipheriv('aes-256-gcm', this.expect.key, recordIv(this.prefix!, this.index), {
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
        if (this.pendingLen < this.headerLen) {
          cb();
          return;
        }
        const buf = this.takePending();
        const h = buf.subarray(0, this.headerLen);
        const why = headerMismatch(h, this.expect);
        if (why) throw new DecryptError(`the encrypted header does not match the manifest: ${why} (tampered?)`);
        if (this.chunk < 1024 || this.chunk > 64 * 1024 * 1024)
          throw new DecryptError('bad chunk size in the encrypted header');
        this.header = Buffer.from(h);
        this.prefix = Buffer.from(h.subarray(32, 40));
        const rest = buf.subarray(this.headerLen);
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
