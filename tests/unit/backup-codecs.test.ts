import { describe, it, expect } from 'vitest';
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  DecryptStream,
  EncryptStream,
  HEADER_LEN,
  TAG_LEN,
  keyId,
  parseKeyText,
  prepareEncryption,
  deriveKey,
  backupBinding,
  SCRYPT_DEFAULT,
  MAGIC,
} from '../../src/backup/codecs/encryption.js';
import type { EncryptionParams } from '../../src/backup/types.js';
import { ParallelGzip, compressor, decompressor, findZstd } from '../../src/backup/codecs/compression.js';
import { gunzipSync } from 'node:zlib';
import { encodeTo } from '../../src/backup/codecs/pipeline.js';
import { newBackupId, resolveBackup, parseAt, ID_RE } from '../../src/backup/catalog.js';
import type { CatalogEntry } from '../../src/backup/types.js';

async function run(input: Buffer, ...stages: NodeJS.ReadWriteStream[]): Promise<Buffer> {
  const out: Buffer[] = [];
  // Feed in odd-sized pieces to exercise re-chunking.
  const pieces: Buffer[] = [];
  for (let i = 0; i < input.length; i += 7919) pieces.push(input.subarray(i, i + 7919));
  await pipeline(
    Readable.from(pieces),
    ...(stages as [NodeJS.ReadWriteStream]),
    new Writable({ write: (c, _e, cb) => (out.push(c), cb()) }),
  );
  return Buffer.concat(out);
}

const KEY = randomBytes(32);
const BINDING = backupBinding('20261130T000000Z-abcd', '2026-11-30T00:00:00.000Z');
const params = (chunk = 4096): EncryptionParams => ({
  algorithm: 'aes-256-gcm',
  header: 2,
  kdf: 'none',
  salt: null,
  chunk_size: chunk,
  key_id: keyId(KEY),
});
const enc = (chunk = 4096) =>
  new EncryptStream(KEY, { kdf: 'none', scrypt: null, chunk, salt: Buffer.alloc(16), binding: BINDING });
const dec = (binding = BINDING) => new DecryptStream({ key: KEY, params: params(), binding });

