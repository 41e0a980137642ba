import { describe, expect, it } from 'vitest';
import { Prng } from '../../../src/sim/prng.ts';
import { createEvictor } from '../../../src/workload/policy/eviction.ts';
import {
  densityPrefetch,
  type PrefetchInput,
  randomPrefetch,
  slPrefetch,
  tbnPrefetch,
  windowPrefetch,
} from '../../../src/workload/policy/prefetch.ts';
import { BLOCK_WORDS } from '../../../src/workload/units.ts';

const mask = (...ranges: [number, number][]): Uint32Array => {
  const m = new Uint32Array(BLOCK_WORDS);
  for (const [a, b] of ranges) for (let p = a; p < b; p++) m[p >>> 5]! |= 1 << (p & 31);
  return m;
};
const ranges = (m: Uint32Array): [number, number][] => {
  const out: [number, number][] = [];
  let start = -1;
  for (let p = 0; p <= 512; p++) {
    const set = p < 512 && ((m[p >>> 5]! >>> (p & 31)) & 1) === 1;
    if (set && start < 0) start = p;
    if (!set && start >= 0) {
      out.push([start, p]);
      start = -1;
    }
  }
  return out;
};
const input = (
  resident: Uint32Array,
  faulted: Uint32Array,
  thrashing: Uint32Array | null = null,
): PrefetchInput => ({
  resident,
  residentOff: 0,
  faulted,
  faultedOff: 0,
  thrashing,
  thrashingOff: 0,
  blockPages: 512,
  firstTouchPreferred: false,
});
const density = (inp: PrefetchInput, threshold = 51): [number, number][] => {
  const out = new Uint32Array(BLOCK_WORDS);
  densityPrefetch(inp, threshold, true, out, 0, new Uint32Array(BLOCK_WORDS));
  // The caller removes pages already resident.
  for (let i = 0; i < BLOCK_WORDS; i++) out[i]! &= ~inp.resident[i]!;
  return ranges(out);
};

describe('NVIDIA density prefetcher (uvm_perf_prefetch.c)', () => {
  it('reproduces the P1 golden sequence: 4K+60K, 4K+60K, 4K+124K, 4K+252K, 4K+508K, 4K+1020K', () => {
    const resident = new Uint32Array(BLOCK_WORDS);
    const got: [number, number][][] = [];
    for (const page of [0, 16, 32, 64, 128, 256]) {
      const r = density(input(resident, mask([page, page + 1])));
      got.push(r);
      for (const [a, b] of r) for (let p = a; p < b; p++) resident[p >>> 5]! |= 1 << (p & 31);
    }
    expect(got).toEqual([[[0, 16]], [[16, 32]], [[32, 64]], [[64, 128]], [[128, 256]], [[256, 512]]]);
  });

  it('takes a subregion only when strictly more than threshold % is resident or faulted', () => {
    // [0,64): 16 resident + 16 grown = 32 of 64 = 50 %: not > 51 %, only the big page is taken.
    expect(density(input(mask([0, 16]), mask([32, 33])))).toEqual([[32, 48]]);
    // With threshold 49, 50 % qualifies: the whole [0,64) subtree.
    expect(density(input(mask([0, 16]), mask([32, 33])), 49)).toEqual([[16, 64]]);
  });

  it('never crosses the 2 MiB block and fills the block once more than 51 % is there', () => {
    expect(density(input(mask([0, 256]), mask([256, 257])))).toEqual([[256, 512]]);
    expect(density(input(mask([0, 240]), mask([256, 257])))).toEqual([[256, 272]]);
  });

  it('does not grow or prefetch around thrashing pages', () => {
    const th = mask([32, 48]);
    expect(density(input(mask([0, 16]), mask([32, 33]), th))).toEqual([[32, 33]]);
  });

  it('populates the whole block on a first touch at the preferred location', () => {
    const inp = { ...input(new Uint32Array(BLOCK_WORDS), mask([5, 6])), firstTouchPreferred: true };
    expect(density(inp)).toEqual([[0, 512]]);
  });

  it('with prefetching disabled migrates only the faulted pages', () => {
    const out = new Uint32Array(BLOCK_WORDS);
    densityPrefetch(
      input(new Uint32Array(BLOCK_WORDS), mask([3, 4])),
      51,
      false,
      out,
      0,
      new Uint32Array(BLOCK_WORDS),
    );
    expect(ranges(out)).toEqual([[3, 4]]);
  });
});

