/**
 * Memory advice as nvidia-uvm applies it (uvm_va_block.c `block_select_processor_residency`,
 * `uvm_va_block_add_mappings_after_migration`, `block_add_eviction_mappings`; uvm_policy.c
 * `uvm_va_block_set_accessed_by`): where a GPU fault leaves a page, which mappings AccessedBy
 * makes after CPU faults and evictions, and the non-2 MiB access-counter path
 * (uvm_gpu_access_counters.c `expand_notification_block`).
 */
import { describe, expect, it } from 'vitest';
import { findPlatform } from '../../../src/workload/cost/platform.ts';
import { Engine } from '../../../src/workload/engine/engine.ts';
import { runWorkload } from '../../../src/workload/engine/run.ts';
import { TraceBuilder } from '../../../src/workload/generators/trace.ts';
import { withParam } from '../../../src/workload/params.ts';
import {
  ADVISE_ACCESSED_BY_GPU,
  ADVISE_PREFER_CPU,
  ADVISE_PREFER_GPU,
  accessedByMapsAfterMigration,
  splitGpuFaultResidency,
} from '../../../src/workload/policy/advice.ts';
import { findPolicy } from '../../../src/workload/policy/presets.ts';
import { FastBackend } from '../../../src/workload/residency/fast-backend.ts';
import type { WorkloadSpec } from '../../../src/workload/spec.ts';
import { BLOCK_WORDS } from '../../../src/workload/units.ts';

const mask = (...pages: number[]): Uint32Array => {
  const m = new Uint32Array(BLOCK_WORDS);
  for (const p of pages) m[p >>> 5]! |= 1 << (p & 31);
  return m;
};
const pagesOf = (m: Uint32Array): number[] => {
  const out: number[] = [];
  for (let p = 0; p < BLOCK_WORDS * 32; p++) if ((m[p >>> 5]! >>> (p & 31)) & 1) out.push(p);
  return out;
};

describe('splitGpuFaultResidency: where a GPU fault leaves each page', () => {
  // Faulted pages 0, 1 (data in system memory) and 2, 3 (resident nowhere).
  const cases: [string, number, number[], number[], number[]][] = [
    // advice, pages left to migrate, pages mapped remotely, of those populated in system memory first
    ['no advice: everything migrates', 0, [0, 1, 2, 3], [], []],
    [
      'preferred location GPU: migrate (the faulting processor is the preferred location)',
      ADVISE_PREFER_GPU,
      [0, 1, 2, 3],
      [],
      [],
    ],
    [
      'AccessedBy: data stays in system memory; pages resident nowhere go to the GPU',
      ADVISE_ACCESSED_BY_GPU,
      [2, 3],
      [0, 1],
      [],
    ],
    [
      'preferred location CPU: data stays; pages resident nowhere are populated there',
      ADVISE_PREFER_CPU,
      [],
      [0, 1, 2, 3],
      [2, 3],
    ],
    [
      'preferred location GPU wins over AccessedBy',
      ADVISE_PREFER_GPU | ADVISE_ACCESSED_BY_GPU,
      [0, 1, 2, 3],
      [],
      [],
    ],
  ];
  for (const [label, advice, migrate, remote, populate] of cases) {
    it(label, () => {
      const faulted = mask(0, 1, 2, 3);
      const remoteOut = new Uint32Array(BLOCK_WORDS);
      const populateOut = new Uint32Array(BLOCK_WORDS);
      const n = splitGpuFaultResidency(advice, faulted, mask(0, 1, 100), 0, remoteOut, populateOut);
      expect(pagesOf(faulted)).toEqual(migrate);
      expect(pagesOf(remoteOut)).toEqual(remote);
      expect(pagesOf(populateOut)).toEqual(populate);
      expect(n).toBe(remote.length);
    });
  }

  it('AccessedBy maps after CPU migrations except for a GPU preferred location; after evictions always', () => {
    expect(accessedByMapsAfterMigration(ADVISE_ACCESSED_BY_GPU, false)).toBe(true);
    expect(accessedByMapsAfterMigration(ADVISE_ACCESSED_BY_GPU | ADVISE_PREFER_GPU, false)).toBe(false);
    expect(accessedByMapsAfterMigration(ADVISE_ACCESSED_BY_GPU | ADVISE_PREFER_GPU, true)).toBe(true);
    expect(accessedByMapsAfterMigration(ADVISE_PREFER_CPU, true)).toBe(false);
  });
});

const spec = (
  alloc: Partial<WorkloadSpec['allocations'][number]>,
  steps: WorkloadSpec['steps'] = [{ kernel: 'k', gen: 'stream', arrays: ['a', 'b', 'c'], args: {} }],
): WorkloadSpec => ({
  name: 'advice',
  allocations: [
    { name: 'a', size: 4 << 20, init: 'cpu' },
    { name: 'b', size: 4 << 20, init: 'cpu', ...alloc },
    { name: 'c', size: 4 << 20, init: 'cpu', ...alloc },
  ],
  steps,
});

