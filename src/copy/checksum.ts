/**
 * The order-independent table checksum used to verify a copy.
 *
 * Each row is rendered canonically (its fields in column order, joined by a
 * tab, NULL as `\N`; see convert.ts for each field's canonical form), hashed
 * with a fast non-cryptographic 64-bit hash (two independent 32-bit lanes,
 * each finished with murmur3's fmix32), and the row hashes are SUMMED per
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
    let h1 = 0x811c9dc5;
    let h2 = 0x9747b28c ^ line.length;
    for (let i = 0; i < line.length; i++) {
      const c = line.charCodeAt(i);
      h1 = Math.imul(h1 ^ c, 0x01000193);
      h2 = Math.imul((h2 << 5) | (h2 >>> 27), 0x5bd1e995) ^ c;
    }
    this.a = (this.a + fmix32(h1)) >>> 0;
    this.b = (this.b + fmix32(h2 ^ h1)) >>> 0;
    this.rows++;
  }

  /** 16 hex digits. Equal tables give equal digests. */
  digest(): string {
    return this.a.toString(16).padStart(8, '0') + this.b.toString(16).padStart(8, '0');
  }
}
