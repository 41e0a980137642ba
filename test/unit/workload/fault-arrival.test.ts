/**
 * The measurements behind docs/workload.md's answer to "do V3's small batches come from fault
 * arrival?": how many faults one replay brings into the buffer, per SM, on the V3 settings
 * (titanv-pcie3, nvidia-uvm, prefetching off). uvm-eval's vector-add fault logs
 * (archive/benchmarksv3/abc/short_log_32_ts/abc_1, abc_3) timestamp one SM's faults 14.5 ns apart;
 * at that rate an SM's faults of a round are all written within its count × 14.5 ns.
 */
import { describe, expect, it } from 'vitest';
import type { RoundRecord } from '../../../src/workload/engine/observer.ts';
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
  it('stream: about 740 faults, at most 12 per SM (two blocks × 4 loads, 4 stores) — written within 0.18 µs', () => {
    const rs = rounds('stream', 64);
    expect(mean(rs, (r) => r.faults)).toBeCloseTo(736.8, 0);
    expect(mean(rs, (r) => r.maxPerSm)).toBeCloseTo(11.46, 1);
    const most = Math.max(...rs.map((r) => r.maxPerSm));
    expect(most).toBe(12);
    expect(most * FAULT_WRITE_NS).toBeLessThan(180);
  });

  it('gemm-tiles: about 1,000 faults, 28 per SM (a μTLB holds 56 for two SMs) — written within 0.41 µs', () => {
    const rs = rounds('gemm-tiles', 48);
    expect(mean(rs, (r) => r.faults)).toBeCloseTo(1017.2, 0);
    const most = Math.max(...rs.map((r) => r.maxPerSm));
    expect(most).toBe(28);
    expect(most * FAULT_WRITE_NS).toBeLessThan(410);
  });

  it('random-page: every steady round raises more than a batch (256), at most 42 per SM', () => {
    const rs = rounds('random-page', 64);
    // All but the kernel's last rounds, which drain.
    const steady = rs.slice(0, Math.floor(rs.length * 0.8));
    expect(Math.min(...steady.map((r) => r.faults))).toBeGreaterThan(256);
    expect(Math.max(...rs.map((r) => r.maxPerSm))).toBe(42);
  });
});