describe('UVM Smart prefetchers (gpu-sim.cc do_hardware_prefetch)', () => {
  it('SL takes the 64 KiB basic block of each fault', () => {
    const out = new Uint32Array(BLOCK_WORDS);
    slPrefetch(input(new Uint32Array(BLOCK_WORDS), mask([20, 21], [100, 101])), out, 0);
    expect(ranges(out)).toEqual([
      [16, 32],
      [96, 112],
    ]);
  });

  it('TBN fills a subtree whose valid size is more than half of it (strict)', () => {
    const out = new Uint32Array(BLOCK_WORDS);
    // Leaves [0,16) and [16,32) valid, fault in [32,48): [0,64) has 48/64 > 1/2 → filled.
    tbnPrefetch(input(mask([0, 32]), mask([40, 41])), out, 0, new Uint32Array(BLOCK_WORDS));
    expect(ranges(out)).toEqual([[0, 64]]); // the caller drops the resident [0,32)
    // One leaf valid plus the faulted leaf: 32/64 is not more than half → only the leaf.
    const out2 = new Uint32Array(BLOCK_WORDS);
    tbnPrefetch(input(mask([0, 16]), mask([40, 41])), out2, 0, new Uint32Array(BLOCK_WORDS));
    expect(ranges(out2)).toEqual([[32, 48]]);
  });

  it('random adds one seeded random page of the block per fault', () => {
    const a = new Uint32Array(BLOCK_WORDS);
    const b = new Uint32Array(BLOCK_WORDS);
    randomPrefetch(input(new Uint32Array(BLOCK_WORDS), mask([7, 8])), new Prng(3), a, 0);
    randomPrefetch(input(new Uint32Array(BLOCK_WORDS), mask([7, 8])), new Prng(3), b, 0);
    expect(a).toEqual(b);
    const n = ranges(a).reduce((s, [x, y]) => s + y - x, 0);
    expect(n === 1 || n === 2).toBe(true);
  });

  it('a window takes the aligned run around each fault (nouveau 16 pages, dmirror 32)', () => {
    const out = new Uint32Array(BLOCK_WORDS);
    windowPrefetch(input(new Uint32Array(BLOCK_WORDS), mask([33, 34])), 32, out, 0);
    expect(ranges(out)).toEqual([[32, 64]]);
  });
});

describe('eviction victims', () => {
  const resident = (blocks: number, ...full: number[]): Uint32Array => {
    const r = new Uint32Array(blocks * BLOCK_WORDS);
    for (const b of full) r.fill(0xffffffff, b * BLOCK_WORDS, (b + 1) * BLOCK_WORDS);
    return r;
  };
  const all = mask([0, 512]);

  it('root-chunk (nvidia-uvm): allocation order, GPU accesses do not reorder', () => {
    const e = createEvictor('root-chunk', 4 * 512, new Prng(1));
    e.onMigrateIn(2, all, 0);
    e.onMigrateIn(0, all, 0);
    e.onMigrateIn(3, all, 0);
    e.onAccess(2 * 512 + 5);
    const out = new Uint32Array(BLOCK_WORDS);
    expect(e.pickVictim(-1, resident(4, 0, 2, 3), out)).toBe(2);
    // A new allocation in block 2 moves it to the USED tail.
    e.onMigrateIn(2, mask([7, 8]), 0);
    expect(e.pickVictim(-1, resident(4, 0, 2, 3), out)).toBe(0);
    // Never the block being serviced.
    expect(e.pickVictim(0, resident(4, 0, 2, 3), out)).toBe(3);
    expect(ranges(out)).toEqual([[0, 512]]);
  });

  it('lru-2m (UVM Smart): GPU accesses reorder', () => {
    const e = createEvictor('lru-2m', 4 * 512, new Prng(1));
    e.onMigrateIn(2, all, 0);
    e.onMigrateIn(0, all, 0);
    e.onAccess(2 * 512 + 5);
    expect(e.pickVictim(-1, resident(4, 0, 2), new Uint32Array(BLOCK_WORDS))).toBe(0);
  });

  it('lru-4k evicts the least recently accessed page; lfu-2m the least used block', () => {
    const e = createEvictor('lru-4k', 2 * 512, new Prng(1));
    e.onMigrateIn(0, mask([0, 4]), 0);
    e.onAccess(0);
    const out = new Uint32Array(BLOCK_WORDS);
    expect(e.pickVictim(-1, resident(2, 0), out)).toBe(0);
    expect(ranges(out)).toEqual([[1, 2]]);
    const f = createEvictor('lfu-2m', 3 * 512, new Prng(1));
    f.onMigrateIn(0, all, 0);
    f.onMigrateIn(1, all, 0);
    f.onAccess(5);
    f.onAccess(6);
    f.onAccess(512 + 1);
    expect(f.pickVictim(-1, resident(3, 0, 1), out)).toBe(1);
  });

  it('sl-64k evicts a 64 KiB basic block; tbn also empties sparse neighbours', () => {
    const e = createEvictor('sl-64k', 512, new Prng(1));
    e.onMigrateIn(0, mask([0, 64]), 0);
    const out = new Uint32Array(BLOCK_WORDS);
    expect(e.pickVictim(-1, resident(1, 0), out)).toBe(0);
    expect(ranges(out)).toEqual([[0, 16]]);
    const t = createEvictor('tbn', 512, new Prng(1));
    const res = new Uint32Array(BLOCK_WORDS);
    res.set(mask([0, 16], [16, 20]));
    t.onMigrateIn(0, res, 0);
    expect(t.pickVictim(-1, res, out)).toBe(0);
    // After the [0,16) leaf goes, [0,32) holds 4 of 32 pages: less than half, emptied too.
    expect(ranges(out)).toEqual([[0, 20]]);
  });
});
