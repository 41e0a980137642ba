/**
 * The differential test of the two tiers: every generator at a small footprint, run by the engine
 * on the fast tier and on the functional tier (the real kernel, replayed in lockstep). Both must
 * agree on every backend call (page counts, first touches, faults, the kernel's work and the
 * block's bitmaps), and so give identical counters and times. Platforms: pascal-pcie3 (kernel
 * costs zero) and dmirror-cpu-copy (per-folio migrate_vma costs charged).
 *
 * Oversubscribed runs (1.5×, evictions) compare with the fast tier in HMM mode (`hmm: true`:
 * evicted pages come back mapped, as `migrate_vma` leaves them), which is what the functional
 * tier is; UVM's own eviction leaves them unmapped and is not comparable. CPU read-back of
 * GPU-resident data compares the same way: under HMM every page of the policy's region comes back
 * by its own fault and `migrate_to_ram` of that page (docs/workload-functional.md).
 */
import { describe, expect, it } from 'vitest';
import { ACC_WRITE, TraceBuilder } from '../../../src/workload/generators/trace.ts';
import {
  FastBackend,
  FunctionalBackend,
  findPlatform,
  GENERATORS,
  generatorWorkload,
  runWorkload,
  runWorkloadFunctional,
} from '../../../src/workload/index.ts';
import type { WorkloadSpec } from '../../../src/workload/spec.ts';

const FOOTPRINT = 4 * 1024 * 1024;

describe('differential: fast and functional tiers agree', () => {
  for (const platform of ['pascal-pcie3', 'dmirror-cpu-copy']) {
    for (const g of GENERATORS) {
      it(`${g.name} on ${platform}: identical counters and time`, async () => {
        const spec = generatorWorkload(g.name, FOOTPRINT, {});
        const fast = runWorkload(spec, { platform });
        const functional = await runWorkloadFunctional(spec, { platform });
        expect(functional.functional.divergences).toEqual([]);
        expect(functional.functional.agreed).toBe(true);
        expect(functional.functional.calls).toBeGreaterThan(0);
        expect(functional.functional.kernelWork.kernel).toEqual(functional.functional.kernelWork.model);
        expect(functional.counters).toEqual(fast.counters);
        expect(Math.abs(functional.timeNs / fast.timeNs - 1)).toBeLessThanOrEqual(0.01);
        expect(functional.tier).toBe('functional');
        expect(functional.functional.violations).toEqual([]);
      });
    }
  }
});

describe('differential: oversubscribed (evictions), fast tier in HMM mode', () => {
  for (const g of GENERATORS) {
    it(`${g.name} at 12 MiB, 1.5× oversubscription: identical counters and time`, async () => {
      const spec = generatorWorkload(g.name, 12 * 1024 * 1024, {});
      const opts = { platform: 'pascal-pcie3', oversub: 1.5 };
      const fast = runWorkload(spec, { ...opts, backend: (p) => new FastBackend(p, { hmm: true }) });
      const functional = await runWorkloadFunctional(spec, opts);
      expect(functional.functional.divergences).toEqual([]);
      expect(functional.counters).toEqual(fast.counters);
      expect(Math.abs(functional.timeNs / fast.timeNs - 1)).toBeLessThanOrEqual(0.01);
    });
  }

  it('evictions do happen in these runs', () => {
    const spec = generatorWorkload('random-page', 12 * 1024 * 1024, {});
    const fast = runWorkload(spec, {
      platform: 'pascal-pcie3',
      oversub: 1.5,
      backend: (p) => new FastBackend(p, { hmm: true }),
    });
    expect(fast.counters.evictions).toBeGreaterThan(0);
  });
});

