/**
 * Access counters and remote mapping (nvidia-uvm uvm_gpu_access_counters.c, uvm_va_block.c):
 * a notification after `accessCounterThreshold` remote accesses to a 2 MiB region, migration of
 * the accessed 64 KiB sub-regions on the notification, remote mapping of evicted pages while
 * access-counter migrations are on, and nothing of it on a GPU without access counters or with
 * the driver's default policy on a system without ATS.
 */
import { describe, expect, it } from 'vitest';
import { findPlatform } from '../../../src/workload/cost/platform.ts';
import { Engine } from '../../../src/workload/engine/engine.ts';
import { generatorWorkload, runWorkload } from '../../../src/workload/engine/run.ts';
import { TraceBuilder } from '../../../src/workload/generators/trace.ts';
import { withParam } from '../../../src/workload/params.ts';
import { findPolicy } from '../../../src/workload/policy/presets.ts';
import { FastBackend } from '../../../src/workload/residency/fast-backend.ts';

function engine(platformName: string, policy: Record<string, number | string>) {
  const platform = withParam(findPlatform(platformName)!.params, 'sms', 1, 'test');
  let p = findPolicy('nvidia-uvm')!.params;
  for (const [k, v] of Object.entries({ prefetchEnable: 0, ...policy })) p = withParam(p, k, v, 'test');
  // Room for two 2 MiB blocks: the third block's first fault evicts block 0 (allocation order).
  return new Engine({ platform, policy: p, capacityPages: 1024, backend: new FastBackend(4 * 512), seed: 1 });
}

function kernel(pages: readonly number[]) {
  const t = new TraceBuilder('k', 1);
  for (const p of pages) t.push(0, p);
  return t.build();
}

const range = (from: number, n: number): number[] => Array.from({ length: n }, (_, i) => from + i);

/** Fills blocks 0 and 1, then faults on block 2, which evicts block 0. */
function evictBlock0(e: Engine): void {
  e.runKernel(kernel(range(0, 512)));
  e.runKernel(kernel(range(512, 512)));
  e.runKernel(kernel([1024]));
}

describe('access counters (titanv-pcie3, accessCounterMigration = on, threshold 10)', () => {
  it('maps evicted pages remotely, so the GPU reads them without faulting', () => {
    const e = engine('titanv-pcie3', { accessCounterMigration: 'on', accessCounterThreshold: 10 });
    evictBlock0(e);
    expect(e.counters.evictions).toBe(1);
    expect(e.counters.remoteMapsOnEviction).toBe(512);
    const faults = e.counters.faults;
    e.runKernel(kernel(range(0, 9)));
    expect(e.counters.faults).toBe(faults);
    expect(e.counters.remoteAccesses).toBe(9);
    expect(e.counters.accessCounterNotifications).toBe(0);
    expect(e.counters.accessCounterMigrations).toBe(0);
    expect(e.breakdown.remoteAccess).toBeGreaterThan(0);
  });

  it('notifies at the threshold and migrates the accessed 64 KiB sub-regions', () => {
    const e = engine('titanv-pcie3', { accessCounterMigration: 'on', accessCounterThreshold: 10 });
    evictBlock0(e);
    // 10 remote reads: pages 0-7 (sub-region 0) and 40, 41 (sub-region 2).
    e.runKernel(kernel([...range(0, 8), 40, 41]));
    expect(e.counters.accessCounterNotifications).toBe(1);
    // Sub-regions 0 and 2: pages 0-15 and 32-47 come back; the rest of block 0 stays remote.
    expect(e.counters.accessCounterMigrations).toBe(32);
    const res = e.residentPages;
    const faults = e.counters.faults;
    e.runKernel(kernel([0, 15, 32, 47]));
    expect(e.counters.remoteAccesses).toBe(10);
    e.runKernel(kernel([16]));
    expect(e.counters.remoteAccesses).toBe(11);
    expect(e.counters.faults).toBe(faults);
    expect(e.residentPages).toBe(res);
  });

  it('without access-counter migrations evicted pages fault again (the driver default without ATS)', () => {
    for (const mode of ['default', 'off']) {
      const e = engine('titanv-pcie3', { accessCounterMigration: mode, accessCounterThreshold: 10 });
      evictBlock0(e);
      const faults = e.counters.faults;
      e.runKernel(kernel(range(0, 10)));
      expect(e.counters.remoteMapsOnEviction).toBe(0);
      expect(e.counters.remoteAccesses).toBe(0);
      expect(e.counters.faults).toBeGreaterThan(faults);
    }
  });

  it('mapRemoteOnEviction = 0 keeps migrations on but maps nothing after an eviction', () => {
    const e = engine('titanv-pcie3', { accessCounterMigration: 'on', mapRemoteOnEviction: 0 });
    evictBlock0(e);
    expect(e.counters.remoteMapsOnEviction).toBe(0);
  });

  it('a GPU without access counters (Pascal) never uses them, whatever the policy says', () => {
    const e = engine('pascal-pcie3', { accessCounterMigration: 'on', accessCounterThreshold: 10 });
    evictBlock0(e);
    expect(e.counters.remoteMapsOnEviction).toBe(0);
  });

  it('are on by default with ATS (gh200-c2c)', () => {
    const e = engine('gh200-c2c', {});
    evictBlock0(e);
    expect(e.counters.remoteMapsOnEviction).toBe(512);
  });
});

describe('access counters in a run', () => {
  it('oversubscribed stream with reuse: fewer faults, remote accesses, notifications and migrations', () => {
    const w = generatorWorkload('stream', 48 * 2 ** 20, { iterations: 3 });
    const off = runWorkload(w, { platform: 'titanv-pcie3', oversub: 1.5 });
    const on = runWorkload(w, {
      platform: 'titanv-pcie3',
      oversub: 1.5,
      set: [['accessCounterMigration', 'on']],
    });
    expect(off.counters.remoteAccesses).toBe(0);
    expect(on.counters.remoteMapsOnEviction).toBeGreaterThan(0);
    expect(on.counters.remoteAccesses).toBeGreaterThan(0);
    expect(on.counters.accessCounterNotifications).toBeGreaterThan(0);
    expect(on.counters.accessCounterMigrations).toBeGreaterThan(0);
    expect(on.counters.faults).toBeLessThan(off.counters.faults);
  });
});
