/**
 * Read duplication (cudaMemAdviseSetReadMostly) pinned to nvidia-uvm: what a read fault, a write
 * fault, a CPU write, a CPU read and an eviction do on a read-mostly block
 * (`uvm_va_block_make_resident_read_duplicate`, `block_prep_read_duplicate_mapping`,
 * `uvm_va_block_make_resident_copy` + `break_read_duplication_in_region`,
 * `uvm_va_block_evict_chunks`, `block_select_processor_residency`, uvm_perf_thrashing.c).
 */
import { describe, expect, it } from 'vitest';
import { findPlatform } from '../../../src/workload/cost/platform.ts';
import { Engine } from '../../../src/workload/engine/engine.ts';
import { runWorkload } from '../../../src/workload/engine/run.ts';
import { ACC_WRITE, TraceBuilder } from '../../../src/workload/generators/trace.ts';
import { withParam } from '../../../src/workload/params.ts';
import { ADVISE_READ_MOSTLY, splitReadDuplicate } from '../../../src/workload/policy/advice.ts';
import { findPolicy } from '../../../src/workload/policy/presets.ts';
import { FastBackend } from '../../../src/workload/residency/fast-backend.ts';
import type { WorkloadSpec } from '../../../src/workload/spec.ts';
import { BLOCK_WORDS } from '../../../src/workload/units.ts';

const bit = (m: Uint32Array, p: number): number => (m[p >>> 5]! >>> (p & 31)) & 1;
const mask = (...pages: number[]): Uint32Array => {
  const m = new Uint32Array(BLOCK_WORDS);
  for (const p of pages) m[p >>> 5]! |= 1 << (p & 31);
  return m;
};

function setup(opts: { prefetch?: boolean; capacityPages?: number; initCpu?: boolean } = {}) {
  const platform = withParam(findPlatform('titanv-pcie3')!.params, 'sms', 1, 'test');
  let p = findPolicy('nvidia-uvm')!.params;
  p = withParam(p, 'prefetchEnable', opts.prefetch ? 1 : 0, 'test');
  const b = new FastBackend(4 * 512);
  const e = new Engine({
    platform,
    policy: p,
    capacityPages: opts.capacityPages ?? 2048,
    backend: b,
    seed: 1,
    advice: new Uint8Array(4).fill(ADVISE_READ_MOSTLY),
  });
  // The CPU writes the data first (the usual init), so the pages live in system memory.
  if (opts.initCpu !== false) e.cpuAccess(0, 4 * 512, true, 1, 'init');
  return { e, b };
}
const kernel = (pages: readonly number[], write = false) => {
  const t = new TraceBuilder('k', 1);
  for (const q of pages) t.push(0, q, write ? ACC_WRITE : 0);
  return t.build();
};
const range = (from: number, n: number): number[] => Array.from({ length: n }, (_, i) => from + i);

