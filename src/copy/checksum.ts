/**
 * The order-independent table checksum used to verify a copy.
 *
 * Each row is rendered canonically (its fields in column order, joined by a
 * tab, NULL as `\N`, in UTF-8; see convert.ts for each field's canonical
 * form: the COPY text field itself for every kind but json and, on the
 * target side, float), hashed with a fast non-cryptographic 64-bit hash (two
 * 32-bit lanes over 4-byte words, each finished with murmur3's fmix32), and
 * the row hashes are SUMMED per lane modulo 2^32. A sum (unlike XOR) does
 * not let duplicate rows cancel out, and it does not depend on row order, so
 * the source (SQLite, rowid order) and the target (PostgreSQL, heap order)
 * can be compared.
 *
 * Hashing works on bytes so that both sides can hash COPY text as it is
 * produced or received, without building a string per row.
 *
 * This detects lost, duplicated, altered and extra rows; it is not a
 * defence against someone crafting collisions on purpose.
 */

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const encoder = new TextEncoder();

/** Accumulates row hashes: `addBytes` per canonical row, `digest()` at the end. */
export class TableChecksum {
  rows = 0;
  private a = 0;
  private b = 0;

  /** One row: bytes [start, end) of `buf` (UTF-8, no trailing newline). */
  addBytes(buf: Uint8Array, start: number, end: number): void {
    // Each step is a bijection of the lane state for a given input word, so
    // rows that differ anywhere hash differently up to chance collisions.
    let h1 = 0x811c9dc5 ^ (end - start);
    let h2 = 0x9747b28c;
    let i = start;
    for (; i + 3 < end; i += 4) {
      const k = buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | (buf[i + 3]! << 24);
      h1 = Math.imul(h1 ^ k, 0x01000193);
      h2 = Math.imul(h2 ^ k, 0x5bd1e995);
      h2 = (h2 << 13) | (h2 >>> 19);
    }
    for (; i < end; i++) {
      const k = buf[i]!;
      h1 = Math.imul(h1 ^ k, 0x01000193);
      h2 = Math.imul(h2 ^ k, 0x5bd1e995);
    }
    this.a = (this.a + fmix32(h1)) >>> 0;
    this.b = (this.b + fmix32(h2 ^ Math.imul(h1, 0x27d4eb2d))) >>> 0;
    this.rows++;
  }

  private scratch = new Uint8Array(4096);

  /** One row given as a string (encoded to UTF-8 first). */
  add(line: string): void {
    if (this.scratch.length < line.length * 3) this.scratch = new Uint8Array(line.length * 3);
    const r = encoder.encodeInto(line, this.scratch);
    this.addBytes(this.scratch, 0, r.written);
  }

  /** 16 hex digits. Equal tables give equal digests. */
  digest(): string {
    return this.a.toString(16).padStart(8, '0') + this.b.toString(16).padStart(8, '0');
  }
}