describe('advice in runs (titanv-pcie3)', () => {
  const opts = { platform: 'titanv-pcie3' };

  it('AccessedBy: the CPU init maps b and c for the GPU, whose reads of them are remote and fault nowhere', () => {
    const plain = runWorkload(spec({}), opts);
    const r = runWorkload(spec({ accessedBy: 'gpu' }), opts);
    // 2 × 4 MiB mapped after the CPU's first touch, no page of b or c migrated.
    expect(r.counters.adviceRemoteMaps).toBe(2048);
    expect(r.counters.pagesMigratedH2D).toBe(1024);
    expect(r.counters.remoteAccesses).toBeGreaterThan(0);
    expect(r.counters.faults).toBeLessThan(plain.counters.faults);
    expect(plain.counters.adviceRemoteMaps).toBe(0);
    expect(r.breakdownNs.remoteAccess).toBeGreaterThan(0);
  });

  it('AccessedBy: the first remote mapping of a block DMA-maps it for the GPU, once (block_gpu_map_phys_all_cpu_pages)', () => {
    const plain = runWorkload(spec({}), opts);
    const r = runWorkload(spec({ accessedBy: 'gpu' }), opts);
    const perPage = findPlatform('titanv-pcie3')!.params.dmaMapPerPageNs.value;
    // Six 2 MiB blocks: a's two migrate, b's and c's four are mapped remotely; each is DMA-mapped
    // once, whether by its first migration or by its first remote mapping.
    expect(r.breakdownNs.dmaMap).toBeCloseTo(6 * 512 * perPage, 6);
    expect(r.breakdownNs.dmaMap).toBeCloseTo(plain.breakdownNs.dmaMap, 6);
  });

  it('AccessedBy with a GPU preferred location: the CPU-side mapping is not made, the GPU faults and migrates', () => {
    const r = runWorkload(spec({ accessedBy: 'gpu', preferredLocation: 'gpu' }), opts);
    expect(r.counters.adviceRemoteMaps).toBe(0);
    expect(r.counters.pagesMigratedH2D).toBe(3072);
  });

  it('preferred location CPU: GPU faults map the pages remotely; untouched pages are populated in system memory', () => {
    const r = runWorkload(
      {
        name: 'pcpu',
        allocations: [{ name: 'x', size: 4 << 20, init: 'none', preferredLocation: 'cpu' }],
        steps: [{ kernel: 'k', gen: 'random-page', arrays: ['x'], args: {} }],
      },
      opts,
    );
    expect(r.counters.faults).toBeGreaterThan(0);
    expect(r.counters.pagesMigratedH2D).toBe(0);
    expect(r.counters.adviceRemoteMaps).toBe(1024);
    expect(r.counters.bytesH2D).toBe(0);
    expect(r.breakdownNs.populate).toBeGreaterThan(0);
  });

  it('cudaMemPrefetchAsync migrates AccessedBy pages and replaces their remote mappings', () => {
    const r = runWorkload(
      spec({ accessedBy: 'gpu' }, [
        { prefetch: 'b', to: 'gpu' },
        { kernel: 'k', gen: 'stream', arrays: ['a', 'b', 'c'], args: {} },
      ]),
      opts,
    );
    expect(r.counters.pagesMigratedH2D).toBe(2048);
  });

  it('access counters (on) still migrate AccessedBy pages, not those of a CPU preferred location', () => {
    const set = [
      ['accessCounterMigration', 'on'],
      ['accessCounterThreshold', 16],
    ] as [string, string | number][];
    const ab = runWorkload(spec({ accessedBy: 'gpu' }), { ...opts, set });
    expect(ab.counters.accessCounterNotifications).toBeGreaterThan(0);
    expect(ab.counters.accessCounterMigrations).toBeGreaterThan(0);
    const pc = runWorkload(spec({ preferredLocation: 'cpu' }), { ...opts, set });
    expect(pc.counters.accessCounterNotifications).toBeGreaterThan(0);
    expect(pc.counters.accessCounterMigrations).toBe(0);
  });
});