describe('read-mostly block: what each event does (driver table)', () => {
  it('GPU read fault: the page is copied to the GPU, the CPU copy stays mapped read-only', () => {
    const { e, b } = setup();
    const h2d = e.counters.bytesH2D;
    e.runKernel(kernel([5]));
    expect(bit(b.gpuResident, 5)).toBe(1);
    expect(bit(b.readDuplicated, 5)).toBe(1);
    expect(bit(b.cpuMapped, 5)).toBe(1); // not unmapped…
    expect(bit(b.cpuReadOnly, 5)).toBe(1); // …but write-revoked (block_prep_read_duplicate_mapping)
    expect(e.counters.bytesH2D - h2d).toBe(4096);
    expect(e.counters.readDuplications).toBe(1);
    expect(e.counters.duplicateCollapses).toBe(0);
  });

  it('GPU write fault on a page in system memory: it migrates (no duplicate), the CPU is unmapped', () => {
    const { e, b } = setup();
    e.runKernel(kernel([5], true));
    expect(bit(b.gpuResident, 5)).toBe(1);
    expect(bit(b.readDuplicated, 5)).toBe(0);
    expect(bit(b.cpuMapped, 5)).toBe(0);
    expect(e.counters.readDuplications).toBe(0);
    expect(e.counters.pagesMigratedH2D).toBe(1);
  });

  it('GPU write to a duplicated page: it faults (read-only on the GPU) and collapses without a copy', () => {
    const { e, b } = setup();
    e.runKernel(kernel([5]));
    const faults = e.counters.faults;
    const h2d = e.counters.bytesH2D;
    e.runKernel(kernel([5], true));
    expect(e.counters.faults).toBeGreaterThan(faults);
    expect(e.counters.bytesH2D).toBe(h2d);
    expect(bit(b.gpuResident, 5)).toBe(1);
    expect(bit(b.readDuplicated, 5)).toBe(0);
    expect(bit(b.cpuMapped, 5)).toBe(0);
    expect(e.counters.duplicateCollapses).toBe(1);
    expect(e.breakdown.cpuUnmap).toBeGreaterThan(0);
  });

  it('GPU read of a duplicated page: a hit, no fault', () => {
    const { e } = setup();
    e.runKernel(kernel([5]));
    const faults = e.counters.faults;
    e.runKernel(kernel([5]));
    expect(e.counters.faults).toBe(faults);
  });

  it('CPU write to a duplicated page: one CPU fault drops the GPU copy, nothing is copied', () => {
    const { e, b } = setup();
    e.runKernel(kernel([5, 6]));
    const d2h = e.counters.bytesD2H;
    const cpuFaults = e.counters.cpuFaults;
    const resident = e.residentPages;
    e.cpuAccess(5, 1, true, 1, 'w');
    expect(e.counters.cpuFaults - cpuFaults).toBe(1);
    expect(e.counters.bytesD2H).toBe(d2h);
    expect(bit(b.gpuResident, 5)).toBe(0);
    expect(bit(b.readDuplicated, 5)).toBe(0);
    expect(bit(b.cpuMapped, 5)).toBe(1);
    expect(bit(b.cpuReadOnly, 5)).toBe(0);
    expect(bit(b.readDuplicated, 6)).toBe(1); // untouched neighbour keeps its copies
    expect(e.residentPages).toBe(resident - 1);
    expect(e.counters.duplicateCollapses).toBe(1);
  });

  it("CPU write to a duplicated page runs the prefetcher: the region's GPU-only pages are read-duplicated", () => {
    // uvm_va_block_service_locked runs the prefetcher for every fault whose pages go to one
    // processor, CPU faults included; prefetched pages of a read-mostly range join the
    // read-duplicate mask. Page 5 has CPU data, the rest of its 64 KiB big page was populated on
    // the GPU by the GPU's faults.
    const { e, b } = setup({ initCpu: false, prefetch: true });
    e.cpuAccess(5, 1, true, 1, 'init 5');
    e.runKernel(kernel([5, 6]));
    expect(bit(b.readDuplicated, 5)).toBe(1);
    for (const p of [0, 6, 15]) {
      expect(bit(b.gpuResident, p)).toBe(1);
      expect(bit(b.readDuplicated, p)).toBe(0);
    }
    const d2h = e.counters.bytesD2H;
    const cpuFaults = e.counters.cpuFaults;
    const dups = e.counters.readDuplications;
    e.cpuAccess(5, 1, true, 1, 'w');
    expect(e.counters.cpuFaults - cpuFaults).toBe(1);
    expect(bit(b.readDuplicated, 5)).toBe(0);
    expect(bit(b.gpuResident, 5)).toBe(0);
    for (const p of [0, 6, 15]) {
      expect(bit(b.gpuResident, p)).toBe(1);
      expect(bit(b.readDuplicated, p)).toBe(1);
      expect(bit(b.cpuReadOnly, p)).toBe(1);
    }
    expect(e.counters.readDuplications - dups).toBe(15);
    expect(e.counters.bytesD2H - d2h).toBe(15 * 4096);
  });

  it('CPU read of a duplicated page: nothing happens (no fault, no transfer)', () => {
    const { e, b } = setup();
    e.runKernel(kernel([5]));
    const before = { ...e.counters };
    e.cpuAccess(5, 1, false, 1, 'r');
    expect(e.counters.cpuFaults).toBe(before.cpuFaults);
    expect(e.counters.bytesD2H).toBe(before.bytesD2H);
    expect(bit(b.readDuplicated, 5)).toBe(1);
  });

  it('CPU read fault on a page only the GPU holds: duplicated to the CPU, the GPU keeps its copy', () => {
    const { e, b } = setup({ initCpu: false });
    e.runKernel(kernel([5], true)); // first touch on the GPU: one copy there
    expect(bit(b.readDuplicated, 5)).toBe(0);
    const resident = e.residentPages;
    const d2h = e.counters.bytesD2H;
    e.cpuAccess(5, 1, false, 1, 'r');
    expect(e.counters.cpuFaults).toBe(1);
    expect(e.counters.bytesD2H - d2h).toBe(4096);
    expect(bit(b.gpuResident, 5)).toBe(1);
    expect(bit(b.readDuplicated, 5)).toBe(1);
    expect(bit(b.cpuReadOnly, 5)).toBe(1);
    expect(e.residentPages).toBe(resident);
    expect(e.counters.readDuplications).toBe(1);
    // The GPU reads it again without a fault.
    const faults = e.counters.faults;
    e.runKernel(kernel([5]));
    expect(e.counters.faults).toBe(faults);
  });

  it('CPU write fault on a page only the GPU holds: it migrates back (one copy)', () => {
    const { e, b } = setup({ initCpu: false });
    e.runKernel(kernel([5], true));
    const resident = e.residentPages;
    e.cpuAccess(5, 1, true, 1, 'w');
    expect(bit(b.gpuResident, 5)).toBe(0);
    expect(bit(b.readDuplicated, 5)).toBe(0);
    expect(e.residentPages).toBe(resident - 1);
    expect(e.counters.readDuplications).toBe(0);
  });

  it('eviction of a duplicated block: freed without a copy back; the CPU keeps its read-only mapping', () => {
    const { e, b } = setup({ capacityPages: 1024 });
    e.runKernel(kernel(range(0, 512)));
    e.runKernel(kernel(range(512, 512)));
    const d2h = e.counters.bytesD2H;
    e.runKernel(kernel([1024]));
    expect(e.counters.evictions).toBe(1);
    expect(e.counters.bytesD2H).toBe(d2h);
    expect(e.counters.readDuplicatesEvicted).toBe(512);
    expect(bit(b.gpuResident, 0)).toBe(0);
    expect(bit(b.cpuMapped, 0)).toBe(1);
    expect(bit(b.cpuReadOnly, 0)).toBe(1);
    // A CPU write later upgrades the mapping: a fault in the kernel, no driver work.
    expect(b.cpuAccess(0, mask(0), 0, true).faults).toBe(1);
  });

  it('eviction of written (collapsed) pages copies them back', () => {
    const { e } = setup({ capacityPages: 1024 });
    e.runKernel(kernel(range(0, 512), true));
    e.runKernel(kernel(range(512, 512)));
    e.runKernel(kernel([1024]));
    expect(e.counters.evictions).toBe(1);
    expect(e.counters.bytesD2H).toBe(512 * 4096);
    expect(e.counters.readDuplicatesEvicted).toBe(0);
  });

  it('GPU read of a page resident nowhere: populated on the GPU, one copy (first-touch residency)', () => {
    const { e, b } = setup({ initCpu: false });
    e.runKernel(kernel([5]));
    expect(bit(b.gpuResident, 5)).toBe(1);
    expect(bit(b.readDuplicated, 5)).toBe(0);
    expect(e.counters.readDuplications).toBe(0);
  });

  it('prefetched pages are read-duplicated too (PREFETCH access type)', () => {
    const { e, b } = setup({ prefetch: true });
    e.runKernel(kernel(range(0, 9)));
    expect(e.counters.bytesPrefetched).toBeGreaterThan(0);
    expect(bit(b.readDuplicated, 15)).toBe(1); // 64 KiB big-page growth
    expect(e.counters.readDuplications).toBe(e.counters.pagesMigratedH2D);
  });

  it('splitReadDuplicate: written pages and pages with no data migrate; the rest duplicate', () => {
    const bring = mask(1, 2, 3);
    const dup = new Uint32Array(BLOCK_WORDS);
    expect(splitReadDuplicate(bring, mask(2), mask(1, 2), 0, dup)).toBe(1);
    expect([...dup]).toEqual([...mask(1)]);
    expect([...bring]).toEqual([...mask(2, 3)]);
  });
});

