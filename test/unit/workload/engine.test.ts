import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { findPlatform } from '../../../src/workload/cost/platform.ts';
import { Engine } from '../../../src/workload/engine/engine.ts';
import type { BatchRecord, FaultRecord } from '../../../src/workload/engine/observer.ts';
import { generatorWorkload, runWorkload } from '../../../src/workload/engine/run.ts';
import { ACC_DEP, ACC_WRITE, TraceBuilder } from '../../../src/workload/generators/trace.ts';
import { withParam } from '../../../src/workload/params.ts';
import { findPolicy } from '../../../src/workload/policy/presets.ts';
import { FastBackend } from '../../../src/workload/residency/fast-backend.ts';
import { V1_PREFETCH } from '../../../src/workload/validate/v1-prefetch.ts';

function engine(opts: { sms?: number; policy?: Record<string, string | number>; pages?: number }) {
  let platform = findPlatform('pascal-pcie3')!.params;
  if (opts.sms !== undefined) platform = withParam(platform, 'sms', opts.sms, 'test');
  let policy = findPolicy('nvidia-uvm')!.params;
  for (const [k, v] of Object.entries(opts.policy ?? {})) policy = withParam(policy, k, v, 'test');
  const batches: BatchRecord[] = [];
  const faults: FaultRecord[] = [];
  const e = new Engine({
    platform,
    policy,
    capacityPages: 1 << 20,
    backend: new FastBackend(opts.pages ?? 4 * 512),
    seed: 1,
    observer: { onBatch: (b) => batches.push(b), onFault: (f) => faults.push(f) },
  });
  return { e, batches, faults };
}

describe('fault batches (uvm_gpu_replayable_faults.c)', () => {
  it('coalesces same-μTLB and back-to-back faults on a page; the others become duplicates after the sort', () => {
    // SMs 0 and 1 share μTLB 0; SM 2 is on μTLB 1. Arrival: SM0 p7, SM1 p7, SM2 p9, SM2 p7.
    const { e, batches } = engine({ sms: 4, policy: { prefetchEnable: 0 } });
    const t = new TraceBuilder('k', 3);
    t.push(0, 7);
    t.push(1, 7);
    t.push(2, 9);
    t.push(2, 7);
    e.runKernel(t.build());
    expect(batches).toHaveLength(1);
    expect(batches[0]).toMatchObject({ cached: 4, coalesced: 3, duplicates: 1, blocks: 1, pages: 2 });
  });

  it('sorts a batch by page and services each 2 MiB block once', () => {
    const { e, batches, faults } = engine({ sms: 2, policy: { prefetchEnable: 0 } });
    const t = new TraceBuilder('k', 2);
    for (const p of [600, 3, 1100, 5]) t.push(0, p);
    for (const p of [601, 4]) t.push(1, p);
    e.runKernel(t.build());
    // 4 faults per SM per round (rate limiter): SM 0 raises 4, SM 1 raises 2, in turns.
    expect(faults.map((f) => f.addr / 4096)).toEqual([600, 601, 3, 4, 1100, 5]);
    expect(batches[0]).toMatchObject({ cached: 6, coalesced: 6, blocks: 3, pages: 6 });
  });

  it('caps a batch at batchSize; batch-flush drops the rest, which the GPU raises again after the replay', () => {
    const { e, batches } = engine({ sms: 8, policy: { prefetchEnable: 0, batchSize: 16 } });
    const t = new TraceBuilder('k', 8);
    for (let s = 0; s < 8; s++) for (let k = 0; k < 4; k++) t.push(s, s * 64 + k);
    e.runKernel(t.build());
    expect(batches[0]!.cached).toBe(16);
    expect(e.counters.flushes).toBe(e.counters.batches);
    expect(e.counters.replays).toBe(e.counters.batches);
    // 32 pages, all serviced once; the dropped faults come back and are fetched later.
    expect(e.counters.pagesMigratedH2D).toBe(32);
    expect(e.counters.faults).toBe(32);
    expect(e.counters.duplicates).toBe(0);
  });

  it("replay policy 'batch' keeps the rest of the buffer, so replayed accesses fault again (duplicates)", () => {
    const { e } = engine({ sms: 8, policy: { prefetchEnable: 0, batchSize: 16, replayPolicy: 'batch' } });
    const t = new TraceBuilder('k', 8);
    for (let s = 0; s < 8; s++) for (let k = 0; k < 4; k++) t.push(s, s * 64 + k);
    e.runKernel(t.build());
    expect(e.counters.flushes).toBe(0);
    expect(e.counters.faults).toBeGreaterThan(32);
    expect(e.counters.duplicates).toBeGreaterThan(0);
    expect(e.counters.pagesMigratedH2D).toBe(32);
  });

  it("replay policy 'block' replays after each VA block, so the batch's other faults are raised again", () => {
    const { e, batches } = engine({ sms: 1, policy: { prefetchEnable: 0, replayPolicy: 'block' } });
    const t = new TraceBuilder('k', 1);
    for (const p of [1, 600, 1200]) t.push(0, p);
    e.runKernel(t.build());
    expect(batches[0]).toMatchObject({ cached: 3, blocks: 3 });
    // After block 0's replay, 600 and 1200 fault again, and 1200 once more after block 1's: a
    // batch of duplicates (the two 1200s from one μTLB coalesce).
    expect(batches[1]).toMatchObject({ cached: 3, coalesced: 2, duplicates: 2, blocks: 0 });
    expect(e.counters.replays).toBe(4);
  });

  it('a dependent write waits for the reads before it (SC21: vector add takes two batches)', () => {
    const { e, batches } = engine({ sms: 1, policy: { prefetchEnable: 0 } });
    const t = new TraceBuilder('k', 1);
    t.push(0, 0);
    t.push(0, 600);
    t.push(0, 1200, ACC_DEP | 1);
    e.runKernel(t.build());
    expect(batches.map((b) => b.cached)).toEqual([2, 1]);
  });
});