describe('differential: access counters and remote mapping on eviction, fast tier in HMM mode', () => {
  it('stream ×3 at 12 MiB, 1.5× oversubscription, accessCounterMigration=on: identical counters and time', async () => {
    const spec = generatorWorkload('stream', 12 * 1024 * 1024, { iterations: 3 });
    const opts = {
      platform: 'titanv-pcie3',
      oversub: 1.5,
      set: [['accessCounterMigration', 'on']] as [string, string][],
    };
    const fast = runWorkload(spec, { ...opts, backend: (p) => new FastBackend(p, { hmm: true }) });
    const functional = await runWorkloadFunctional(spec, opts);
    expect(fast.counters.accessCounterMigrations).toBeGreaterThan(0);
    expect(functional.functional.divergences).toEqual([]);
    expect(functional.counters).toEqual(fast.counters);
    expect(Math.abs(functional.timeNs / fast.timeNs - 1)).toBeLessThanOrEqual(0.01);
  });
});

describe('differential: CPU read-back of GPU-resident data, fast tier in HMM mode', () => {
  const readBack = (policy: string): WorkloadSpec => ({
    name: 'read-back',
    policy,
    allocations: [{ name: 'x', size: 4 * 1024 * 1024, init: 'cpu' }],
    steps: [
      { kernel: 'k', gen: 'random-page', arrays: ['x'], args: {} },
      { cpu: 'read', array: 'x', threads: 1 },
      { kernel: 'k2', gen: 'random-page', arrays: ['x'], args: {} },
      { cpu: 'write', array: 'x', threads: 2 },
    ],
  });
  for (const platform of ['pascal-pcie3', 'dmirror-cpu-copy']) {
    for (const policy of ['nvidia-uvm', 'xe-gpusvm']) {
      it(`${policy} on ${platform}: identical counters and time`, async () => {
        const spec = readBack(policy);
        const fast = runWorkload(spec, { platform, backend: (p) => new FastBackend(p, { hmm: true }) });
        const functional = await runWorkloadFunctional(spec, { platform });
        expect(functional.functional.divergences).toEqual([]);
        expect(fast.counters.cpuFaults).toBeGreaterThan(0);
        expect(functional.counters).toEqual(fast.counters);
        expect(Math.abs(functional.timeNs / fast.timeNs - 1)).toBeLessThanOrEqual(0.01);
      });
    }
  }

  it('an HMM device brings a region back page by page; UVM in one migration per run', () => {
    const region = new Uint32Array(16);
    region[0] = 0xffff; // pages 0-15, GPU-resident
    const hmm = new FastBackend(512, { hmm: true });
    const uvm = new FastBackend(512);
    for (const b of [hmm, uvm]) b.migrateToGpu(0, region, 0, 'fault');
    const h = hmm.cpuAccess(0, region, 0, false);
    const u = uvm.cpuAccess(0, region, 0, false);
    expect([h.migratedBack, h.runs.length, h.kernel.callbacks]).toEqual([16, 16, 16]);
    expect([u.migratedBack, u.runs, u.kernel.callbacks]).toEqual([16, [16], 0]);
  });
});

describe('fast tier in HMM mode: a block that arrived as one device folio', () => {
  // An untouched aligned 2 MiB block migrates as one compound hole, so its GPU copy is one device
  // folio, which migrate_vma evicts as one folio: both tiers, call by call.
  it('is evicted as one folio', async () => {
    const all = new Uint32Array(16).fill(0xffffffff);
    const fast = new FastBackend(512, { hmm: true });
    const real = await FunctionalBackend.create({
      pageCount: 512,
      platform: findPlatform('pascal-pcie3')!.params,
    });
    expect(fast.migrateToGpu(0, all, 0, 'fault').kernel.folios).toBe(1);
    expect((await real.migrateToGpu(0, all, 0, 'fault')).kernel.folios).toBe(1);
    const want = { pages: 512, folios: 1, callbacks: 1 };
    expect(fast.evictToCpu(0, all, 0).kernel).toMatchObject(want);
    expect((await real.evictToCpu(0, all, 0)).kernel).toMatchObject(want);
    await real.close();
  });
});

