/**
 * examples/broken-driver.ts: the explorer finds nothing wrong with the hmm.rst driver and finds the
 * stale device mapping of the same driver without `mmu_interval_read_retry` (random, seed 1).
 */
import { describe, expect, it } from 'vitest';
import { populateVersusDontneed, runBrokenDriverExample } from '../../examples/broken-driver.ts';
import { replay } from '../../src/index.ts';

describe('examples/broken-driver.ts', () => {
  it('the correct driver survives 300 random schedules; the broken one is caught with a stale mapping', async () => {
    const { correct, broken } = await runBrokenDriverExample();
    expect(correct.failure).toBeNull();
    expect(correct.schedules).toBe(300);
    expect(broken.failure).not.toBeNull();
    const f = broken.failure!;
    expect(f.violation.oracle).toBe('scenario');
    expect(f.violation.message).toContain('a stale device mapping');
    expect(f.text).toContain('VIOLATION (scenario)');
    expect(f.shrunkLength).toBeLessThanOrEqual(f.originalLength);
    const again = await replay(populateVersusDontneed('no read_retry'), f.shrunkToken);
    expect(again.violation?.message).toContain('a stale device mapping');
    expect(again.account).toEqual(f.account);
  });
});
