/**
 * GPU prefetch faults (L2 prefetch instructions) and their suppression, as nvidia-uvm's
 * uvm_gpu_replayable_faults.c handles them: no stall and no μTLB limit on the GPU side, no retry
 * after a replay, invalid prefetches counted per batch, prefetch faults turned off when more than
 * two thirds of a batch's capacity are invalid prefetches (enable_disable_prefetch_faults) and on
 * again at a batch end more than uvm_perf_reenable_prefetch_faults_lapse_msec later.
 */
import { describe, expect, it } from 'vitest';
import { findPlatform } from '../../../src/workload/cost/platform.ts';
import { Engine } from '../../../src/workload/engine/engine.ts';
import type { BatchRecord, FaultRecord } from '../../../src/workload/engine/observer.ts';
import { generatorWorkload, runWorkload } from '../../../src/workload/engine/run.ts';
import { ACC_PREFETCH, TraceBuilder } from '../../../src/workload/generators/trace.ts';
import { withParam } from '../../../src/workload/params.ts';
import { findPolicy } from '../../../src/workload/policy/presets.ts';
import { FastBackend } from '../../../src/workload/residency/fast-backend.ts';

const PAGES = 4 * 512;

function engine(policy: Record<string, string | number> = {}) {
  const platform = withParam(findPlatform('pascal-pcie3')!.params, 'sms', 2, 'test');
  let p = findPolicy('nvidia-uvm')!.params;
  for (const [k, v] of Object.entries({ prefetchEnable: 0, ...policy })) p = withParam(p, k, v, 'test');
  const batches: BatchRecord[] = [];
  const faults: FaultRecord[] = [];
  const e = new Engine({
    platform,
    policy: p,
    capacityPages: 1 << 20,
    backend: new FastBackend(PAGES),
    seed: 1,
    observer: { onBatch: (b) => batches.push(b), onFault: (f) => faults.push(f) },
  });
  return { e, batches, faults };
}

/** SM 0 touches `pages` in order, with `flags`. */
function kernel(pages: readonly number[], flags = 0) {
  const t = new TraceBuilder('k', 1);
  for (const p of pages) t.push(0, p, flags);
  return t.build();
}

const range = (from: number, n: number): number[] => Array.from({ length: n }, (_, i) => from + i);

describe('prefetch faults on the GPU side', () => {
  it('bypass the μTLB limit: 100 prefetches fill one batch where 100 loads need two (56 + 44)', () => {
    const loads = engine();
    loads.e.runKernel(kernel(range(0, 100)));
    expect(loads.batches.map((b) => b.cached)).toEqual([56, 44]);

    const pf = engine();
    pf.e.runKernel(kernel(range(0, 100), ACC_PREFETCH));
    expect(pf.batches.map((b) => b.cached)).toEqual([100]);
    // A valid prefetch fault is serviced like a read: the pages migrate.
    expect(pf.e.counters.pagesMigratedH2D).toBe(100);
    expect(pf.e.counters.prefetchFaults).toBe(100);
    expect(pf.faults.every((f) => f.access === 2)).toBe(true);
  });

  it('are not retried: faults the flush dropped are gone after the replay', () => {
    const { e, batches } = engine({ batchSize: 16 });
    e.runKernel(kernel(range(0, 40), ACC_PREFETCH));
    expect(batches.map((b) => b.cached)).toEqual([16]);
    expect(e.counters.pagesMigratedH2D).toBe(16);
    // Loads of the same pages would all be retried and serviced.
    const loads = engine({ batchSize: 16 });
    loads.e.runKernel(kernel(range(0, 40)));
    expect(loads.e.counters.pagesMigratedH2D).toBe(40);
  });

  it('hit when the page is valid, without a fault', () => {
    const { e } = engine();
    e.runKernel(kernel([7]));
    e.runKernel(kernel([7], ACC_PREFETCH));
    expect(e.counters.prefetchFaults).toBe(0);
    expect(e.counters.faults).toBe(1);
  });
});

describe('enable_disable_prefetch_faults', () => {
  it('turns prefetch faults off when invalid prefetches × 3 > batchSize × 2 (171 of 256), not at 170', () => {
    const at170 = engine();
    at170.e.runKernel(kernel(range(PAGES, 170), ACC_PREFETCH));
    expect(at170.e.counters.invalidPrefetchFaults).toBe(170);
    expect(at170.e.counters.prefetchFaultsDisabled).toBe(0);

    const { e, batches } = engine();
    e.runKernel(kernel(range(PAGES, 171), ACC_PREFETCH));
    expect(e.counters.invalidPrefetchFaults).toBe(171);
    expect(e.counters.prefetchFaultsDisabled).toBe(1);
    // Invalid prefetches are not serviced: no VA block, no migration, not duplicates.
    expect(batches[0]).toMatchObject({ cached: 171, blocks: 0, pages: 0, duplicates: 0 });
    // While off, prefetches of invalid pages raise nothing.
    e.runKernel(kernel(range(PAGES, 50), ACC_PREFETCH));
    expect(e.counters.prefetchFaultsSuppressed).toBe(50);
    expect(e.counters.faults).toBe(171);
  });

  it('turns them on again at the first batch end more than the lapse after', () => {
    // Lapse 0.01 ms = 10 µs; one fault batch takes longer than that on pascal-pcie3.
    const { e } = engine({ prefetchFaultsReenableLapseMs: 0.01 });
    e.runKernel(kernel(range(PAGES, 200), ACC_PREFETCH));
    expect(e.counters.prefetchFaultsDisabled).toBe(1);
    e.runKernel(kernel(range(PAGES, 10), ACC_PREFETCH));
    expect(e.counters.prefetchFaultsSuppressed).toBe(10);
    // A load fault: its batch ends more than 10 µs after the switch-off, so prefetch faults return.
    e.runKernel(kernel([3]));
    e.runKernel(kernel(range(PAGES, 10), ACC_PREFETCH));
    expect(e.counters.prefetchFaultsSuppressed).toBe(10);
    expect(e.counters.invalidPrefetchFaults).toBe(210);
  });

  it('never turns them off with a lapse of 0', () => {
    const { e } = engine({ prefetchFaultsReenableLapseMs: 0 });
    e.runKernel(kernel(range(PAGES, 256), ACC_PREFETCH));
    expect(e.counters.prefetchFaultsDisabled).toBe(0);
  });
});

describe('block-stream with l2PrefetchAhead', () => {
  it('prefetches pages ahead; past the end of the footprint they are invalid prefetch faults', () => {
    const r = runWorkload(generatorWorkload('block-stream', 8 * 2 ** 20, { l2PrefetchAhead: 64 }), {
      platform: 'titanv-pcie3',
    });
    expect(r.counters.prefetchFaults).toBeGreaterThan(0);
    expect(r.counters.invalidPrefetchFaults).toBeGreaterThan(0);
    const plain = runWorkload(generatorWorkload('block-stream', 8 * 2 ** 20, {}), {
      platform: 'titanv-pcie3',
    });
    expect(plain.counters.prefetchFaults).toBe(0);
    // Every page still reaches the GPU.
    expect(r.counters.pagesMigratedH2D).toBe(plain.counters.pagesMigratedH2D);
  });
});