describe('chunked AES-256-GCM', () => {
  for (const size of [0, 1, 4095, 4096, 4097, 3 * 4096, 100_000]) {
    it(`round-trips ${size} bytes`, async () => {
      const plain = randomBytes(size);
      const sealed = await run(plain, enc());
      expect(sealed.length).toBe(HEADER_LEN + size + TAG_LEN * (Math.floor(size / 4096) + 1));
      expect((await run(sealed, dec())).equals(plain)).toBe(true);
    });
  }

  it('detects a flipped bit anywhere (header, body, tag)', async () => {
    const sealed = await run(randomBytes(20_000), enc());
    for (const pos of [0, 8, 9, 20, 35, 50, HEADER_LEN + 5, HEADER_LEN + 4096 + TAG_LEN + 3, sealed.length - 1]) {
      const bad = Buffer.from(sealed);
      bad[pos]! ^= 0x01;
      await expect(run(bad, dec()), `flip at ${pos}`).rejects.toThrow();
    }
  });

  it('detects truncation at a record boundary, inside a record, and appended data', async () => {
    const sealed = await run(randomBytes(3 * 4096 + 10), enc());
    const boundary = HEADER_LEN + 2 * (4096 + TAG_LEN);
    await expect(run(sealed.subarray(0, boundary), dec())).rejects.toThrow(/truncated|authentication/);
    await expect(run(sealed.subarray(0, sealed.length - 5), dec())).rejects.toThrow(/authentication|truncated/);
    await expect(run(sealed.subarray(0, 20), dec())).rejects.toThrow(/truncated/);
    await expect(run(Buffer.concat([sealed, Buffer.from('x'.repeat(100))]), dec())).rejects.toThrow();
    // exact multiple of the chunk: the empty final record must be present
    const exact = await run(randomBytes(2 * 4096), enc());
    await expect(run(exact.subarray(0, exact.length - TAG_LEN), dec())).rejects.toThrow(/truncated/);
  });

  it('detects swapped records', async () => {
    const sealed = await run(randomBytes(3 * 4096 + 10), enc());
    const r = 4096 + TAG_LEN;
    const a = sealed.subarray(HEADER_LEN, HEADER_LEN + r);
    const b = sealed.subarray(HEADER_LEN + r, HEADER_LEN + 2 * r);
    const swapped = Buffer.concat([sealed.subarray(0, HEADER_LEN), b, a, sealed.subarray(HEADER_LEN + 2 * r)]);
    await expect(run(swapped, dec())).rejects.toThrow(/authentication failed at encrypted record 0/);
  });

  it('a header that disagrees with the manifest is reported as tampered, not as a wrong key', async () => {
    const sealed = await run(randomBytes(5000), enc());
    expect(sealed.subarray(0, 8).equals(MAGIC)).toBe(true);
    for (const [pos, why] of [
      [8, /key derivation byte/],
      [9, /scrypt parameters/],
      [20, /salt/],
      [60, /another backup/],
    ] as const) {
      const bad = Buffer.from(sealed);
      bad[pos]! ^= 0x01;
      await expect(run(bad, dec()), `flip at ${pos}`).rejects.toThrow(why);
    }
  });

  it('still reads a version-1 file (40-byte WKSENC01 header, as older wks wrote)', async () => {
    const plain = randomBytes(5000);
    const header = Buffer.alloc(40);
    Buffer.from('WKSENC01').copy(header, 0);
    header.writeUInt32BE(4096, 12);
    const prefix = randomBytes(8);
    prefix.copy(header, 32);
    const records = [plain.subarray(0, 4096), plain.subarray(4096)].map((chunk, i) => {
      const iv = Buffer.concat([prefix, Buffer.from([0, 0, 0, i])]);
      const c = createCipheriv('aes-256-gcm', KEY, iv, { authTagLength: 16 });
      c.setAAD(Buffer.concat([header, Buffer.from([0, 0, 0, i, i === 1 ? 1 : 0])]));
      return Buffer.concat([c.update(chunk), c.final(), c.getAuthTag()]);
    });
    const v1 = Buffer.concat([header, ...records]);
    const { header: _h, ...v1params } = params();
    const out = await run(v1, new DecryptStream({ key: KEY, params: v1params, binding: BINDING }));
    expect(out.equals(plain)).toBe(true);
  });

  it("binds the file to its backup: another backup's binding does not decrypt it", async () => {
    const sealed = await run(randomBytes(5000), enc());
    const other = backupBinding('20261130T000000Z-abcd', '2026-12-01T00:00:00.000Z');
    await expect(run(sealed, dec(other))).rejects.toThrow(/another backup/);
  });

  it('parses keys: 64 hex, base64 of 32 bytes, passphrase via scrypt with a salt', () => {
    const hex = randomBytes(32).toString('hex');
    expect(parseKeyText(hex, 't')).toEqual({ kind: 'raw', key: Buffer.from(hex, 'hex') });
    const b64 = randomBytes(32).toString('base64');
    expect(parseKeyText(`${b64}\n`, 't')).toEqual({ kind: 'raw', key: Buffer.from(b64, 'base64') });
    expect(parseKeyText('a long passphrase', 't').kind).toBe('passphrase');
    expect(() => parseKeyText('short', 't')).toThrow(/too short/);
    const p = prepareEncryption({ kind: 'passphrase', passphrase: 'a long passphrase' });
    expect(p.params.kdf).toBe('scrypt');
    expect(p.params.scrypt).toEqual(SCRYPT_DEFAULT);
    expect(SCRYPT_DEFAULT.N).toBeGreaterThanOrEqual(2 ** 17);
    expect(p.params.salt).toMatch(/^[0-9a-f]{32}$/);
    expect(JSON.stringify(p.params)).not.toContain('a long passphrase');
    const again = deriveKey({ kind: 'passphrase', passphrase: 'a long passphrase' }, 'scrypt', p.salt, SCRYPT_DEFAULT);
    expect(again.equals(p.key)).toBe(true);
    // Version-1 backups (no parameters recorded) were made with N = 2^15: still derivable.
    const v1 = deriveKey({ kind: 'passphrase', passphrase: 'a long passphrase' }, 'scrypt', p.salt);
    expect(v1.equals(p.key)).toBe(false);
    expect(keyId(p.key)).toBe(p.params.key_id);
  });
});

