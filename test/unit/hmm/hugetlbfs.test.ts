/** hmm_range_fault over mappings of a hugetlbfs memfd: order-9 words, the page cache folio, the private copy. */
import { describe, expect, it } from 'vitest';
import {
  EBUSY,
  HMM_PFN_REQ_FAULT,
  HMM_PFN_REQ_WRITE,
  HMM_PFN_VALID,
  HMM_PFN_WRITE,
  MAP_FIXED,
  MAP_PRIVATE,
  MAP_SHARED,
  MFD_HUGETLB,
  PMD_SIZE,
  PROT_READ,
  PROT_WRITE,
} from '../../../src/index.ts';
import { callRangeFault, consecutive, mustEntry, ORDER_PMD, P, setupEnv, words } from './helpers.ts';

const RW = PROT_READ | PROT_WRITE;
const S = 0x4000_0000;
const V = S + PMD_SIZE;

describe('hugetlbfs memfd', () => {
  it('shared: the page cache folio, writable, order 9; private: the same folio read-only, a copy for a write', async () => {
    const env = await setupEnv({ hugetlbPages: 2 });
    const p = env.proc;
    const fd = await p.memfdCreate(MFD_HUGETLB);
    expect(await p.fallocate(fd, 0, 0, PMD_SIZE)).toBe(0);
    expect(await p.mmap(S, PMD_SIZE, RW, MAP_SHARED | MAP_FIXED, fd, 0)).toBe(S);
    expect(await p.mmap(V, PMD_SIZE, RW, MAP_PRIVATE | MAP_FIXED, fd, 0)).toBe(V);
    // A read fault in the shared writable mapping maps the folio writable (make_huge_pte, VM_SHARED).
    const s = await callRangeFault(env, S + 3 * P, 2, { defaultFlags: HMM_PFN_REQ_FAULT });
    expect(s.ret).toBe(0);
    const head = mustEntry(env, S, 2).hi;
    expect(words(s.pfns)).toEqual(consecutive(head + 3, HMM_PFN_VALID | HMM_PFN_WRITE | ORDER_PMD, 2));
    // The private mapping maps the same folio read-only.
    const r = await callRangeFault(env, V + 3 * P, 2, { defaultFlags: HMM_PFN_REQ_FAULT });
    expect(r.ret).toBe(0);
    expect(words(r.pfns)).toEqual(consecutive(head + 3, HMM_PFN_VALID | ORDER_PMD, 2));
    // A write request copies it into an anonymous huge page (hugetlb_wp), announced as CLEAR over
    // the huge page: -EBUSY, and the retry finds the copy.
    const fault = { defaultFlags: HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE };
    expect((await callRangeFault(env, V + 3 * P, 2, fault)).ret).toBe(-EBUSY);
    const w = await callRangeFault(env, V + 3 * P, 2, fault);
    expect(w.ret).toBe(0);
    const copy = mustEntry(env, V, 2).hi;
    expect(copy).not.toBe(head);
    expect(words(w.pfns)).toEqual(consecutive(copy + 3, HMM_PFN_VALID | HMM_PFN_WRITE | ORDER_PMD, 2));
  });
});