describe('runs', () => {
  it('are deterministic for a seed', () => {
    const spec = generatorWorkload('random-page', 16 * 1024 * 1024, {});
    const a = runWorkload(spec, { seed: 7 });
    const b = runWorkload(spec, { seed: 7 });
    expect(a).toEqual(b);
  });

  it('oversubscription evicts and every page still reaches the GPU', () => {
    const r = runWorkload(generatorWorkload('stream', 24 * 1024 * 1024, {}), { oversub: 1.5 });
    expect(r.counters.evictions).toBeGreaterThan(0);
    expect(r.counters.bytesD2H).toBeGreaterThan(0);
    expect(r.deviceMemoryBytes).toBe(Math.floor((24 * 1024 * 1024) / 1.5));
  });

  it('every generator runs with every policy at a small size', () => {
    for (const gen of [
      'stream',
      'block-stream',
      'random-page',
      'stencil2d',
      'gemm-tiles',
      'graph-frontier',
      'wavefront',
    ]) {
      for (const policy of [
        'nvidia-uvm',
        'uvmsmart-tbn',
        'uvmsmart-random',
        'amdkfd-xnack',
        'xe-gpusvm',
        'nouveau',
        'dmirror',
      ]) {
        const r = runWorkload(generatorWorkload(gen, 6 * 1024 * 1024, {}), { policy, oversub: 1.2 });
        expect(r.timeNs, `${gen} ${policy}`).toBeGreaterThan(0);
        expect(r.counters.faults, `${gen} ${policy}`).toBeGreaterThan(0);
      }
    }
  });
});

describe('V1', () => {
  it('passes against its checked-in expectation file', async () => {
    const e = JSON.parse(
      readFileSync(new URL('../../../validation/v1-prefetch-trace.json', import.meta.url), 'utf8'),
    );
    const r = await V1_PREFETCH.run(e);
    expect(r.points.filter((p) => !p.pass)).toEqual([]);
  });
});

describe('the GPU issue model against uvm-eval vector-add fault log (SC21 Fig. 3)', () => {
  it('one warp of c = a + b over page-strided floats: batches of 56 (μTLB limit), 8, then the 32 writes', () => {
    // uvm-eval archive/benchmarksv3/abc/short_log_32_ts/abc_1: one 32-thread warp, each thread
    // reading a and b one page apart and writing c; prefetching off. The first batch holds 56
    // faults (the μTLB's limit), the second the 8 reads left, the third the 32 dependent writes.
    const platform = withParam(findPlatform('titanv-pcie3')!.params, 'sms', 80, 'test');
    const policy = withParam(findPolicy('nvidia-uvm')!.params, 'prefetchEnable', 0, 'test');
    const batches: BatchRecord[] = [];
    const faults: FaultRecord[] = [];
    const e = new Engine({
      platform,
      policy,
      capacityPages: 1 << 20,
      backend: new FastBackend(3 * 512),
      seed: 1,
      observer: { onBatch: (b) => batches.push(b), onFault: (f) => faults.push(f) },
    });
    const t = new TraceBuilder('abc', 1);
    for (let i = 0; i < 32; i++) t.push(0, i); // a[page i]
    for (let i = 0; i < 32; i++) t.push(0, 512 + i); // b[page i]
    for (let i = 0; i < 32; i++) t.push(0, 1024 + i, ACC_DEP | ACC_WRITE); // c[page i] = a + b
    e.runKernel(t.build());
    expect(batches.map((b) => b.cached)).toEqual([56, 8, 32]);
    expect(faults.filter((f) => f.batch === 2).every((f) => f.access === 1 && f.addr >= 1024 * 4096)).toBe(
      true,
    );
  });
});

describe('V3', () => {
  it('runs against its expectation file; the points the model reaches pass, the known misses are reported', async () => {
    const { V3_BATCH } = await import('../../../src/workload/validate/v3-batch-anatomy.ts');
    const e = JSON.parse(
      readFileSync(new URL('../../../validation/v3-batch-anatomy.json', import.meta.url), 'utf8'),
    );
    const r = await V3_BATCH.run(e);
    const failed = r.points.filter((p) => !p.pass).map((p) => p.label);
    // Documented in docs/workload.md (V3): with re-raised faults interleaved across SMs and
    // blocks dispatched to free slots, stream's batches span 3.9 VA blocks (SC21: 3.93) but hold
    // 256 faults where SC21 counted 60, so its faults per VA block miss; sgemm at 48 MiB
    // (n = 2048) spends most batches on the next k-step's A pages, faulted by every SM, in one or
    // two VA blocks; the ordering follows.
    expect(failed).toEqual([
      'sgemm (gemm-tiles 48MiB) VA blocks/batch',
      'sgemm faults/VA block',
      'stream faults/VA block',
      'blocks/batch ordering Random > Regular > sgemm > stream (1 = holds)',
    ]);
  }, 120_000);
});
