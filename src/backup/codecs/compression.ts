/**
 * Compression codecs as streaming Transforms: gzip through Node's zlib, 1 MiB
 * blocks compressed on several threads (ParallelGzip); zstd
 * through node:zlib on Node >= 22.15 (level 3, with a content checksum in
 * each frame, as the zstd program writes them), else through the `zstd`
 * program as a child process using two threads (Node 20 has no zstd).
 * Setting WKS_ZSTD_PATH asks for that program even where Node has zstd.
 * Both write standard zstd frames, so either reads what the other wrote.
 * Nothing is ever held whole in memory.
 */
import { spawn } from 'node:child_process';
import { trackChild } from '../../util/interrupt.js';
import { minimalEnv } from '../../util/process.js';
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import { availableParallelism } from 'node:os';
import { Duplex, Transform, type TransformCallback } from 'node:stream';
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import { DependencyError } from '../../errors.js';
import type { Compression } from '../types.js';

/** File-name suffix of each codec. */
export const COMPRESSION_SUFFIX: Record<Compression, string> = { none: '', gzip: '.gz', zstd: '.zst' };

let zstdCache: string | null | undefined;

/** node:zlib's zstd API (Node >= 22.15; @types/node 20 does not describe it). */
interface NodeZstd {
  createZstdCompress(opts?: { params?: Record<number, number> }): Transform;
  createZstdDecompress(): Transform;
  zstdCompressSync(buf: Buffer, opts?: { params?: Record<number, number> }): Buffer;
  zstdDecompressSync(buf: Buffer): Buffer;
  constants: Record<string, number>;
}

/** Node's own zstd, or null on Node 20 and when WKS_ZSTD_PATH asks for the program. */
function nodeZstd(env: NodeJS.ProcessEnv = process.env): NodeZstd | null {
  const z = zlib as unknown as Partial<NodeZstd>;
  return typeof z.createZstdCompress === 'function' && !env.WKS_ZSTD_PATH ? (z as NodeZstd) : null;
}

const zstdParams = (z: NodeZstd) => ({
  [z.constants.ZSTD_c_compressionLevel as number]: 3,
  [z.constants.ZSTD_c_checksumFlag as number]: 1,
});

let strictCache: boolean | undefined;

/**
 * Whether node:zlib's zstd decoder fails on a truncated stream. Node 24 does;
 * Node 22's ends such a stream cleanly, short. Probed once with a frame cut
 * short (microseconds), so the answer follows the runtime, not a version list.
 */
function nodeZstdStrict(z: NodeZstd): boolean {
  if (strictCache === undefined) {
    const frame = z.zstdCompressSync(Buffer.alloc(4096, 'wks'), { params: zstdParams(z) });
    try {
      z.zstdDecompressSync(frame.subarray(0, frame.length - 2));
      strictCache = false;
    } catch {
      strictCache = true;
    }
  }
  return strictCache;
}

/** Absolute path of the zstd binary on PATH (WKS_ZSTD_PATH overrides), or null. Cached. */
export function findZstd(env: NodeJS.ProcessEnv = process.env): string | null {
  if (zstdCache !== undefined) return zstdCache;
  const candidates = env.WKS_ZSTD_PATH
    ? [env.WKS_ZSTD_PATH]
    : (env.PATH ?? '')
        .split(path.delimiter)
        .filter(Boolean)
        .map((d) => path.join(d, 'zstd'));
  zstdCache = null;
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      zstdCache = c;
      break;
    } catch {
      /* next */
    }
  }
  return zstdCache;
}

/** The codecs usable here (`none` and `gzip` always; `zstd` on Node >= 22.15 or when the program is present). */
export function availableCompressions(env: NodeJS.ProcessEnv = process.env): Compression[] {
  return nodeZstd(env) || findZstd(env) ? ['none', 'gzip', 'zstd'] : ['none', 'gzip'];
}

/** Throws DependencyError naming the available codecs when `c` cannot be used here. */
export function assertCompressionAvailable(c: Compression): void {
  if (c === 'zstd' && !nodeZstd() && !findZstd()) {
    const where = process.env.WKS_ZSTD_PATH
      ? `is not executable at WKS_ZSTD_PATH (${process.env.WKS_ZSTD_PATH})`
      : 'is not on PATH';
    throw new DependencyError(`zstd compression needs the \`zstd\` program, which ${where}`, {
      hint: `install zstd (e.g. apt-get install zstd), set WKS_ZSTD_PATH, or run on Node.js >= 22.15 (built-in zstd); available codecs here: ${availableCompressions().join(', ')}`,
    });
  }
}

/**
 * A Duplex over a child process's stdin/stdout. Its readable side ends only
 * after the child exited 0; a non-zero exit (or a signal) fails the stream,
 * so a corrupt zstd frame can never look like a clean, short output.
 */
