/**
 * hmm_range_fault on hugetlb mappings (docs/hmm-range-fault.md#pud-level-and-hugetlb): order-9 words, the
 * first-page-request quirk, and non-present huge entries reported as pfn bits with the order
 * but without VALID.
 */
import { describe, expect, it } from 'vitest';
import {
  EPERM,
  HMM_PFN_REQ_FAULT,
  HMM_PFN_REQ_WRITE,
  HMM_PFN_VALID,
  HMM_PFN_WRITE,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_HUGETLB,
  MAP_PRIVATE,
  PMD_SIZE,
  PROT_READ,
  PROT_WRITE,
} from '../../../src/index.ts';
import {
  BASE,
  callRangeFault,
  consecutive,
  type Env,
  faultsFrom,
  hugeLeafHead,
  mustEntry,
  ORDER_PMD,
  P,
  PMD_PAGES,
  readPages,
  repeat,
  setupEnv,
  touch,
  words,
} from './helpers.ts';

const FAULT = HMM_PFN_REQ_FAULT;
const FAULT_WRITE = HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE;
const NOISE = HMM_PFN_VALID | HMM_PFN_WRITE | (5n << 53n) | 0xabcden;
/** Second huge page of the mapping. */
const H2 = BASE + PMD_SIZE;

/** A machine with two huge pages and a 4 MiB private hugetlb mapping at BASE. */
async function hugetlbEnv(): Promise<Env> {
  const env = await setupEnv({ hugetlbPages: 2 });
  const r = await env.proc.mmap(
    BASE,
    2 * PMD_SIZE,
    PROT_READ | PROT_WRITE,
    MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_FIXED,
    -1,
    0,
  );
  expect(r).toBe(BASE);
  return env;
}

/** The head pfn of the huge page mapped at `addr` (fails if none). */
function hugeHead(env: Env, addr: number, writable: boolean): number {
  return hugeLeafHead(env, addr, 2, writable);
}

describe('§3.5 hugetlb: present huge entries are order-9 words', () => {
  it('written huge page, no request: head+i | VALID | WRITE | order 9 over all 512 pages', async () => {
    const env = await hugetlbEnv();
    await touch(env, BASE, 1);
    const head = hugeHead(env, BASE, true);
    const c = await callRangeFault(env, BASE, PMD_PAGES, { input: repeat(NOISE, PMD_PAGES) });
    expect(c.ret).toBe(0);
    expect(words(c.pfns)).toEqual(consecutive(head, HMM_PFN_VALID | HMM_PFN_WRITE | ORDER_PMD, PMD_PAGES));
    expect(c.faults).toEqual([]);
  });

  it('after mprotect(PROT_READ): head+i | VALID | order 9; a write request is -EPERM', async () => {
    const env = await hugetlbEnv();
    await touch(env, BASE, 1);
    const head = hugeHead(env, BASE, true);
    expect(await env.proc.mprotect(BASE, 2 * PMD_SIZE, PROT_READ)).toBe(0);
    const c = await callRangeFault(env, BASE + 7 * P, 4, { defaultFlags: FAULT });
    expect(c.ret).toBe(0);
    expect(words(c.pfns)).toEqual(consecutive(head + 7, HMM_PFN_VALID | ORDER_PMD, 4));
    const w = await callRangeFault(env, BASE + 7 * P, 4, { defaultFlags: FAULT_WRITE });
    expect(w.ret).toBe(-EPERM);
    expect(w.faults).toEqual([]);
  });

  it('a range clipped inside the huge page: pfn offset from the address, unit clipped to the range', async () => {
    const env = await hugetlbEnv();
    await touch(env, BASE, 1);
    const head = hugeHead(env, BASE, true);
    const c = await callRangeFault(env, BASE + 510 * P, 4, {});
    expect(c.ret).toBe(0);
    // The last two pages of huge page 1, then huge page 2 (whose PMD entry is none: see below).
    expect(words(c.pfns)).toEqual([
      BigInt(head + 510) | HMM_PFN_VALID | HMM_PFN_WRITE | ORDER_PMD,
      BigInt(head + 511) | HMM_PFN_VALID | HMM_PFN_WRITE | ORDER_PMD,
      0n | ORDER_PMD,
      1n | ORDER_PMD,
    ]);
  });
});

