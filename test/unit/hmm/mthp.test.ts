/**
 * hmm_range_fault over a PTE-mapped multi-size THP: `hmm_vma_handle_pte` reports each page with
 * VALID (and WRITE) and no order; only PMD and PUD leaves carry HMM_PFN_ORDER (6.12 and mainline).
 */
import { describe, expect, it } from 'vitest';
import { HMM_PFN_REQ_FAULT, HMM_PFN_REQ_WRITE, HMM_PFN_VALID, HMM_PFN_WRITE } from '../../../src/index.ts';
import { BASE, callRangeFault, mapAnon, P, setupEnv, words } from './helpers.ts';

describe('hmm_range_fault on a PTE-mapped 64 kB folio', () => {
  it('a write fault request maps the folio; each page is reported as a small page, no order', async () => {
    const env = await setupEnv({ thp: 'never' });
    env.machine.thpSizes.set(64, 'always');
    await mapAnon(env, BASE, 16 * P);
    const c = await callRangeFault(env, BASE, 16, { defaultFlags: HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE });
    expect(c.ret).toBe(0);
    // hmm_vma_fault faults every page from the first to the end; the first maps the whole folio.
    expect(c.faults).toEqual(Array.from({ length: 16 }, (_, i) => ({ addr: BASE + i * P, write: true })));
    const head = Number(c.pfns[0]! & 0xfffffffffn);
    expect(env.machine.pm.order[head]).toBe(4);
    const want = Array.from({ length: 16 }, (_, i) => BigInt(head + i) | HMM_PFN_VALID | HMM_PFN_WRITE);
    expect(words(c.pfns)).toEqual(want);
  });
});
