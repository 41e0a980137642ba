import { describe, expect, it } from 'vitest';
import { generatorWorkload, runWorkload } from '../../../src/workload/engine/run.ts';
import {
  HINT_NONE,
  HINT_PIN,
  HINT_THROTTLE,
  PROC_CPU,
  PROC_GPU,
  ThrashingDetector,
  type ThrashingParams,
} from '../../../src/workload/policy/thrashing.ts';
import type { WorkloadSpec } from '../../../src/workload/spec.ts';

// uvm_perf_thrashing.c defaults, lapse 500 µs.
const DEFAULTS: ThrashingParams = {
  enable: true,
  threshold: 3,
  pinThreshold: 10,
  lapseNs: 500_000,
  napNs: 500_000,
  epochNs: 2000 * 500_000,
  pinNs: 300 * 500_000,
  maxResets: 4,
};
const P0 = Uint32Array.of(1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
const us = 1000;

/** Page 0 of block 0 migrated CPU→GPU→CPU→GPU 100 µs apart: tracked, then thrashing at the third event. */
function thrashing(p: ThrashingParams = DEFAULTS): ThrashingDetector {
  const d = new ThrashingDetector(p, 2);
  d.onMigration(0, P0, PROC_GPU, 0);
  d.onMigration(0, P0, PROC_CPU, 100 * us);
  d.onMigration(0, P0, PROC_GPU, 200 * us);
  d.onMigration(0, P0, PROC_CPU, 300 * us);
  d.onMigration(0, P0, PROC_GPU, 400 * us);
  return d;
}

describe('thrashing detection (thrashing_event_cb)', () => {
  it('tracks a block per page only after it moved to another processor within a lapse', () => {
    const d = new ThrashingDetector(DEFAULTS, 2);
    d.onMigration(0, P0, PROC_GPU, 0);
    d.onMigration(0, P0, PROC_GPU, 100 * us);
    expect(d.tracked(0)).toBe(false); // same processor
    d.onMigration(0, P0, PROC_CPU, 700 * us);
    expect(d.tracked(0)).toBe(false); // more than a lapse later
    d.onMigration(0, P0, PROC_GPU, 800 * us);
    expect(d.tracked(0)).toBe(true);
  });

  it('a page is thrashing at the threshold (3) of migrations less than a lapse apart', () => {
    const d = new ThrashingDetector(DEFAULTS, 2);
    d.onMigration(0, P0, PROC_GPU, 0);
    d.onMigration(0, P0, PROC_CPU, 100 * us); // tracking created; first time stamp of the page
    d.onMigration(0, P0, PROC_GPU, 200 * us); // event 1
    d.onMigration(0, P0, PROC_CPU, 300 * us); // event 2
    expect(d.stats.detected).toBe(0);
    expect(d.thrashingMask(0)).toBeNull();
    d.onMigration(0, P0, PROC_GPU, 400 * us); // event 3
    expect(d.stats.detected).toBe(1);
    expect(d.thrashingMask(0)?.[0]).toBe(1);
  });

  it('a GPU alone, evicting and faulting again, never thrashes (evictions are not events)', () => {
    const d = new ThrashingDetector(DEFAULTS, 2);
    for (let i = 0; i < 10; i++) d.onMigration(0, P0, PROC_GPU, i * 10 * us);
    expect(d.tracked(0)).toBe(false);
    const r = runWorkload(generatorWorkload('stream', 24 * 1024 * 1024, { iterations: 3 }), { oversub: 1.5 });
    expect(r.counters.evictions).toBeGreaterThan(0);
    expect(r.counters.thrashingDetected).toBe(0);
  });

  it('a migration more than a lapse after the last one resets a thrashing page', () => {
    const d = thrashing();
    d.onMigration(0, P0, PROC_CPU, 1000 * us);
    expect(d.thrashingMask(0)).toBeNull();
  });

  it('a hint (cudaMemPrefetchAsync) resets the region', () => {
    const d = thrashing();
    d.onUserMigration(0, P0);
    expect(d.thrashingMask(0)).toBeNull();
  });
});

describe('thrashing prevention (uvm_perf_thrashing_get_hint)', () => {
  it('opens a throttling period sparing the first requester and throttles the other processor', () => {
    const d = thrashing();
    // The GPU asks first: a period starts (end = now + nap), the GPU is spared, nothing to do.
    expect(d.hint(0, 0, PROC_GPU, PROC_CPU, 450 * us)).toBe(HINT_NONE);
    expect(d.throttleEnd(0, 0)).toBe(950 * us);
    // The CPU is throttled until the period ends, each time it asks.
    expect(d.hint(0, 0, PROC_CPU, PROC_GPU, 500 * us)).toBe(HINT_THROTTLE);
    expect(d.hint(0, 0, PROC_CPU, PROC_GPU, 600 * us)).toBe(HINT_THROTTLE);
    expect(d.stats.throttles).toBe(2);
    // After the period, more than a lapse after the last migration: no longer thrashing.
    expect(d.hint(0, 0, PROC_CPU, PROC_GPU, 1000 * us)).toBe(HINT_NONE);
  });

  it('pins after pinThreshold throttles: the spared CPU pins the page in CPU memory', () => {
    const d = thrashing({ ...DEFAULTS, pinThreshold: 1 });
    expect(d.hint(0, 0, PROC_GPU, PROC_CPU, 450 * us)).toBe(HINT_NONE); // GPU spared
    expect(d.hint(0, 0, PROC_CPU, PROC_GPU, 500 * us)).toBe(HINT_THROTTLE); // throttling count 1
    d.onMigration(0, P0, PROC_GPU, 900 * us); // the GPU's fault migrated it again
    // Next period: the CPU is spared (the spared processor alternates) and has been throttled
    // pinThreshold times, so it pins the page where it is: CPU memory.
    expect(d.hint(0, 0, PROC_CPU, PROC_GPU, 1000 * us)).toBe(HINT_PIN);
    expect(d.pinResidency).toBe(PROC_CPU);
    expect(d.isPinned(0, 0)).toBe(true);
    expect(d.stats.pins).toBe(1);
    // The GPU, not spared, can map CPU memory: the pin holds (it maps the page remotely).
    expect(d.hint(0, 0, PROC_GPU, PROC_CPU, 1100 * us)).toBe(HINT_PIN);
    expect(d.pinResidency).toBe(PROC_CPU);
  });

  it('is off for the drivers without it', () => {
    const d = new ThrashingDetector({ ...DEFAULTS, enable: false }, 2);
    d.onMigration(0, P0, PROC_GPU, 0);
    d.onMigration(0, P0, PROC_CPU, 100 * us);
    expect(d.tracked(0)).toBe(false);
  });
});

describe('thrashing in runs', () => {
  /** A kernel touching 64 pages, then the CPU writing them back, `reps` times: CPU–GPU ping-pong. */
  const pingPong = (reps: number): WorkloadSpec => ({
    name: 'ping-pong',
    platform: 'pascal-pcie3',
    allocations: [{ name: 'x', size: 256 * 1024, init: 'cpu' }],
    steps: [
      {
        repeat: reps,
        steps: [
          { kernel: 'k', gen: 'block-stream', arrays: ['x'], args: { chunkPages: 1, blocksPerSm: 1 } },
          { cpu: 'write', array: 'x', threads: 1 },
        ],
      },
    ],
  });

  it('nvidia-uvm detects CPU-GPU ping-pong, throttles, and after enough throttles pins', () => {
    const short = runWorkload(pingPong(30), { policy: 'nvidia-uvm' });
    expect(short.counters.thrashingDetected).toBeGreaterThan(0);
    expect(short.counters.throttles).toBeGreaterThan(0);
    expect(short.breakdownNs.throttle).toBeGreaterThan(0);
    const long = runWorkload(pingPong(120), { policy: 'nvidia-uvm' });
    expect(long.counters.pins).toBeGreaterThan(0);
    // Pinned pages stay in CPU memory, mapped by the GPU: fewer bytes move per repetition.
    expect(long.counters.bytesH2D / 120).toBeLessThan(short.counters.bytesH2D / 30);
  });

  it('UVM Smart and the HMM drivers have no thrashing detection', () => {
    for (const policy of ['uvmsmart-ondemand', 'xe-gpusvm']) {
      const r = runWorkload(pingPong(30), { policy });
      expect([r.counters.thrashingDetected, r.counters.throttles, r.counters.pins]).toEqual([0, 0, 0]);
    }
  });
});