function childCodec(bin: string, args: string[], what: string): Duplex {
  // A minimal environment: zstd has no business seeing BACKUP_ENCRYPTION_KEY, PG_PASSWORD or cloud keys.
  const child = trackChild(spawn(bin, args, { stdio: ['pipe', 'pipe', 'pipe'], env: minimalEnv() }));
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    if (stderr.length < 2000) stderr += d;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal })),
  );
  const failure = async (): Promise<Error | null> => {
    const { code, signal } = await exited;
    return code === 0
      ? null
      : new Error(`${what} failed (${signal ?? `exit ${code}`}): ${stderr.trim().split('\n').pop() ?? ''}`);
  };
  const duplex = new Duplex({
    write(chunk: Buffer, _enc, cb) {
      if (child.stdin.write(chunk)) cb();
      else child.stdin.once('drain', () => cb());
    },
    final(cb) {
      child.stdin.end();
      cb();
    },
    read() {
      child.stdout.resume();
    },
    destroy(err, cb) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      cb(err);
    },
  });
  child.stdout.on('data', (d: Buffer) => {
    if (!duplex.push(d)) child.stdout.pause();
  });
  child.stdout.on('end', () => {
    void failure().then((err) => (err ? duplex.destroy(err) : duplex.push(null)));
  });
  // EPIPE when the child dies early: report the child's own error instead.
  child.stdin.on('error', () => void failure().then((err) => duplex.destroy(err ?? new Error(`${what}: broken pipe`))));
  child.on('error', (err) => duplex.destroy(err));
  return duplex;
}

const gzipBlock = promisify(zlib.gzip);

/** Raw bytes per gzip member (the unit compressed on one thread). */
const GZIP_BLOCK = 1024 * 1024;

/**
 * gzip at level 6 on several threads, as pigz does: the input is cut into
 * GZIP_BLOCK blocks, up to `threads` of them are compressed at once on libuv's
 * thread pool, and each becomes one gzip member, written in order. Concatenated
 * members are one standard gzip stream (RFC 1952; gunzip, zcat, Node's
 * createGunzip all read it); the size is within half a percent of one member.
 */
export class ParallelGzip extends Transform {
  private readonly inFlight: Array<Promise<Buffer>> = [];
  private parts: Buffer[] = [];
  private size = 0;
  private empty = true;

  constructor(private readonly threads = Math.min(4, Math.max(2, availableParallelism()))) {
    super({ highWaterMark: GZIP_BLOCK });
  }

  /** Start compressing the buffered bytes as one member. */
  private startBlock(): void {
    const block = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.size);
    this.parts = [];
    this.size = 0;
    this.empty = false;
    const p = gzipBlock(block, { level: 6, chunkSize: GZIP_BLOCK / 4 });
    p.catch(() => undefined); // handled where it is awaited, in order
    this.inFlight.push(p);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.parts.push(chunk);
    this.size += chunk.length;
    if (this.size >= GZIP_BLOCK) this.startBlock();
    if (this.inFlight.length < this.threads) {
      cb();
      return;
    }
    this.inFlight.shift()!.then((out) => {
      this.push(out);
      cb();
    }, cb);
  }

  override _flush(cb: TransformCallback): void {
    if (this.size || this.empty) this.startBlock(); // an empty input still gives one (empty) member
    Promise.all(this.inFlight.splice(0)).then((outs) => {
      for (const out of outs) this.push(out);
      cb();
    }, cb);
  }
}

/** A compressing Transform for `c`, or null for `none`. */
export function compressor(c: Compression): Transform | Duplex | null {
  if (c === 'gzip') return new ParallelGzip();
  if (c === 'zstd') {
    assertCompressionAvailable('zstd');
    const z = nodeZstd();
    if (z) return z.createZstdCompress({ params: zstdParams(z) });
    return childCodec(findZstd()!, ['-3', '-T2', '-q', '-c'], 'zstd compression');
  }
  return null;
}

/**
 * A compressor that reads the raw image `file` itself, as `zstd -3 -T2 file` does, so the raw bytes
 * never pass through this process: the zstd program's output as a stream that fails unless the
 * program exits 0. Null when `c` compresses in-process (gzip, Node's own zstd) or is `none`; the
 * caller then pipes the file through compressor(c).
 */
export function fileCompressor(c: Compression, file: string): Duplex | null {
  if (c !== 'zstd') return null;
  assertCompressionAvailable('zstd');
  if (nodeZstd()) return null;
  const d = childCodec(findZstd()!, ['-3', '-T2', '-q', '-c', '--', file], 'zstd compression');
  d.end(); // nothing comes from stdin: the program reads the file
  return d;
}

/** A decompressing Transform for `c`, or null for `none`. */
export function decompressor(c: Compression): Transform | Duplex | null {
  if (c === 'gzip') return zlib.createGunzip();
  if (c === 'zstd') {
    assertCompressionAvailable('zstd');
    // A decoder that would end a truncated stream cleanly is used only when there is no program to
    // do better; even then the raw image's sha256 (checked by every decode) catches the short output.
    const z = nodeZstd();
    if (z && (nodeZstdStrict(z) || !findZstd())) return z.createZstdDecompress();
    return childCodec(findZstd()!, ['-d', '-q', '-c'], 'zstd decompression');
  }
  return null;
}
