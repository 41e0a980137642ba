/**
 * Thread-block dispatch (docs/workload.md, "GPU side"): the GPU's block scheduler hands the next
 * block, in index order, to an SM slot as soon as the block in it completes (CUDA C++ Programming
 * Guide, Hardware Implementation); `blockDispatch=static` keeps block b on SM b mod sms. Each
 * block is one stream with its own scoreboard.
 */
import { describe, expect, it } from 'vitest';
import { findPlatform } from '../../../src/workload/cost/platform.ts';
import { Engine } from '../../../src/workload/engine/engine.ts';
import type { FaultRecord } from '../../../src/workload/engine/observer.ts';
import { ACC_DEP, ACC_WRITE, BlockTraceBuilder } from '../../../src/workload/generators/trace.ts';
import { withParam } from '../../../src/workload/params.ts';
import { findPolicy } from '../../../src/workload/policy/presets.ts';
import { FastBackend } from '../../../src/workload/residency/fast-backend.ts';

function engine(sms: number, dispatch: 'dynamic' | 'static') {
  let platform = withParam(findPlatform('pascal-pcie3')!.params, 'sms', sms, 'test');
  platform = withParam(platform, 'blockDispatch', dispatch, 'test');
  const policy = withParam(findPolicy('nvidia-uvm')!.params, 'prefetchEnable', 0, 'test');
  const faults: FaultRecord[] = [];
  const e = new Engine({
    platform,
    policy,
    capacityPages: 1 << 20,
    backend: new FastBackend(4 * 512),
    seed: 1,
    observer: { onFault: (f) => faults.push(f) },
  });
  return { e, faults };
}

/** Blocks given as lists of [page, flags]. */
function trace(sms: number, blocksPerSm: number, blocks: [number, number][][]) {
  const t = new BlockTraceBuilder('k', sms, blocksPerSm);
  for (const b of blocks) {
    t.block();
    for (const [p, f] of b) t.push(p, f);
  }
  return t.build();
}

// Block 0 faults once; block 1 is a chain of three dependent loads (three replays); blocks 2 and
// 3 fault once each. Two SMs, one slot each.
const BLOCKS: [number, number][][] = [
  [[10, 0]],
  [
    [20, 0],
    [21, ACC_DEP],
    [22, ACC_DEP],
  ],
  [[30, 0]],
  [[40, 0]],
];

describe('block dispatch', () => {
  it('dynamic: the SM whose block completes first takes the next blocks, in index order', () => {
    const { e, faults } = engine(2, 'dynamic');
    e.runKernel(trace(2, 1, BLOCKS));
    const by = new Map(faults.map((f) => [f.addr / 4096, f]));
    // Block 0 completes after the first replay: SM 0 takes block 2, then block 3, while SM 1
    // still runs block 1.
    expect(by.get(30)!.sm).toBe(0);
    expect(by.get(40)!.sm).toBe(0);
    expect(by.get(40)!.batch).toBe(by.get(22)!.batch);
    expect(e.counters.faults).toBe(6);
  });

  it('static: block b runs on SM b mod sms, so block 3 waits for block 1', () => {
    const { e, faults } = engine(2, 'static');
    e.runKernel(trace(2, 1, BLOCKS));
    const by = new Map(faults.map((f) => [f.addr / 4096, f]));
    expect(by.get(30)!.sm).toBe(0);
    expect(by.get(40)!.sm).toBe(1);
    expect(by.get(40)!.batch).toBeGreaterThan(by.get(22)!.batch);
  });

  it("a block's dependent access waits for its own loads only, not for another resident block's", () => {
    // One SM, two slots: block 1's store depends on nothing of its own and faults in the first
    // round although block 0's loads are outstanding.
    const { e, faults } = engine(1, 'dynamic');
    e.runKernel(
      trace(1, 2, [
        [
          [10, 0],
          [11, 0],
        ],
        [[20, ACC_WRITE | ACC_DEP]],
      ]),
    );
    expect(faults.filter((f) => f.batch === 0).map((f) => f.addr / 4096)).toEqual([10, 20, 11]);
  });

  it('a block that reads a page another block of its SM faulted on waits for that fault', () => {
    // Block 1 reads page 10 (block 0's fault: no new fault), then stores to 30, which depends on it.
    const { e, faults } = engine(1, 'dynamic');
    e.runKernel(
      trace(1, 2, [
        [[10, 0]],
        [
          [10, 0],
          [30, ACC_WRITE | ACC_DEP],
        ],
      ]),
    );
    expect(faults.map((f) => [f.batch, f.addr / 4096])).toEqual([
      [0, 10],
      [1, 30],
    ]);
  });

  it('a block completes only when its outstanding stores are resolved', () => {
    // Block 0 stores to 10 and ends; the slot is not free before the store's fault is serviced,
    // so block 1 (on the same single slot) faults in the next batch.
    const { e, faults } = engine(1, 'dynamic');
    e.runKernel(trace(1, 1, [[[10, ACC_WRITE]], [[20, 0]]]));
    expect(faults.map((f) => [f.batch, f.addr / 4096])).toEqual([
      [0, 10],
      [1, 20],
    ]);
  });
});
