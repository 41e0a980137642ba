/**
 * The generators' access order, pinned to the benchmark kernels they stand for (docs/workload.md,
 * "Generators"): BabelStream's triad as uvm-eval runs it, and cuBLAS-style tiled SGEMM.
 */
import { describe, expect, it } from 'vitest';
import { Prng } from '../../../src/sim/prng.ts';
import { generatorWorkload, runWorkload } from '../../../src/workload/engine/run.ts';
import { type ArrayView, findGenerator } from '../../../src/workload/generators/generators.ts';
import { ACC_DEP, ACC_WRITE, type KernelTrace } from '../../../src/workload/generators/trace.ts';

const PAGE = 4096;

function run(gen: string, sms: number, pagesEach: number, args: Record<string, number> = {}): KernelTrace[] {
  const g = findGenerator(gen)!;
  const arrays: ArrayView[] = g.arrays.map((name, i) => ({
    name,
    first: i * pagesEach,
    pages: pagesEach,
    bytes: pagesEach * PAGE,
  }));
  const all: Record<string, number> = {};
  for (const [k, p] of Object.entries(g.args)) all[k] = p.value as number;
  return g.generate({ sms, arrays, args: { ...all, ...args }, rng: new Prng(1), name: gen });
}

/** Thread block `b`'s accesses as [page, flags]. */
function block(t: KernelTrace, b: number): [number, number][] {
  const out: [number, number][] = [];
  for (let i = t.blockStart[b]!; i < t.blockStart[b + 1]!; i++) out.push([t.pages[i]!, t.flags[i]!]);
  return out;
}

describe('stream (BabelStream triad, uvm-eval)', () => {
  it('a block loads b and c for its two pages, then stores a; blocks in index order, 2 resident per SM', () => {
    // 8 pages per array, 1024 doubles (2 pages) per block: 4 blocks.
    const [t] = run('stream', 2, 8);
    const b = 8;
    const c = 16;
    const W = ACC_WRITE | ACC_DEP;
    expect(t!.blocksPerSm).toBe(2);
    expect(t!.blockStart.length - 1).toBe(4);
    expect(block(t!, 0)).toEqual([
      [b + 0, 0],
      [c + 0, 0],
      [b + 1, 0],
      [c + 1, 0],
      [0, W],
      [1, W],
    ]);
    expect(block(t!, 3).map(([p]) => p)).toEqual([b + 6, c + 6, b + 7, c + 7, 6, 7]);
  });
});

describe('gemm-tiles (cuBLAS-style SGEMM, CUTLASS tiles)', () => {
  // 1024×1024 floats: a column is one page. Tiles 512×512×512: a 2×2 grid, two k-steps.
  const args = { tileM: 512, tileN: 512, tileK: 512, blocksPerSm: 1 };
  const [t] = run('gemm-tiles', 2, 1024, args);
  const A = 0;
  const B = 1024;
  const C = 2048;
  const b0 = block(t!, 0);

  it('per k-step, the A tile (one page per column) before the B tile; the next k-step waits', () => {
    // Block 0: M tile 0, N tile 0.
    const range = (base: number, from: number, n: number): number[] =>
      Array.from({ length: n }, (_, i) => base + from + i);
    const pages = b0.map(([p]) => p);
    expect(b0.length).toBe(2560);
    expect(pages.slice(0, 512)).toEqual(range(A, 0, 512));
    expect(pages.slice(512, 1024)).toEqual(range(B, 0, 512));
    // k-step 2: A columns 512…1023 (waiting for k-step 1's loads); B's rows 512…1023 of columns
    // 0…511 are the same pages as before (a column is one page), so the trace repeats them.
    expect(pages.slice(1024, 1536)).toEqual(range(A, 512, 512));
    expect(b0[1024]![1]).toBe(ACC_DEP);
    expect(b0.slice(1025, 2048).every(([, f]) => f === 0)).toBe(true);
    expect(pages.slice(1536, 2048)).toEqual(range(B, 0, 512));
    // Epilogue: the C tile, written after the loads (β = 0: C is not read).
    expect(b0.slice(2048, 2560)).toEqual(range(C, 0, 512).map((p) => [p, ACC_WRITE | ACC_DEP]));
  });

  it('blockIdx.x runs over M: block 1 is M tile 1 of N tile 0, block 2 M tile 0 of N tile 1', () => {
    const b1 = block(t!, 1);
    // M tile 1: rows 512…1023 of A's columns, the same pages as M tile 0 (one page per column).
    expect(b1.slice(0, 512).map(([p]) => p)).toEqual(b0.slice(0, 512).map(([p]) => p));
    expect(block(t!, 2)[512]![0]).toBe(B + 512);
  });
});

describe('gemm-tiles retouch=0 (only first reads)', () => {
  // Without oversubscription a repeated read finds its page resident: the same run, shorter trace.
  for (const mib of [12, 9]) {
    it(`${mib} MiB (n = ${mib === 12 ? '1024, page-aligned columns' : '886, unaligned columns'}): same counters and time`, () => {
      const opts = { platform: 'titanv-pcie3', set: [['prefetchEnable', 0]] as [string, number][] };
      const all = runWorkload(generatorWorkload('gemm-tiles', mib * 2 ** 20, {}), opts);
      const first = runWorkload(generatorWorkload('gemm-tiles', mib * 2 ** 20, { retouch: 0 }), opts);
      expect(first.counters.accesses).toBeLessThan(all.counters.accesses / 4);
      expect({ ...first.counters, accesses: 0 }).toEqual({ ...all.counters, accesses: 0 });
      expect(first.timeNs).toBe(all.timeNs);
    });
  }
});