describe('AccessedBy and eviction', () => {
  function engine(advice: number, policy: Record<string, string | number> = {}) {
    const platform = withParam(findPlatform('titanv-pcie3')!.params, 'sms', 1, 'test');
    let p = findPolicy('nvidia-uvm')!.params;
    for (const [k, v] of Object.entries({ prefetchEnable: 0, ...policy })) p = withParam(p, k, v, 'test');
    const adv = new Uint8Array(4).fill(advice);
    return new Engine({
      platform,
      policy: p,
      capacityPages: 1024,
      backend: new FastBackend(4 * 512),
      seed: 1,
      advice: adv,
    });
  }
  const kernel = (pages: readonly number[]) => {
    const t = new TraceBuilder('k', 1);
    for (const q of pages) t.push(0, q);
    return t.build();
  };
  const range = (from: number, n: number): number[] => Array.from({ length: n }, (_, i) => from + i);

  it('evicted pages are mapped for the accessed-by GPU even with access-counter migrations off', () => {
    // Untouched blocks: first touches populate them on the GPU (resident nowhere → the GPU).
    const e = engine(ADVISE_ACCESSED_BY_GPU);
    e.runKernel(kernel(range(0, 512)));
    e.runKernel(kernel(range(512, 512)));
    e.runKernel(kernel([1024]));
    expect(e.counters.evictions).toBe(1);
    expect(e.counters.adviceRemoteMaps).toBe(512);
    expect(e.counters.remoteMapsOnEviction).toBe(0);
    const faults = e.counters.faults;
    e.runKernel(kernel(range(0, 8)));
    expect(e.counters.faults).toBe(faults);
    expect(e.counters.remoteAccesses).toBe(8);
  });

  it('without advice the evicted pages fault again (migrations off: no remote mapping on eviction)', () => {
    const e = engine(0);
    e.runKernel(kernel(range(0, 512)));
    e.runKernel(kernel(range(512, 512)));
    e.runKernel(kernel([1024]));
    const faults = e.counters.faults;
    e.runKernel(kernel(range(0, 8)));
    expect(e.counters.faults).toBeGreaterThan(faults);
    expect(e.counters.adviceRemoteMaps).toBe(0);
  });
});

describe('access-counter notifications with 4 KiB CPU chunks (expand_notification_block)', () => {
  function evictedAndRead(cpuChunkSize: string) {
    const platform = withParam(findPlatform('titanv-pcie3')!.params, 'sms', 1, 'test');
    let p = findPolicy('nvidia-uvm')!.params;
    for (const [k, v] of Object.entries({
      prefetchEnable: 0,
      accessCounterMigration: 'on',
      accessCounterThreshold: 10,
      cpuChunkSize,
    }))
      p = withParam(p, k, v, 'test');
    const e = new Engine({
      platform,
      policy: p,
      capacityPages: 1024,
      backend: new FastBackend(4 * 512),
      seed: 1,
    });
    const kernel = (pages: readonly number[]) => {
      const t = new TraceBuilder('k', 1);
      for (const q of pages) t.push(0, q);
      return t.build();
    };
    const range = (from: number, n: number): number[] => Array.from({ length: n }, (_, i) => from + i);
    e.runKernel(kernel(range(0, 512)));
    e.runKernel(kernel(range(512, 512)));
    e.runKernel(kernel([1024])); // evicts block 0, mapped remotely (migrations on)
    // 10 remote reads of pages 32-41 (sub-regions 2 and 3), then 10 more.
    e.runKernel(kernel(range(32, 10)));
    const first = e.counters.accessCounterMigrations;
    e.runKernel(kernel(range(32, 10)));
    return {
      first,
      second: e.counters.accessCounterMigrations,
      notifications: e.counters.accessCounterNotifications,
    };
  }

  it('2 MiB chunks: the accessed 64 KiB sub-regions migrate', () => {
    const r = evictedAndRead('2m');
    expect(r.first).toBe(16);
  });

  it('4 KiB chunks: the notification migrates the page at its address only, once', () => {
    const r = evictedAndRead('4k');
    expect(r.notifications).toBe(2);
    expect(r.first).toBe(1);
    // The region's base page is on the GPU now: the next notification migrates nothing.
    expect(r.second).toBe(1);
  });
});

describe('AccessedBy and thrashing (uvm_perf_thrashing.c)', () => {
  // A kernel touches 64 pages, then the CPU writes them, 40 times (examples/workloads/ping-pong.json).
  const pingPong = (accessedBy: boolean): WorkloadSpec => ({
    name: 'ping-pong',
    allocations: [{ name: 'x', size: 256 * 1024, init: 'cpu', ...(accessedBy ? { accessedBy: 'gpu' } : {}) }],
    steps: [
      {
        repeat: 40,
        steps: [
          { kernel: 'touch', gen: 'block-stream', arrays: ['x'], args: { chunkPages: 1, blocksPerSm: 1 } },
          { cpu: 'write', array: 'x', threads: 1 },
        ],
      },
    ],
  });

  it('the pages never move, so nothing thrashes: no throttles or pins, only remote accesses', () => {
    const plain = runWorkload(pingPong(false), { platform: 'pascal-pcie3' });
    const ab = runWorkload(pingPong(true), { platform: 'pascal-pcie3' });
    expect(plain.counters.thrashingDetected).toBeGreaterThan(0);
    expect(ab.counters.thrashingDetected).toBe(0);
    expect([ab.counters.throttles, ab.counters.pins, ab.counters.faults, ab.counters.cpuFaults]).toEqual([
      0, 0, 0, 0,
    ]);
    expect(ab.counters.remoteAccesses).toBe(40 * 64);
    expect(ab.timeNs).toBeLessThan(plain.timeNs);
  });
});