describe('§3.5 hugetlb: non-present huge entry → pfn bits with the order, without VALID', () => {
  it('no request: a none huge PTE under an existing table gives (offset | order 9)', async () => {
    const env = await hugetlbEnv();
    await touch(env, BASE, 1); // the PMD table now exists; the second huge PTE is none
    expect(mustEntry(env, H2, 2).kind).toBe(0);
    const c = await callRangeFault(env, H2 + 3 * P, 3, { input: repeat(NOISE, 3) });
    expect(c.ret).toBe(0);
    expect(words(c.pfns)).toEqual(consecutive(3, ORDER_PMD, 3));
    expect(c.faults).toEqual([]);
  });

  it('REQ_FAULT: the unit is faulted (a huge page allocated) → head+i | VALID | order 9', async () => {
    const env = await hugetlbEnv();
    await touch(env, BASE, 1);
    const c = await callRangeFault(env, H2 + 3 * P, 3, { defaultFlags: FAULT });
    expect(c.ret).toBe(0);
    expect(c.faults).toEqual(faultsFrom(H2 + 3 * P, 3, false));
    const head = hugeHead(env, H2, false);
    expect(words(c.pfns)).toEqual(consecutive(head + 3, HMM_PFN_VALID | ORDER_PMD, 3));
  });

  it('no page table at all (nothing faulted yet): a hole → 0; REQ_FAULT faults the clipped hole', async () => {
    const env = await hugetlbEnv();
    const snap = await callRangeFault(env, BASE + 3 * P, 2, { input: repeat(NOISE, 2) });
    expect(snap.ret).toBe(0);
    expect(words(snap.pfns)).toEqual([0n, 0n]);
    const c = await callRangeFault(env, BASE + 3 * P, 2, { defaultFlags: FAULT });
    expect(c.ret).toBe(0);
    expect(c.faults).toEqual(faultsFrom(BASE + 3 * P, 2, false));
    const head = hugeHead(env, BASE, false);
    expect(words(c.pfns)).toEqual(consecutive(head + 3, HMM_PFN_VALID | ORDER_PMD, 2));
  });
});

describe('§3.5 hugetlb quirk: only the first page of the clipped unit is consulted', () => {
  it('a later page asks for write on a read-only huge page: nothing is faulted, 0 returned without WRITE', async () => {
    const env = await hugetlbEnv();
    await readPages(env, BASE, 1);
    const head = hugeHead(env, BASE, false);
    const c = await callRangeFault(env, BASE, 4, {
      pfnFlagsMask: FAULT_WRITE,
      input: [0n, FAULT_WRITE, 0n, FAULT_WRITE],
    });
    expect(c.ret).toBe(0);
    expect(c.faults).toEqual([]);
    expect(words(c.pfns)).toEqual(consecutive(head, HMM_PFN_VALID | ORDER_PMD, 4));
  });

  it('the same with the range starting mid-unit: the first page of the clipped unit decides', async () => {
    const env = await hugetlbEnv();
    await readPages(env, BASE, 1);
    const head = hugeHead(env, BASE, false);
    const c = await callRangeFault(env, BASE + 100 * P, 2, {
      pfnFlagsMask: FAULT_WRITE,
      input: [0n, FAULT_WRITE],
    });
    expect(c.ret).toBe(0);
    expect(c.faults).toEqual([]);
    expect(words(c.pfns)).toEqual(consecutive(head + 100, HMM_PFN_VALID | ORDER_PMD, 2));
  });

  it('the first page asks for write: the whole clipped unit is write-faulted → head+i | VALID | WRITE | order 9', async () => {
    const env = await hugetlbEnv();
    await readPages(env, BASE, 1);
    const head = hugeHead(env, BASE, false);
    const c = await callRangeFault(env, BASE, 4, {
      pfnFlagsMask: FAULT_WRITE,
      input: [FAULT_WRITE, 0n, 0n, 0n],
    });
    expect(c.ret).toBe(0);
    expect(c.faults).toEqual(faultsFrom(BASE, 4, true));
    expect(hugeHead(env, BASE, true)).toBe(head);
    expect(words(c.pfns)).toEqual(consecutive(head, HMM_PFN_VALID | HMM_PFN_WRITE | ORDER_PMD, 4));
  });

  it("on a none huge PTE a later page's request is ignored too: 0 returned, that page without VALID (§3.7 does not hold here)", async () => {
    const env = await hugetlbEnv();
    await touch(env, BASE, 1);
    const c = await callRangeFault(env, H2, 2, { pfnFlagsMask: FAULT, input: [0n, FAULT] });
    expect(c.ret).toBe(0);
    expect(c.faults).toEqual([]);
    expect(words(c.pfns)).toEqual(consecutive(0, ORDER_PMD, 2));
  });
});
