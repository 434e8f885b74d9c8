/**
 * Compression codecs as streaming Transforms: gzip through Node's zlib, zstd
 * through the `zstd` binary (Node 20 has no zstd) as a child process using two
 * threads. Nothing is ever held whole in memory.
 */
import { spawn } from 'node:child_process';
import { trackChild } from '../../util/interrupt.js';
import { minimalEnv } from '../../util/process.js';
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import { Duplex, type Transform } from 'node:stream';
import { createGzip, createGunzip } from 'node:zlib';
import { DependencyError } from '../../errors.js';
import type { Compression } from '../types.js';

/** File-name suffix of each codec. */
export const COMPRESSION_SUFFIX: Record<Compression, string> = { none: '', gzip: '.gz', zstd: '.zst' };

let zstdCache: string | null | undefined;

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

/** The codecs usable on this machine (`none` and `gzip` always; `zstd` when the binary is present). */
export function availableCompressions(env: NodeJS.ProcessEnv = process.env): Compression[] {
  return findZstd(env) ? ['none', 'gzip', 'zstd'] : ['none', 'gzip'];
}

/** Throws DependencyError naming the available codecs when `c` cannot be used here. */
export function assertCompressionAvailable(c: Compression): void {
  if (c === 'zstd' && !findZstd()) {
    throw new DependencyError('zstd compression needs the `zstd` program, which is not on PATH', {
      hint: `install zstd (e.g. apt-get install zstd) or set WKS_ZSTD_PATH; available codecs here: ${availableCompressions().join(', ')}`,
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

/** A compressing Transform for `c`, or null for `none`. */
export function compressor(c: Compression): Transform | Duplex | null {
  if (c === 'gzip') return createGzip({ level: 6 });
  if (c === 'zstd') {
    assertCompressionAvailable('zstd');
    return childCodec(findZstd()!, ['-3', '-T2', '-q', '-c'], 'zstd compression');
  }
  return null;
}

/** A decompressing Transform for `c`, or null for `none`. */
export function decompressor(c: Compression): Transform | Duplex | null {
  if (c === 'gzip') return createGunzip();
  if (c === 'zstd') {
    assertCompressionAvailable('zstd');
    return childCodec(findZstd()!, ['-d', '-q', '-c'], 'zstd decompression');
  }
  return null;
}
