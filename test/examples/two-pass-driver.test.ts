/** examples/two-pass-driver.ts: two-pass notifiers let devices invalidate their TLBs at once. */
import { describe, expect, it } from 'vitest';
import { runTwoPassExample, TLB_INVALIDATE_NS } from '../../examples/two-pass-driver.ts';

describe('examples/two-pass-driver', () => {
  it('with one pass the devices wait in turn; with two passes their invalidations overlap', async () => {
    const r = await runTwoPassExample(2);
    // One pass: gpu0 issues and waits, then gpu1 issues and waits.
    expect(r.onePassLog.map((l) => l.replace(/ of \[.*\)/, ''))).toEqual([
      'gpu0: TLB invalidation issued',
      'gpu0: TLB invalidation done',
      'gpu1: TLB invalidation issued',
      'gpu1: TLB invalidation done',
    ]);
    // Two passes: every first pass before any finish.
    expect(r.twoPassLog.map((l) => l.replace(/ of \[.*\)/, ''))).toEqual([
      'gpu0: TLB invalidation issued',
      'gpu1: TLB invalidation issued',
      'gpu0: TLB invalidation done',
      'gpu1: TLB invalidation done',
    ]);
    // The munmap costs nothing else on this machine's clock (kernel costs are zero by default),
    // so the times are the waits: two invalidations in a row, or two at once.
    expect(r.onePassNs).toBe(2 * TLB_INVALIDATE_NS);
    expect(r.twoPassNs).toBe(TLB_INVALIDATE_NS);
  });

  it('scales with the number of devices only in one-pass mode', async () => {
    const r = await runTwoPassExample(4);
    expect(r.onePassNs).toBe(4 * TLB_INVALIDATE_NS);
    expect(r.twoPassNs).toBe(TLB_INVALIDATE_NS);
  });
});