describe('compression codecs', () => {
  it('gzip round-trips', async () => {
    const plain = Buffer.from('hello backup '.repeat(10_000));
    const packed = await run(plain, compressor('gzip')!);
    expect(packed.length).toBeLessThan(plain.length / 10);
    expect((await run(packed, decompressor('gzip')!)).equals(plain)).toBe(true);
  });
  it('gzip on several threads: one standard stream of members in order, from any chunking, empty input included', async () => {
    // 3.5 MiB in 1000-byte writes: four 1 MiB blocks (the last one short), compressed concurrently.
    const plain = Buffer.concat([Buffer.from('wks block '.repeat(200_000)), randomBytes(1_500_000)]);
    const chunks = Array.from({ length: Math.ceil(plain.length / 1000) }, (_, i) =>
      plain.subarray(i * 1000, i * 1000 + 1000),
    );
    const out: Buffer[] = [];
    await pipeline(
      Readable.from(chunks),
      new ParallelGzip(3),
      new Writable({ write: (c: Buffer, _e, cb) => (out.push(c), cb()) }),
    );
    const packed = Buffer.concat(out);
    expect(out.length).toBe(4); // one member per block
    // Every member is a gzip stream on its own, and the whole is one gzip stream to any reader.
    const first = gunzipSync(out[0]!);
    expect(first.length).toBeGreaterThanOrEqual(1 << 20);
    expect(first.equals(plain.subarray(0, first.length))).toBe(true);
    expect(gunzipSync(packed).equals(plain)).toBe(true);
    expect((await run(packed, decompressor('gzip')!)).equals(plain)).toBe(true);
    // A truncated stream still fails.
    await expect(run(packed.subarray(0, packed.length - 10), decompressor('gzip')!)).rejects.toThrow();
    // No input: one empty member, which decodes to nothing.
    const none = await run(Buffer.alloc(0), compressor('gzip')!);
    expect(gunzipSync(none).length).toBe(0);
  });
  const zstdProgram = findZstd();
  const plain = Buffer.concat([Buffer.from('zstd '.repeat(50_000)), randomBytes(300_000)]);
  /** Run `fn` with WKS_ZSTD_PATH set (the zstd program) or unset (Node's own zstd where it has one). */
  const using = async <T>(program: boolean, fn: () => Promise<T>): Promise<T> => {
    const saved = process.env.WKS_ZSTD_PATH;
    if (program) process.env.WKS_ZSTD_PATH = zstdProgram ?? '/nonexistent/zstd';
    else delete process.env.WKS_ZSTD_PATH;
    try {
      return await fn();
    } finally {
      if (saved === undefined) delete process.env.WKS_ZSTD_PATH;
      else process.env.WKS_ZSTD_PATH = saved;
    }
  };
  it.skipIf(!zstdProgram)(
    'zstd (program) round-trips and fails loudly on garbage and on a truncated stream',
    async () => {
      await using(true, async () => {
        const packed = await run(plain, compressor('zstd')!);
        expect((await run(packed, decompressor('zstd')!)).equals(plain)).toBe(true);
        await expect(run(randomBytes(1000), decompressor('zstd')!)).rejects.toThrow(/zstd decompression failed/);
        await expect(run(packed.subarray(0, packed.length - 100), decompressor('zstd')!)).rejects.toThrow();
      });
    },
  );
  it('zstd on this Node (built in from 22.15, else the program): round-trips, fails on garbage and truncation', async () => {
    await using(false, async () => {
      const packed = await run(plain, compressor('zstd')!);
      expect((await run(packed, decompressor('zstd')!)).equals(plain)).toBe(true);
      await expect(run(randomBytes(1000), decompressor('zstd')!)).rejects.toThrow();
      // Node 22's own decoder ends a truncated stream cleanly; the codec then decodes with the program instead.
      if (zstdProgram)
        await expect(run(packed.subarray(0, packed.length - 100), decompressor('zstd')!)).rejects.toThrow();
    });
  });
  it.skipIf(!zstdProgram)(
    'the zstd program reads a raw file itself: its output decodes to the file, both sides are hashed, a failure fails the encode',
    async () => {
      const dir = mkdtempSync(path.join(tmpdir(), 'wks-codec-'));
      const raw = path.join(dir, 'raw.db');
      writeFileSync(raw, plain);
      const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
      try {
        await using(true, async () => {
          const out = path.join(dir, 'out.zst');
          const r = await encodeTo(raw, out, { compression: 'zstd', encryption: null });
          const stored = readFileSync(out);
          expect(r).toEqual({
            rawSize: plain.length,
            rawSha256: sha(plain),
            storedSize: stored.length,
            storedSha256: sha(stored),
          });
          expect((await run(stored, decompressor('zstd')!)).equals(plain)).toBe(true);
          await expect(
            encodeTo(path.join(dir, 'missing.db'), path.join(dir, 'out2.zst'), {
              compression: 'zstd',
              encryption: null,
            }),
          ).rejects.toThrow(/zstd compression failed/);
        });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
  it.skipIf(!zstdProgram)("the built-in and the program read each other's frames", async () => {
    const byProgram = await using(true, () => run(plain, compressor('zstd')!));
    const byNode = await using(false, () => run(plain, compressor('zstd')!));
    expect((await using(false, () => run(byProgram, decompressor('zstd')!))).equals(plain)).toBe(true);
    expect((await using(true, () => run(byNode, decompressor('zstd')!))).equals(plain)).toBe(true);
  });
});

describe('catalog ids and selection', () => {
  const entry = (id: string): CatalogEntry => ({
    manifest: { id } as CatalogEntry['manifest'],
    manifestPath: '',
    dataName: '',
    dataPath: '',
    dataPresent: true,
    verification: null,
  });
  const entries = ['20261129T023000Z-a1b2', '20261129T023000Z-a1c3', '20261128T020000Z-ffff'].map(entry);

  it('makes sortable, typeable ids', () => {
    const id = newBackupId(new Date('2026-11-29T02:30:00.123Z'));
    expect(id).toMatch(ID_RE);
    expect(id.startsWith('20261129T023000Z-')).toBe(true);
  });
  it('resolves exact ids and unique prefixes; ambiguous -> exit 2, unknown -> exit 5', () => {
    expect(resolveBackup(entries, '20261128', '/b').manifest.id).toBe('20261128T020000Z-ffff');
    expect(resolveBackup(entries, '20261129T023000Z-a1b', '/b').manifest.id).toBe('20261129T023000Z-a1b2');
    expect(() => resolveBackup(entries, '20261129', '/b')).toThrow(expect.objectContaining({ exitCode: 2 }));
    expect(() => resolveBackup(entries, '2025', '/b')).toThrow(expect.objectContaining({ exitCode: 5 }));
    expect(() => resolveBackup(entries, '', '/b')).toThrow(expect.objectContaining({ exitCode: 5 }));
  });
  it('parses --at times', () => {
    expect(parseAt('2026-11-29T02:00:00Z').toISOString()).toBe('2026-11-29T02:00:00.000Z');
    expect(parseAt('20261129T020000Z').toISOString()).toBe('2026-11-29T02:00:00.000Z');
    expect(() => parseAt('yesterday-ish')).toThrow(expect.objectContaining({ exitCode: 2 }));
  });
});
