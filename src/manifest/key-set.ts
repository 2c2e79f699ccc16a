/**
 * A set of strings that stores a 64-bit hash of each (two 32-bit halves) and the line it was first
 * seen on, in typed arrays: ~24 bytes per key at most, instead of a JS string per agent. This is what
 * lets a 1,000,000-row manifest be checked for duplicate agents in flat, small memory.
 *
 * Two different keys share a 64-bit hash with probability ~n²/2⁶⁵ (≈3·10⁻⁸ for a million rows); such a
 * pair would be reported as a duplicate — a false alarm that rejects the manifest, never a duplicate
 * let through.
 */

/** cyrb53's mixing, keeping both 32-bit halves. */
function hash64(key: string): [number, number] {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return [h1 >>> 0, h2 >>> 0];
}

export class KeySet {
  #h1: Uint32Array;
  #h2: Uint32Array;
  /** First line of each key; 0 marks an empty slot (lines start at 1). */
  #lines: Uint32Array;
  #size = 0;

  constructor(initialCapacity = 1024) {
    const capacity = 2 ** Math.ceil(Math.log2(Math.max(16, initialCapacity)));
    this.#h1 = new Uint32Array(capacity);
    this.#h2 = new Uint32Array(capacity);
    this.#lines = new Uint32Array(capacity);
  }

  get size(): number {
    return this.#size;
  }

  /** Adds `key` first seen on `line` (≥ 1). Returns the earlier line if the key was already there. */
  add(key: string, line: number): number | undefined {
    if (this.#size * 2 >= this.#lines.length) this.#grow();
    const [a, b] = hash64(key);
    const slot = this.#find(a, b);
    if (this.#lines[slot] !== 0) return this.#lines[slot];
    this.#h1[slot] = a;
    this.#h2[slot] = b;
    this.#lines[slot] = Math.max(1, line);
    this.#size++;
    return undefined;
  }

  #find(a: number, b: number): number {
    const mask = this.#lines.length - 1;
    for (let slot = (a ^ b) & mask; ; slot = (slot + 1) & mask) {
      if (this.#lines[slot] === 0 || (this.#h1[slot] === a && this.#h2[slot] === b)) return slot;
    }
  }

  #grow(): void {
    const [h1, h2, lines] = [this.#h1, this.#h2, this.#lines];
    const capacity = lines.length * 2;
    this.#h1 = new Uint32Array(capacity);
    this.#h2 = new Uint32Array(capacity);
    this.#lines = new Uint32Array(capacity);
    for (let i = 0; i < lines.length; i++) {
      if (lines[i] === 0) continue;
      const slot = this.#find(h1[i]!, h2[i]!);
      this.#h1[slot] = h1[i]!;
      this.#h2[slot] = h2[i]!;
      this.#lines[slot] = lines[i]!;
    }
  }
}
