/**
 * A seeded pseudo-random generator (xoshiro128**), so every run with the same seed makes the
 * same choices. The core never uses `Math.random`.
 * @module
 */

/** Deterministic 32-bit PRNG (xoshiro128**), seeded through splitmix32. */
export class Prng {
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;

  /** Seeds the generator; the same seed always yields the same sequence. */
  constructor(seed = 1) {
    // splitmix32 of the seed advanced by the golden ratio, four times (no closure: the race
    // explorer seeds a machine per schedule).
    const x = seed >>> 0;
    this.s0 = splitmix32((x + 0x9e3779b9) >>> 0);
    this.s1 = splitmix32((x + 2 * 0x9e3779b9) >>> 0);
    this.s2 = splitmix32((x + 3 * 0x9e3779b9) >>> 0);
    this.s3 = splitmix32((x + 4 * 0x9e3779b9) >>> 0);
  }

  /** Next unsigned 32-bit value. */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5) >>> 0, 7), 9) >>> 0;
    const t = (this.s1 << 9) >>> 0;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    this.s0 >>>= 0;
    this.s1 >>>= 0;
    this.s2 >>>= 0;
    return result;
  }

  /** Uniform integer in `[0, n)`; `n` must be a positive integer below 2^32. */
  nextInt(n: number): number {
    if (n <= 1) return 0;
    return Math.floor((this.nextU32() / 4294967296) * n);
  }

  /** Uniform float in `[0, 1)`. */
  nextFloat(): number {
    return this.nextU32() / 4294967296;
  }
}

/** The splitmix32 output function of state `x`. */
function splitmix32(x: number): number {
  let z = x;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return (z ^ (z >>> 16)) >>> 0;
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
