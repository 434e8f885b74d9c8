/**
 * The encode/decode pipelines shared by every engine:
 *   raw image -> [compress] -> [encrypt] -> sha256 -> stored file
 *   stored file -> sha256 -> [decrypt] -> [decompress] -> sha256 -> raw image / sink
 * Everything streams; memory stays flat whatever the size.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { PassThrough, Transform, Writable, type Readable, type TransformCallback, type Duplex } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { FILE_MODE } from '../files.js';
import type { Compression, EncryptionParams } from '../types.js';
import { compressor, decompressor, fileCompressor } from './compression.js';
import { hashFileSoon } from './hash-worker.js';
import { DecryptStream, EncryptStream, type DecryptExpectation } from './encryption.js';

/** A pass-through that hashes (sha256) and counts what flows through it; with `hash` false it only counts. */
export class HashCounter extends Transform {
  private readonly hash: Hash | null;
  bytes = 0;
  constructor(
    private readonly onBytes?: (n: number) => void,
    hash = true,
  ) {
    super();
    this.hash = hash ? createHash('sha256') : null;
  }
  override _transform(chunk: Buffer, _e: BufferEncoding, cb: TransformCallback): void {
    this.hash?.update(chunk);
    this.bytes += chunk.length;
    this.onBytes?.(this.bytes);
    cb(null, chunk);
  }
  digest(): string {
    if (!this.hash) throw new Error('HashCounter: counting only, no hash');
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
  /**
   * The raw file's sha256 and size, already being computed by the caller (hashFileSoon, on a worker
   * thread): the pipeline then only counts raw bytes, and fails when the count differs from that size.
   */
  rawHash?: Promise<{ size: number; sha256: string }>;
}

const READ_HWM = 1024 * 1024;

/**
 * A consumer of the encoded stream: it must read `body` to the end and
 * resolve once what it read is stored (e.g. BackupRepository.putStream).
 */
export type StreamSink = (body: Readable) => Promise<void>;

/**
 * Encode `source` (a file path or a stream) into `dest`: a file path
 * (created 0600, fsynced on close) or a StreamSink. A failure on either side
 * stops the other; the first error is thrown.
 */
export async function encodeTo(
  source: string | Readable,
  dest: string | StreamSink,
  opts: EncodeOptions,
): Promise<EncodeResult> {
  // The zstd program reads a raw file itself; its sha256 is taken beside it (a worker thread), in parallel.
  const fed = typeof source === 'string' ? fileCompressor(opts.compression, source) : null;
  if (fed && typeof source === 'string') return encodeFed(source, fed, dest, opts);
  const early = typeof source === 'string' ? opts.rawHash : undefined;
  const raw = new HashCounter(opts.onBytes, !early);
  const stages: Array<Transform | Duplex> = [raw];
  const c = compressor(opts.compression);
  if (c) stages.push(c);
  const r = await encodeStages(typeof source === 'string' ? readFile(source) : source, stages, dest, opts);
  if (!early) return { rawSize: raw.bytes, rawSha256: raw.digest(), ...r };
  return { ...(await sameRaw(early, raw.bytes)), ...r };
}

/** The caller's hash of the raw file, checked against the bytes the encoder read from it. */
async function sameRaw(
  hashing: Promise<{ size: number; sha256: string }>,
  encoded: number,
): Promise<{ rawSize: number; rawSha256: string }> {
  const h = await hashing;
  if (h.size !== encoded)
    throw new Error(`the raw image changed while it was encoded (${h.size} bytes hashed, ${encoded} encoded)`);
  return { rawSize: h.size, rawSha256: h.sha256 };
}

/** encodeTo for a compressor that reads the raw file itself: the raw side is hashed from the file, in parallel. */
async function encodeFed(
  file: string,
  fed: Duplex,
  dest: string | StreamSink,
  opts: EncodeOptions,
): Promise<EncodeResult> {
  const rawHash = opts.rawHash ?? hashFileSoon(file);
  rawHash.catch(() => undefined); // awaited below; a failed encode is the error that counts
  const r = await encodeStages(fed, [], dest, opts);
  const h = await rawHash;
  opts.onBytes?.(h.size);
  return { rawSize: h.size, rawSha256: h.sha256, ...r };
}

const readFile = (file: string): Readable => createReadStream(file, { highWaterMark: READ_HWM });

/** Pipe `input` through `stages`, then encryption (when asked) and the stored side's hash, into `dest`. */
async function encodeStages(
  input: Readable,
  stages: Array<Transform | Duplex>,
  dest: string | StreamSink,
  opts: EncodeOptions,
): Promise<{ storedSize: number; storedSha256: string }> {
  const stored = new HashCounter();
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
  if (typeof dest === 'string') {
    const out = createWriteStream(dest, { flags: 'wx', mode: FILE_MODE, flush: true, highWaterMark: READ_HWM });
    await pipeline(input, ...(stages as [Transform]), out);
  } else {
    await pumpInto(input, stages, dest);
  }
  return { storedSize: stored.bytes, storedSha256: stored.digest() };
}

/** Pipe `input` through `stages` into a StreamSink; whichever side fails first stops the other, and its error is thrown. */
async function pumpInto(input: Readable, stages: Array<Transform | Duplex>, sink: StreamSink): Promise<void> {
  const body = new PassThrough({ highWaterMark: READ_HWM });
  let first: unknown = null;
  const note = (err: unknown) => {
    first ??= err;
    throw err;
  };
  const pumping = pipeline(input, ...(stages as [Transform]), body).catch(note);
  const storing = sink(body).catch((err) => {
    body.destroy(err instanceof Error ? err : new Error(String(err)));
    input.destroy();
    return note(err);
  });
  const results = await Promise.allSettled([pumping, storing]);
  if (results.some((r) => r.status === 'rejected')) throw first;
}

/** sha256 and size of a file or a stream. */
export async function hashFile(
  file: string | Readable,
  onBytes?: (n: number) => void,
): Promise<{ size: number; sha256: string }> {
  const h = new HashCounter(onBytes);
  const input = typeof file === 'string' ? readFile(file) : file;
  await pipeline(input, h, nullSink());
  return { size: h.bytes, sha256: h.digest() };
}

export interface DecodeOptions {
  compression: Compression;
  /** The key and everything the header must say, from the manifest (see backup/authenticate backupKey), or null. */
  encryption: DecryptExpectation | null;
  onBytes?: (storedBytesRead: number) => void;
  /** Fsync a file sink on close (default true); false for a scratch file that is read back at once and removed. */
  durable?: boolean;
}

export interface DecodeResult extends EncodeResult {}

/**
 * Decode a stored file or stream into `sink` (a path, created 0600 and
 * fsynced unless `durable` is false, or a Writable). Hashes both sides. Throws DecryptError / zlib /
 * zstd errors on corruption or a header that disagrees with the manifest.
 */
export async function decodeTo(
  stored: string | Readable,
  sink: string | Writable,
  opts: DecodeOptions,
): Promise<DecodeResult> {
  const storedH = new HashCounter(opts.onBytes);
  const stages: Array<Transform | Duplex> = [storedH];
  if (opts.encryption) stages.push(new DecryptStream(opts.encryption));
  const d = decompressor(opts.compression);
  if (d) stages.push(d);
  // A plain object is its raw image: one hash serves both sides.
  const rawH = stages.length > 1 ? new HashCounter() : storedH;
  if (rawH !== storedH) stages.push(rawH);
  const out =
    typeof sink === 'string'
      ? createWriteStream(sink, { flags: 'wx', mode: FILE_MODE, flush: opts.durable ?? true, highWaterMark: READ_HWM })
      : sink;
  const input = typeof stored === 'string' ? readFile(stored) : stored;
  await pipeline(input, ...(stages as [Transform]), out);
  const storedSha256 = storedH.digest();
  const rawSha256 = rawH === storedH ? storedSha256 : rawH.digest();
  return { rawSize: rawH.bytes, rawSha256, storedSize: storedH.bytes, storedSha256 };
}