describe('read-mostly in runs (titanv-pcie3)', () => {
  const spec = (readMostly: boolean): WorkloadSpec => ({
    name: 'ping-pong',
    allocations: [{ name: 't', size: 4 * 1024 * 1024, init: 'cpu', ...(readMostly ? { readMostly } : {}) }],
    steps: [
      {
        repeat: 6,
        steps: [
          { kernel: 'k', gen: 'stream', arrays: ['t', 't', 't'], args: {} },
          { cpu: 'read', array: 't', threads: 1 },
        ],
      },
    ],
  });

  it('a range both sides touch in turn: duplicated by reads, collapsed by writes, never throttled or pinned', () => {
    const off = runWorkload(spec(false), { platform: 'titanv-pcie3' });
    const on = runWorkload(spec(true), { platform: 'titanv-pcie3' });
    // stream's triad writes its first array: the duplicate collapses every iteration.
    expect(on.counters.duplicateCollapses).toBeGreaterThan(0);
    // The same pages moving back and forth thrash without the advice; with it detection is off.
    expect(off.counters.thrashingDetected).toBeGreaterThan(0);
    expect(on.counters.thrashingDetected + on.counters.throttles + on.counters.pins).toBe(0);
    expect(off.counters.readDuplications).toBe(0);
  });

  it('without readMostly nothing is duplicated and every new counter stays 0', () => {
    const r = runWorkload(spec(false), { platform: 'titanv-pcie3' });
    expect(r.counters.readDuplications).toBe(0);
    expect(r.counters.duplicateCollapses).toBe(0);
    expect(r.counters.readDuplicatesEvicted).toBe(0);
  });
});
