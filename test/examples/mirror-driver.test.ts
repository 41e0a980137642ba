/** examples/mirror-driver.ts: the hmm.rst usage pattern does what the documentation promises. */
import { describe, expect, it } from 'vitest';
import { runMirrorDriverExample } from '../../examples/mirror-driver.ts';
import { EFAULT, EPERM, PAGE_SIZE } from '../../src/index.ts';

describe('examples/mirror-driver', () => {
  it('mirrors, invalidates, reports errors and never keeps a stale translation', async () => {
    const r = await runMirrorDriverExample();
    expect(r.pages).toBe(8);

    // driver_populate_range over the written mapping: every page mirrored, writable.
    expect(r.populateRet).toBe(0);
    expect(r.mirrored).toBe(8);
    expect(r.writable).toBe(8);
    // The device reads the CPU's data through its own page table.
    expect(r.deviceBytes).toEqual([0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7]);

    // munmap of pages 2-3 reaches the callback as one UNMAP of exactly that range.
    expect(r.munmapInvalidations).toEqual([
      { event: 'UNMAP', start: r.addr + 2 * PAGE_SIZE, end: r.addr + 4 * PAGE_SIZE },
    ]);
    expect(r.mirroredAfterMunmap).toBe(6);

    // hmm_range_fault's errors come back unchanged.
    expect(r.holeRet).toBe(-EFAULT);
    expect(r.readOnlyWriteRet).toBe(-EPERM);

    // The races: every populate succeeds, some had to go back to again:, none left a stale entry.
    expect(r.race.rets).toEqual(new Array(r.race.seeds).fill(0));
    expect(r.race.retries).toBeGreaterThan(0);
    expect(r.race.stale).toBe(0);

    // The same populate through hmm_range_fault_unlocked_timeout: every page writable.
    expect(r.unlockedRet).toBe(0);
    expect(r.unlockedWritable).toBe(4);
  });
});
