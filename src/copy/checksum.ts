/**
 * The order-independent table checksum used to verify a copy.
 *
 * Each row is rendered canonically (its fields in column order, joined by a
 * tab, NULL as `\N`; see convert.ts for each field's canonical form), hashed
 * with a fast non-cryptographic 64-bit hash (two 32-bit lanes over pairs of
 * UTF-16 code units, each finished with murmur3's fmix32), and the row hashes are SUMMED per
 * lane modulo 2^32. A sum (unlike XOR) does not let duplicate rows cancel
 * out, and it does not depend on row order, so the source (SQLite, rowid
 * order) and the target (PostgreSQL, heap order) can be compared.
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

/** Accumulates row hashes. `add(line)` for each canonical row; `digest()` at the end. */
export class TableChecksum {
  rows = 0;
  private a = 0;
  private b = 0;

  add(line: string): void {
    // Two UTF-16 code units per step; each step is a bijection of the lane
    // state for a given input, so rows that differ anywhere hash differently
    // up to chance collisions; fmix32 spreads the bits at the end.
    const n = line.length;
    let h1 = 0x811c9dc5 ^ n;
    let h2 = 0x9747b28c;
    let i = 0;
    for (; i + 1 < n; i += 2) {
      const k = line.charCodeAt(i) | (line.charCodeAt(i + 1) << 16);
      h1 = Math.imul(h1 ^ k, 0x01000193);
      h2 = Math.imul(h2 ^ k, 0x5bd1e995);
      h2 = (h2 << 13) | (h2 >>> 19);
    }
    if (i < n) {
      const k = line.charCodeAt(i);
      h1 = Math.imul(h1 ^ k, 0x01000193);
      h2 = Math.imul(h2 ^ k, 0x5bd1e995);
    }
    this.a = (this.a + fmix32(h1)) >>> 0;
    this.b = (this.b + fmix32(h2 ^ Math.imul(h1, 0x27d4eb2d))) >>> 0;
    this.rows++;
  }

  /** 16 hex digits. Equal tables give equal digests. */
  digest(): string {
    return this.a.toString(16).padStart(8, '0') + this.b.toString(16).padStart(8, '0');
  }
}
