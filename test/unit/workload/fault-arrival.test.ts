/**
 * The measurements behind docs/workload.md's answer to "do V3's small batches come from fault
 * arrival?": how many faults one replay brings into the buffer, per SM, on the V3 settings
 * (titanv-pcie3, nvidia-uvm, prefetching off). uvm-eval's vector-add fault logs
 * (archive/benchmarksv3/abc/short_log_32_ts/abc_1, abc_3) timestamp one SM's faults 14.5 ns apart;
 * at that rate an SM's faults of a round are all written within its count × 14.5 ns. SMs write in
 * parallel, so in time order their faults interleave: first faults and faults a replay raises
 * again reach the buffer alike, the SMs taking turns one fault at a time.
 */
import { describe, expect, it } from 'vitest';
import type { FaultRecord, RoundRecord } from '../../../src/workload/engine/observer.ts';
import { generatorWorkload, runWorkload } from '../../../src/workload/engine/run.ts';

const FAULT_WRITE_NS = 14.5;

function rounds(gen: string, mib: number): RoundRecord[] {
  const out: RoundRecord[] = [];
  runWorkload(generatorWorkload(gen, mib * 2 ** 20, {}), {
    platform: 'titanv-pcie3',
    policy: 'nvidia-uvm',
    set: [['prefetchEnable', 0]],
    observer: { onRound: (r) => out.push(r) },
  });
  return out;
}
const mean = (rs: RoundRecord[], f: (r: RoundRecord) => number): number =>
  rs.reduce((s, r) => s + f(r), 0) / rs.length;

describe('faults per replay on the V3 settings', () => {
  // The counts changed when re-raised faults began to interleave across SMs: batches then take a
  // few faults of every SM instead of whole SMs, so the SMs advance together (stream 737 → 558
  // faults per replay, from 76 SMs on average) and a μTLB's 56 slots split evenly between its two
  // SMs (random-page 42 → 28 per SM at most). They changed again with per-block scoreboards and
  // dynamic block dispatch: a stream block's stores wait for its own loads only, and a block
  // completes and frees its slot as soon as its stores are serviced (stream 558 → 393, at most
  // 12 → 8 per SM; gemm-tiles 1,127 → 1,117).
  it('stream: about 390 faults, at most 8 per SM (two blocks × 4 loads) — written within 0.12 µs', () => {
    const rs = rounds('stream', 64);
    expect(mean(rs, (r) => r.faults)).toBeCloseTo(393.1, 0);
    expect(mean(rs, (r) => r.maxPerSm)).toBeCloseTo(7.5, 1);
    const most = Math.max(...rs.map((r) => r.maxPerSm));
    expect(most).toBe(8);
    expect(most * FAULT_WRITE_NS).toBeLessThan(120);
  });

  it('gemm-tiles: about 1,100 faults, 28 per SM (a μTLB holds 56 for two SMs) — written within 0.41 µs', () => {
    const rs = rounds('gemm-tiles', 48);
    expect(mean(rs, (r) => r.faults)).toBeCloseTo(1117.4, 0);
    const most = Math.max(...rs.map((r) => r.maxPerSm));
    expect(most).toBe(28);
    expect(most * FAULT_WRITE_NS).toBeLessThan(410);
  });

  it('random-page: every steady round raises more than a batch (256), at most 28 per SM', () => {
    const rs = rounds('random-page', 64);
    // All but the kernel's last rounds, which drain.
    const steady = rs.slice(0, Math.floor(rs.length * 0.8));
    expect(Math.min(...steady.map((r) => r.faults))).toBeGreaterThan(256);
    expect(Math.max(...rs.map((r) => r.maxPerSm))).toBe(28);
  });
});

describe('order of arrival', () => {
  /**
   * For each fetched fault, how many faults of its SM came before it in its batch. With SMs
   * taking turns one fault at a time this never decreases within a batch (each batch-flush batch
   * is the start of one round's faults); SM after SM it would restart at 0 for every SM.
   */
  function turnOrderBreaks(gen: string, mib: number): { batches: number; breaks: number } {
    const faults: FaultRecord[] = [];
    runWorkload(generatorWorkload(gen, mib * 2 ** 20, {}), {
      platform: 'titanv-pcie3',
      policy: 'nvidia-uvm',
      set: [['prefetchEnable', 0]],
      observer: { onFault: (f) => faults.push(f) },
    });
    let breaks = 0;
    let batch = -1;
    let seen = new Map<number, number>();
    let last = 0;
    const batches = new Set<number>();
    for (const f of faults) {
      if (f.batch !== batch) {
        batch = f.batch;
        seen = new Map();
        last = 0;
        batches.add(batch);
      }
      const k = seen.get(f.sm) ?? 0;
      seen.set(f.sm, k + 1);
      if (k < last) breaks++;
      last = k;
    }
    return { batches: batches.size, breaks };
  }

  it('faults a replay raises again interleave across SMs, like first faults (stream, random-page)', () => {
    for (const [gen, mib] of [
      ['stream', 16],
      ['random-page', 16],
    ] as const) {
      const r = turnOrderBreaks(gen, mib);
      expect(r.batches, gen).toBeGreaterThan(10);
      expect(r.breaks, gen).toBe(0);
    }
  });
});
