/**
 * hmm_range_fault on 1 GiB hugetlb pages (PUD leaves): hmm_vma_walk_hugetlb_entry reports
 * `huge_page_order(hstate_vma(vma))`, order 18, on every page of the gigantic page, and a fault
 * it asks for maps the whole GiB with one PUD leaf.
 */
import { describe, expect, it } from 'vitest';
import {
  HMM_PFN_REQ_FAULT,
  HMM_PFN_REQ_WRITE,
  HMM_PFN_VALID,
  HMM_PFN_WRITE,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_HUGETLB,
  MAP_PRIVATE,
  PROT_READ,
  PROT_WRITE,
} from '../../../src/index.ts';
import { MAP_HUGE_1GB, PUD_SIZE } from '../../../src/mm/constants.ts';
import {
  BASE,
  callRangeFault,
  consecutive,
  type Env,
  hugeLeafHead,
  ORDER_PUD,
  P,
  setupEnv,
  touch,
  words,
} from './helpers.ts';

/** A machine with one 1 GiB page and a 1 GiB private hugetlb mapping at BASE (1 GiB-aligned). */
async function gigantic(): Promise<Env> {
  const env = await setupEnv({ memory: 2 * PUD_SIZE, giganticPages: 1 });
  const flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_HUGE_1GB | MAP_FIXED;
  expect(await env.proc.mmap(BASE, PUD_SIZE, PROT_READ | PROT_WRITE, flags, -1, 0)).toBe(BASE);
  return env;
}

/** The head pfn of the gigantic page mapped at `addr` by a PUD leaf. */
function pudHead(env: Env, addr: number, writable: boolean): number {
  return hugeLeafHead(env, addr, 3, writable);
}

describe('hugetlb 1 GiB pages: order-18 words', () => {
  it('a written gigantic page, no request: head+i | VALID | WRITE | order 18, anywhere in the GiB', async () => {
    const env = await gigantic();
    await touch(env, BASE, 1);
    const head = pudHead(env, BASE, true);
    const at = 0x2345_6000 / P;
    const c = await callRangeFault(env, BASE + at * P, 8, {});
    expect(c.ret).toBe(0);
    expect(words(c.pfns)).toEqual(consecutive(head + at, HMM_PFN_VALID | HMM_PFN_WRITE | ORDER_PUD, 8));
    expect(c.faults).toEqual([]);
  });

  it('a write request on missing pages faults the whole GiB in with one PUD leaf', async () => {
    const env = await gigantic();
    const c = await callRangeFault(env, BASE + PUD_SIZE - 4 * P, 4, {
      defaultFlags: HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE,
    });
    expect(c.ret).toBe(0);
    // hmm_vma_fault faults each requested page; the first maps the GiB, the others find it.
    expect(c.faults).toEqual([0, 1, 2, 3].map((i) => ({ addr: BASE + PUD_SIZE - (4 - i) * P, write: true })));
    const head = pudHead(env, BASE, true);
    expect(words(c.pfns)).toEqual(
      consecutive(head + (PUD_SIZE / P - 4), HMM_PFN_VALID | HMM_PFN_WRITE | ORDER_PUD, 4),
    );
  });

  it('after mprotect(PROT_READ): VALID | order 18 without WRITE', async () => {
    const env = await gigantic();
    await touch(env, BASE, 1);
    const head = pudHead(env, BASE, true);
    expect(await env.proc.mprotect(BASE, PUD_SIZE, PROT_READ)).toBe(0);
    const c = await callRangeFault(env, BASE, 2, { defaultFlags: HMM_PFN_REQ_FAULT });
    expect(c.ret).toBe(0);
    expect(words(c.pfns)).toEqual(consecutive(head, HMM_PFN_VALID | ORDER_PUD, 2));
  });
});