describe('differential: memory advice (AccessedBy, preferred location CPU), fast tier in HMM mode', () => {
  // The advice decides which pages migrate and which the GPU maps in system memory; populating
  // pages there for a CPU preferred location is a backend call the functional tier replays on the
  // real kernel. AccessedBy mappings are made after the CPU init (d), after evictions (b, at 2.5×
  // oversubscription) and after CPU faults (the read-back of b).
  const spec: WorkloadSpec = {
    name: 'advice',
    oversub: 2.5,
    allocations: [
      { name: 'a', size: 4 * 1024 * 1024, init: 'none' },
      { name: 'b', size: 4 * 1024 * 1024, init: 'none', accessedBy: 'gpu' },
      { name: 'c', size: 4 * 1024 * 1024, init: 'none', preferredLocation: 'cpu' },
      { name: 'd', size: 4 * 1024 * 1024, init: 'cpu', accessedBy: 'gpu' },
    ],
    steps: [
      { kernel: 'k', gen: 'stream', arrays: ['a', 'b', 'd'], args: {} },
      { kernel: 'k2', gen: 'random-page', arrays: ['c'], args: {} },
      { cpu: 'read', array: 'b', threads: 1 },
      { kernel: 'k3', gen: 'stream', arrays: ['a', 'b', 'd'], args: {} },
    ],
  };
  for (const platform of ['pascal-pcie3', 'titanv-pcie3']) {
    it(`${platform}: identical counters and time`, async () => {
      const fast = runWorkload(spec, { platform, backend: (p) => new FastBackend(p, { hmm: true }) });
      const functional = await runWorkloadFunctional(spec, { platform });
      expect(fast.counters.adviceRemoteMaps).toBeGreaterThan(1024);
      expect(fast.counters.evictions).toBeGreaterThan(0);
      expect(fast.counters.cpuFaults).toBeGreaterThan(0);
      expect(functional.functional.divergences).toEqual([]);
      expect(functional.counters).toEqual(fast.counters);
      expect(Math.abs(functional.timeNs / fast.timeNs - 1)).toBeLessThanOrEqual(0.01);
    });
  }
});

describe('differential: read duplication (cudaMemAdviseSetReadMostly), fast tier in HMM mode', () => {
  // Inputs b and c read-mostly: GPU reads duplicate them, the second kernel writes b (collapse on
  // the GPU), the CPU reads b back (duplication to the CPU) and writes it (collapse on the CPU);
  // at 1.5× the evictions drop duplicated pages.
  const spec: WorkloadSpec = {
    name: 'read-mostly',
    allocations: [
      { name: 'a', size: 4 * 1024 * 1024, init: 'cpu' },
      { name: 'b', size: 4 * 1024 * 1024, init: 'cpu', readMostly: true },
      { name: 'c', size: 4 * 1024 * 1024, init: 'cpu', readMostly: true },
    ],
    steps: [
      {
        repeat: 2,
        steps: [
          { kernel: 'triad', gen: 'stream', arrays: ['a', 'b', 'c'], args: {} },
          { kernel: 'copy', gen: 'stream', arrays: ['b', 'c', 'a'], args: {} },
          { cpu: 'read', array: 'b', threads: 1 },
          { cpu: 'write', array: 'b', threads: 1 },
        ],
      },
    ],
  };
  for (const [platform, oversub] of [
    ['pascal-pcie3', 1],
    ['dmirror-cpu-copy', 1],
    ['pascal-pcie3', 1.5],
  ] as const) {
    it(`${platform} at ${oversub}×: identical counters and time`, async () => {
      const opts = { platform, oversub };
      const fast = runWorkload(spec, { ...opts, backend: (p) => new FastBackend(p, { hmm: true }) });
      const functional = await runWorkloadFunctional(spec, opts);
      expect(functional.functional.divergences).toEqual([]);
      expect(functional.functional.kernelWork.kernel).toEqual(functional.functional.kernelWork.model);
      expect(fast.counters.readDuplications).toBeGreaterThan(0);
      expect(fast.counters.duplicateCollapses).toBeGreaterThan(0);
      if (oversub > 1) expect(fast.counters.readDuplicatesEvicted).toBeGreaterThan(0);
      expect(functional.counters).toEqual(fast.counters);
      expect(Math.abs(functional.timeNs / fast.timeNs - 1)).toBeLessThanOrEqual(0.01);
      expect(functional.functional.violations).toEqual([]);
    });
  }
});

