import { describe, expect, it } from 'vitest';
import { Prng } from '../../../src/sim/prng.ts';

const draw = (p: Prng, n: number): number[] => Array.from({ length: n }, () => p.nextU32());

/** xoshiro128** written independently, in BigInt arithmetic, from the published algorithm. */
function referenceXoshiro128ss(state: readonly number[], count: number): number[] {
  const MASK = 0xffff_ffffn;
  const rotl = (x: bigint, k: bigint): bigint => ((x << k) | (x >> (32n - k))) & MASK;
  let [s0, s1, s2, s3] = state.map((v) => BigInt(v)) as [bigint, bigint, bigint, bigint];
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    out.push(Number((rotl((s1 * 5n) & MASK, 7n) * 9n) & MASK));
    const t = (s1 << 9n) & MASK;
    s2 ^= s0;
    s3 ^= s1;
    s1 ^= s2;
    s0 ^= s3;
    s2 ^= t;
    s3 = rotl(s3, 11n);
  }
  return out;
}

describe('Prng', () => {
  it('gives the same sequence for the same seed', () => {
    for (const seed of [0, 1, 42, 0xdead_beef]) {
      expect(draw(new Prng(seed), 1000)).toEqual(draw(new Prng(seed), 1000));
    }
  });

  it('keeps the sequence of seed 1 (recorded runs replay only if it never changes)', () => {
    expect(new Prng().nextU32()).toBe(new Prng(1).nextU32());
    expect(draw(new Prng(1), 6)).toEqual([
      2442144158, 3238099751, 3819917871, 2104621829, 2021136066, 4223536128,
    ]);
  });

  it('keeps the seeding of the lowest and highest 32-bit seeds (splitmix32 of the seed)', () => {
    expect(draw(new Prng(0), 4)).toEqual([3809008728, 1133695204, 53579671, 2891528803]);
    expect(draw(new Prng(0xffff_ffff), 4)).toEqual([835879718, 1921286648, 2356205009, 1885780724]);
  });

  it('gives different sequences for different seeds', () => {
    const firsts = new Set<number>();
    for (let seed = 0; seed < 200; seed++) firsts.add(new Prng(seed).nextU32());
    expect(firsts.size).toBe(200);
    expect(draw(new Prng(1), 20)).not.toEqual(draw(new Prng(2), 20));
  });

  it('takes the seed modulo 2^32', () => {
    expect(draw(new Prng(-1), 10)).toEqual(draw(new Prng(0xffff_ffff), 10));
    expect(draw(new Prng(2 ** 32 + 5), 10)).toEqual(draw(new Prng(5), 10));
  });

  it('implements xoshiro128** (reference outputs from state [1, 2, 3, 4])', () => {
    const p = new Prng();
    Object.assign(p, { s0: 1, s1: 2, s2: 3, s3: 4 });
    const got = draw(p, 1000);
    // By hand: rotl(2 * 5, 7) * 9 = 11520; then s1 becomes 2 ^ (3 ^ 1) = 0.
    expect(got.slice(0, 2)).toEqual([11520, 0]);
    expect(got).toEqual(referenceXoshiro128ss([1, 2, 3, 4], 1000));
  });

  it('produces unsigned 32-bit integers', () => {
    const p = new Prng(7);
    const bad = draw(p, 5000).filter((v) => !Number.isInteger(v) || v < 0 || v > 0xffff_ffff);
    expect(bad).toEqual([]);
  });

  it('keeps nextInt(n) within [0, n) and reaches both ends for small n', () => {
    const p = new Prng(3);
    for (const n of [2, 3, 7, 10, 1000, 2 ** 31 + 1, 2 ** 32 - 1]) {
      let min = Number.POSITIVE_INFINITY;
      let max = Number.NEGATIVE_INFINITY;
      for (let i = 0; i < 5000; i++) {
        const v = p.nextInt(n);
        if (!Number.isInteger(v) || v < 0 || v >= n) throw new Error(`nextInt(${n}) gave ${v}`);
        min = Math.min(min, v);
        max = Math.max(max, v);
      }
      if (n <= 10) expect([min, max]).toEqual([0, n - 1]);
      else expect(max).toBeGreaterThan(n / 2);
    }
  });

  it('returns 0 from nextInt(1) and nextInt(0)', () => {
    const p = new Prng(9);
    for (let i = 0; i < 100; i++) {
      expect(p.nextInt(1)).toBe(0);
      expect(p.nextInt(0)).toBe(0);
    }
  });

  it('spreads nextInt(10) evenly over its buckets', () => {
    const p = new Prng(2024);
    const buckets = new Array<number>(10).fill(0);
    const draws = 100_000;
    for (let i = 0; i < draws; i++) buckets[p.nextInt(10)]!++;
    // Expected 10 000 per bucket, standard deviation about 95.
    for (const b of buckets) {
      expect(b).toBeGreaterThan(9_400);
      expect(b).toBeLessThan(10_600);
    }
    expect(buckets.reduce((a, b) => a + b, 0)).toBe(draws);
  });

  it('gives floats in [0, 1) with a mean near 1/2 and balanced bits', () => {
    const p = new Prng(11);
    let sum = 0;
    const ones = new Array<number>(32).fill(0);
    const draws = 20_000;
    for (let i = 0; i < draws; i++) {
      const f = p.nextFloat();
      if (f < 0 || f >= 1) throw new Error(`nextFloat gave ${f}`);
      sum += f;
      const u = p.nextU32();
      for (let bit = 0; bit < 32; bit++) ones[bit]! += (u >>> bit) & 1;
    }
    expect(sum / draws).toBeGreaterThan(0.48);
    expect(sum / draws).toBeLessThan(0.52);
    for (const count of ones) {
      expect(count / draws).toBeGreaterThan(0.47);
      expect(count / draws).toBeLessThan(0.53);
    }
  });
});
