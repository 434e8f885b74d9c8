/**
 * The encode/decode pipelines shared by every engine:
 *   raw image -> [compress] -> [encrypt] -> sha256 -> stored file
 *   stored file -> sha256 -> [decrypt] -> [decompress] -> sha256 -> raw image / sink
 * Everything streams; memory stays flat whatever the size.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { Transform, Writable, type Readable, type TransformCallback, type Duplex } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { FILE_MODE } from '../files.js';
import type { Compression, EncryptionParams } from '../types.js';
import { compressor, decompressor } from './compression.js';
import { DecryptStream, EncryptStream, type DecryptExpectation } from './encryption.js';

/** A pass-through that hashes (sha256) and counts what flows through it. */
export class HashCounter extends Transform {
  private readonly hash = createHash('sha256');
  bytes = 0;
  constructor(private readonly onBytes?: (n: number) => void) {
    super();
  }
  override _transform(chunk: Buffer, _e: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    this.onBytes?.(this.bytes);
    cb(null, chunk);
  }
  digest(): string {
    return this.hash.digest('hex');
  }
}

/** A sink that discards data (used when only hashes are needed). */
export function nullSink(): Writable {
  return new Writable({ write: (_c, _e, cb) => cb() });
}

export interface EncodeResult {
  rawSize: number;
  rawSha256: string;
  storedSize: number;
  storedSha256: string;
}

export interface EncodeOptions {
  compression: Compression;
  /** Derived key + parameters when encrypting, and the binding to the backup (backupBinding). */
  encryption: { key: Buffer; salt: Buffer; params: EncryptionParams; binding: Buffer } | null;
  onBytes?: (rawBytesRead: number) => void;
}

const READ_HWM = 1024 * 1024;

/** Encode `source` (a file path or a stream) into `dest` (created 0600, fsynced on close). */
export async function encodeTo(source: string | Readable, dest: string, opts: EncodeOptions): Promise<EncodeResult> {
  const raw = new HashCounter(opts.onBytes);
  const stored = new HashCounter();
  const stages: Array<Transform | Duplex> = [raw];
  const c = compressor(opts.compression);
  if (c) stages.push(c);
  const e = opts.encryption;
  if (e)
    stages.push(
      new EncryptStream(e.key, {
        kdf: e.params.kdf,
        scrypt: e.params.scrypt ?? null,
        chunk: e.params.chunk_size,
        salt: e.salt,
        binding: e.binding,
      }),
    );
  stages.push(stored);
  const input = typeof source === 'string' ? createReadStream(source, { highWaterMark: READ_HWM }) : source;
  const out = createWriteStream(dest, { flags: 'wx', mode: FILE_MODE, flush: true, highWaterMark: READ_HWM });
  await pipeline(input, ...(stages as [Transform]), out);
  return { rawSize: raw.bytes, rawSha256: raw.digest(), storedSize: stored.bytes, storedSha256: stored.digest() };
}

/** sha256 and size of a file. */
export async function hashFile(file: string, onBytes?: (n: number) => void): Promise<{ size: number; sha256: string }> {
  const h = new HashCounter(onBytes);
  await pipeline(createReadStream(file, { highWaterMark: READ_HWM }), h, nullSink());
  return { size: h.bytes, sha256: h.digest() };
}

export interface DecodeOptions {
  compression: Compression;
  /** The key and everything the header must say, from the manifest (see backup/authenticate backupKey), or null. */
  encryption: DecryptExpectation | null;
  onBytes?: (storedBytesRead: number) => void;
}

export interface DecodeResult extends EncodeResult {}

/**
 * Decode a stored file into `sink` (a path, created 0600 and fsynced, or a
 * Writable). Hashes both sides. Throws DecryptError / zlib / zstd errors on
 * corruption or a header that disagrees with the manifest.
 */
export async function decodeTo(stored: string, sink: string | Writable, opts: DecodeOptions): Promise<DecodeResult> {
  const storedH = new HashCounter(opts.onBytes);
  const rawH = new HashCounter();
  const stages: Array<Transform | Duplex> = [storedH];
  if (opts.encryption) stages.push(new DecryptStream(opts.encryption));
  const d = decompressor(opts.compression);
  if (d) stages.push(d);
  stages.push(rawH);
  const out =
    typeof sink === 'string'
      ? createWriteStream(sink, { flags: 'wx', mode: FILE_MODE, flush: true, highWaterMark: READ_HWM })
      : sink;
  await pipeline(createReadStream(stored, { highWaterMark: READ_HWM }), ...(stages as [Transform]), out);
  return { rawSize: rawH.bytes, rawSha256: rawH.digest(), storedSize: storedH.bytes, storedSha256: storedH.digest() };
}