describe('differential: a CPU fault on a block that arrived as one device folio (HMM mode)', () => {
  // cudaMemPrefetchAsync moves each untouched 2 MiB block as one compound hole: one device THP,
  // PMD-mapped. The CPU's first touch of it faults through the PMD, and dmirror_devmem_fault
  // migrates the whole folio back (MIGRATE_VMA_SELECT_COMPOUND): 512 pages, one copy, one fault
  // per block — not the policy's region page by page.
  const spec: WorkloadSpec = {
    name: 'thp-back',
    allocations: [{ name: 'a', size: 4 * 1024 * 1024, init: 'none' }],
    steps: [
      { prefetch: 'a', to: 'gpu' },
      { cpu: 'read', array: 'a', threads: 1 },
    ],
  };
  for (const platform of ['pascal-pcie3', 'dmirror-cpu-copy']) {
    it(`${platform}: both tiers bring the whole folio back`, async () => {
      const fast = runWorkload(spec, { platform, backend: (p) => new FastBackend(p, { hmm: true }) });
      const functional = await runWorkloadFunctional(spec, { platform });
      expect(functional.functional.divergences).toEqual([]);
      expect(functional.functional.kernelWork.kernel).toEqual(functional.functional.kernelWork.model);
      expect(fast.counters.cpuFaults).toBe(2);
      expect(fast.counters.pagesMigratedD2H).toBe(1024);
      expect(fast.counters.bytesD2H).toBe(4 * 1024 * 1024);
      expect(functional.counters).toEqual(fast.counters);
      expect(Math.abs(functional.timeNs / fast.timeNs - 1)).toBeLessThanOrEqual(0.01);
    });
  }
});

describe('differential: a CPU write to a read-duplicated page runs the prefetcher (HMM mode)', () => {
  // x is read-mostly and written by the CPU first. The GPU reads page 0 (duplicated) and writes
  // pages 1–15 (they migrate: on the GPU only). The CPU's write of x faults first on page 0, a
  // duplicated page: the CPU-destination prefetcher's region holds pages 1–15, which are
  // read-duplicated to the CPU before the writes collapse them.
  const t = new TraceBuilder('k', 1);
  t.push(0, 0, 0);
  for (let p = 1; p < 16; p++) t.push(0, p, ACC_WRITE);
  const spec: WorkloadSpec = {
    name: 'write-dup',
    allocations: [{ name: 'x', size: 2 * 1024 * 1024, init: 'cpu', readMostly: true }],
    steps: [
      { replay: t.build(), array: 'x' },
      { cpu: 'write', array: 'x', threads: 1 },
    ],
  };
  for (const platform of ['pascal-pcie3', 'dmirror-cpu-copy']) {
    it(`${platform}: identical counters and time`, async () => {
      const fast = runWorkload(spec, { platform, backend: (p) => new FastBackend(p, { hmm: true }) });
      const functional = await runWorkloadFunctional(spec, { platform });
      expect(functional.functional.divergences).toEqual([]);
      expect(functional.functional.kernelWork.kernel).toEqual(functional.functional.kernelWork.model);
      // On pascal-pcie3, page 0 by the GPU's read and pages 1–15 by the CPU write's prefetch (on
      // dmirror-cpu-copy the GPU faults one at a time and its own prefetches duplicate more).
      if (platform === 'pascal-pcie3') {
        expect(fast.counters.readDuplications).toBe(16);
        expect(fast.counters.duplicateCollapses).toBe(16);
        expect(fast.counters.bytesD2H).toBe(15 * 4096);
      }
      expect(functional.counters).toEqual(fast.counters);
      expect(Math.abs(functional.timeNs / fast.timeNs - 1)).toBeLessThanOrEqual(0.01);
    });
  }
});
