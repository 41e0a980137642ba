/**
 * hmm_range_fault at the VMA level (docs/hmm-range-fault.md#vma-level): gaps without a VMA, the per-VMA test (unreadable,
 * VM_IO, VM_PFNMAP), holes of missing page tables inside a VMA, and the -EPERM write check of
 * §3.4 step 2.
 */
import { describe, expect, it } from 'vitest';
import {
  EFAULT,
  EPERM,
  HMM_PFN_ERROR,
  HMM_PFN_REQ_FAULT,
  HMM_PFN_REQ_WRITE,
  HMM_PFN_VALID,
  HMM_PFN_WRITE,
  MAP_FIXED,
  MAP_SHARED,
  PMD_SIZE,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
  ZERO_PFN,
} from '../../../src/index.ts';
import { MM_ANONPAGES, VM_IO, VM_PFNMAP } from '../../../src/mm/constants.ts';
import { PTE_DEVICE_PRIVATE_WRITE, PTE_PRESENT, PTE_SPECIAL, PTE_YOUNG } from '../../../src/mm/pte.ts';
import {
  addFakeDevicePrivate,
  BASE,
  callRangeFault,
  type Env,
  entryOf,
  faultsFrom,
  mapAnon,
  mustEntry,
  P,
  repeat,
  setEntry,
  setupEnv,
  touch,
  words,
} from './helpers.ts';

const FAULT = HMM_PFN_REQ_FAULT;
const FAULT_WRITE = HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE;
const NOISE = HMM_PFN_VALID | HMM_PFN_WRITE | (5n << 53n) | 0xabcden;

describe('§3.3 hole without a VMA (§8.5)', () => {
  it('no request: ERROR for every page', async () => {
    const env = await setupEnv();
    const c = await callRangeFault(env, BASE, 4, { input: repeat(NOISE, 4) });
    expect(c.ret).toBe(0);
    expect(words(c.pfns)).toEqual(repeat(HMM_PFN_ERROR, 4));
  });

  it('REQ_FAULT on one page of the gap: -EFAULT, nothing faulted, words untouched', async () => {
    const env = await setupEnv();
    const c = await callRangeFault(env, BASE, 4, { pfnFlagsMask: FAULT, input: [0n, 0n, FAULT, 3n] });
    expect(c.ret).toBe(-EFAULT);
    expect(words(c.pfns)).toEqual([0n, 0n, FAULT, 3n]);
    expect(c.faults).toEqual([]);
  });

  it('a gap between two VMAs: VMA pages described, gap ERROR, and a gap request fails only when reached', async () => {
    const env = await setupEnv();
    await mapAnon(env, BASE, 2 * P);
    await mapAnon(env, BASE + 4 * P, 2 * P);
    await touch(env, BASE, 2);
    const pfn0 = mustEntry(env, BASE).hi;
    const pfn1 = mustEntry(env, BASE + P).hi;
    const c = await callRangeFault(env, BASE, 6, {});
    expect(c.ret).toBe(0);
    expect(words(c.pfns)).toEqual([
      BigInt(pfn0) | HMM_PFN_VALID | HMM_PFN_WRITE,
      BigInt(pfn1) | HMM_PFN_VALID | HMM_PFN_WRITE,
      HMM_PFN_ERROR,
      HMM_PFN_ERROR,
      0n,
      0n,
    ]);
    const f = await callRangeFault(env, BASE, 6, { defaultFlags: FAULT });
    expect(f.ret).toBe(-EFAULT);
    // Entries below the failing gap are outputs, the gap and after still inputs (§3.1).
    expect(words(f.pfns)).toEqual([
      BigInt(pfn0) | HMM_PFN_VALID | HMM_PFN_WRITE,
      BigInt(pfn1) | HMM_PFN_VALID | HMM_PFN_WRITE,
      0n,
      0n,
      0n,
      0n,
    ]);
    expect(f.faults).toEqual([]);
  });
});

describe('§3.3 per-VMA test: unreadable VMA', () => {
  it('PROT_NONE VMA, no request: ERROR', async () => {
    const env = await setupEnv();
    await mapAnon(env, BASE, 4 * P, PROT_NONE);
    const c = await callRangeFault(env, BASE, 4, { input: repeat(NOISE, 4) });
    expect(c.ret).toBe(0);
    expect(words(c.pfns)).toEqual(repeat(HMM_PFN_ERROR, 4));
  });

  it('PROT_NONE VMA, REQ_FAULT: -EFAULT, nothing faulted', async () => {
    const env = await setupEnv();
    await mapAnon(env, BASE, 4 * P, PROT_NONE);
    const c = await callRangeFault(env, BASE, 4, { defaultFlags: FAULT });
    expect(c.ret).toBe(-EFAULT);
    expect(c.faults).toEqual([]);
  });

  it('populated pages made PROT_NONE are hidden behind the VMA test: ERROR, not their pfns', async () => {
    const env = await setupEnv();
    await mapAnon(env, BASE, 4 * P);
    await touch(env, BASE, 4);
    expect(await env.proc.mprotect(BASE, 4 * P, PROT_NONE)).toBe(0);
    const c = await callRangeFault(env, BASE, 4, {});
    expect(c.ret).toBe(0);
    expect(words(c.pfns)).toEqual(repeat(HMM_PFN_ERROR, 4));
  });

  it('PROT_WRITE without PROT_READ: no VM_READ → treated as inaccessible (ERROR / -EFAULT)', async () => {
    const env = await setupEnv();
    await mapAnon(env, BASE, 2 * P, PROT_WRITE);
    const snap = await callRangeFault(env, BASE, 2, {});
    expect(snap.ret).toBe(0);
    expect(words(snap.pfns)).toEqual(repeat(HMM_PFN_ERROR, 2));
    const req = await callRangeFault(env, BASE, 2, { defaultFlags: FAULT_WRITE });
    expect(req.ret).toBe(-EFAULT);
    expect(req.faults).toEqual([]);
  });
});

describe('§3.3 per-VMA test: VM_IO / VM_PFNMAP', () => {
  for (const [name, flag] of [
    ['VM_IO', VM_IO],
    ['VM_PFNMAP', VM_PFNMAP],
  ] as const) {
    /** A device mapping with `flag` whose first page maps a raw pfn. */
    async function deviceEnv(): Promise<Env> {
      const env = await setupEnv();
      const fd = env.proc.openDevice({
        name: 'io',
        mmap(vma) {
          vma.flags |= flag;
          return 0;
        },
      });
      expect(await env.proc.mmap(BASE, 4 * P, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0)).toBe(
        BASE,
      );
      setEntry(env, BASE, PTE_PRESENT | PTE_SPECIAL | PTE_YOUNG, 0x10_0000);
      return env;
    }

    it(`${name}, no request: ERROR for every page, mapped or not`, async () => {
      const env = await deviceEnv();
      const c = await callRangeFault(env, BASE, 4, { input: repeat(NOISE, 4) });
      expect(c.ret).toBe(0);
      expect(words(c.pfns)).toEqual(repeat(HMM_PFN_ERROR, 4));
    });

    it(`${name}, REQ_FAULT: -EFAULT, nothing faulted`, async () => {
      const env = await deviceEnv();
      const c = await callRangeFault(env, BASE, 4, { defaultFlags: FAULT });
      expect(c.ret).toBe(-EFAULT);
      expect(c.faults).toEqual([]);
    });
  }
});

describe('§3.3 hole inside a VMA (missing page tables)', () => {
  it('no request: 0 for every page, no table allocated', async () => {
    const env = await setupEnv();
    await mapAnon(env, BASE, 8 * P);
    const c = await callRangeFault(env, BASE, 8, { input: repeat(NOISE, 8) });
    expect(c.ret).toBe(0);
    expect(words(c.pfns)).toEqual(repeat(0n, 8));
    expect(entryOf(env, BASE, 1)).toBeNull();
  });

  it('a request on the last page faults the whole hole (clipped to range and VMA)', async () => {
    const env = await setupEnv();
    await mapAnon(env, BASE, 8 * P);
    const input = repeat(0n, 6);
    input[5] = FAULT;
    const c = await callRangeFault(env, BASE + P, 6, { pfnFlagsMask: FAULT_WRITE, input });
    expect(c.ret).toBe(0);
    expect(c.faults).toEqual(faultsFrom(BASE + P, 6, false));
    expect(words(c.pfns)).toEqual(repeat(BigInt(ZERO_PFN) | HMM_PFN_VALID, 6));
    expect(entryOf(env, BASE, 1)?.kind).toBe(0);
    expect(entryOf(env, BASE + 7 * P, 1)?.kind).toBe(0);
  });

  it('a hole spanning two VMAs is faulted per VMA, each clipped to its VMA', async () => {
    const env = await setupEnv();
    await mapAnon(env, BASE, 2 * P);
    await mapAnon(env, BASE + 2 * P, 2 * P, PROT_READ | PROT_WRITE);
    // Different flags keep the two VMAs apart: the second one is read-only.
    expect(await env.proc.mprotect(BASE + 2 * P, 2 * P, PROT_READ)).toBe(0);
    const c = await callRangeFault(env, BASE, 4, { defaultFlags: FAULT });
    expect(c.ret).toBe(0);
    expect(c.faults).toEqual(faultsFrom(BASE, 4, false));
    expect(words(c.pfns)).toEqual(repeat(BigInt(ZERO_PFN) | HMM_PFN_VALID, 4));
  });

  it('holes are taken at the highest missing level: with no table at all, one hole spans the PMD boundary', async () => {
    const env = await setupEnv();
    await mapAnon(env, BASE, 2 * PMD_SIZE);
    const start = BASE + PMD_SIZE - 2 * P;
    const c = await callRangeFault(env, start, 4, { pfnFlagsMask: FAULT, input: [0n, 0n, 0n, FAULT] });
    expect(c.ret).toBe(0);
    expect(c.faults).toEqual(faultsFrom(start, 4, false));
    expect(words(c.pfns)).toEqual(repeat(BigInt(ZERO_PFN) | HMM_PFN_VALID, 4));
  });

  it('a missing PTE table next to an existing one: only the missing table is a hole', async () => {
    const env = await setupEnv();
    await mapAnon(env, BASE, 2 * PMD_SIZE);
    await touch(env, BASE, 1); // PMD 0 gets a PTE table, PMD 1 stays none
    const start = BASE + PMD_SIZE - 2 * P;
    const c = await callRangeFault(env, start, 4, { pfnFlagsMask: FAULT, input: [0n, 0n, 0n, FAULT] });
    expect(c.ret).toBe(0);
    // The request is in PMD 1's hole: both of its pages are faulted, PMD 0's none PTEs are not.
    expect(c.faults).toEqual(faultsFrom(BASE + PMD_SIZE, 2, false));
    expect(words(c.pfns)).toEqual([
      0n,
      0n,
      BigInt(ZERO_PFN) | HMM_PFN_VALID,
      BigInt(ZERO_PFN) | HMM_PFN_VALID,
    ]);
  });
});

describe('§3.4 step 2 / §8.17: -EPERM when a write fault is needed on a VMA without VM_WRITE', () => {
  it('PROT_READ VMA with empty tables, REQ_WRITE: -EPERM, nothing faulted, rss unchanged', async () => {
    const env = await setupEnv();
    await mapAnon(env, BASE, 4 * P, PROT_READ);
    const c = await callRangeFault(env, BASE, 4, { defaultFlags: FAULT_WRITE, input: [1n, 2n, 3n, 4n] });
    expect(c.ret).toBe(-EPERM);
    expect(c.faults).toEqual([]);
    expect(env.mm.rss[MM_ANONPAGES]).toBe(0);
    expect(words(c.pfns)).toEqual([1n, 2n, 3n, 4n]);
    expect(entryOf(env, BASE, 1)).toBeNull();
  });

  it('populated page then mprotect(PROT_READ), one page asks for write: -EPERM, pages untouched', async () => {
    const env = await setupEnv();
    await mapAnon(env, BASE, 4 * P);
    await touch(env, BASE, 4);
    expect(await env.proc.mprotect(BASE, 4 * P, PROT_READ)).toBe(0);
    const pfns = [0, 1, 2, 3].map((i) => mustEntry(env, BASE + i * P).hi);
    const c = await callRangeFault(env, BASE, 4, {
      defaultFlags: FAULT,
      pfnFlagsMask: HMM_PFN_REQ_WRITE,
      input: [0n, 0n, HMM_PFN_REQ_WRITE, 0n],
    });
    expect(c.ret).toBe(-EPERM);
    expect(c.faults).toEqual([]);
    expect(env.mm.rss[MM_ANONPAGES]).toBe(4);
    expect([0, 1, 2, 3].map((i) => mustEntry(env, BASE + i * P).hi)).toEqual(pfns);
    // Pages before the one that needed the write fault were described.
    expect(words(c.pfns).slice(0, 2)).toEqual([
      BigInt(pfns[0]!) | HMM_PFN_VALID,
      BigInt(pfns[1]!) | HMM_PFN_VALID,
    ]);
  });

  it('the same VMA with a read request faults fine (zero pages)', async () => {
    const env = await setupEnv();
    await mapAnon(env, BASE, 2 * P, PROT_READ);
    const c = await callRangeFault(env, BASE, 2, { defaultFlags: FAULT });
    expect(c.ret).toBe(0);
    expect(words(c.pfns)).toEqual(repeat(BigInt(ZERO_PFN) | HMM_PFN_VALID, 2));
    expect(env.mm.rss[MM_ANONPAGES]).toBe(0);
  });
});

describe('§8 reference expectations from the selftests (seven pages, snapshot with dev_private_owner = device 0)', () => {
  it('PROT_NONE, hole, zero page, written then PROT_READ, written, device 0, device 1 → ERROR, ERROR, zero|V, p|V, p|V|W, d0|V|W, 0', async () => {
    const env = await setupEnv();
    const dev0 = { name: 'device 0' };
    const dev1 = { name: 'device 1' };
    const pg0 = addFakeDevicePrivate(env, dev0);
    const pg1 = addFakeDevicePrivate(env, dev1);
    await mapAnon(env, BASE, 7 * P);
    expect(await env.proc.munmap(BASE + P, P)).toBe(0);
    expect(await env.proc.mprotect(BASE, P, PROT_NONE)).toBe(0);
    await touch(env, BASE + 3 * P, 2);
    await env.proc.read(BASE + 2 * P, 1);
    expect(await env.proc.mprotect(BASE + 2 * P, 2 * P, PROT_READ)).toBe(0);
    setEntry(env, BASE + 5 * P, PTE_DEVICE_PRIVATE_WRITE, pg0.first);
    setEntry(env, BASE + 6 * P, PTE_DEVICE_PRIVATE_WRITE, pg1.first);
    const c = await callRangeFault(env, BASE, 7, { devPrivateOwner: dev0 });
    expect(c.ret).toBe(0);
    expect(words(c.pfns)).toEqual([
      HMM_PFN_ERROR,
      HMM_PFN_ERROR,
      BigInt(ZERO_PFN) | HMM_PFN_VALID,
      BigInt(mustEntry(env, BASE + 3 * P).hi) | HMM_PFN_VALID,
      BigInt(mustEntry(env, BASE + 4 * P).hi) | HMM_PFN_VALID | HMM_PFN_WRITE,
      BigInt(pg0.first) | HMM_PFN_VALID | HMM_PFN_WRITE,
      0n,
    ]);
  });
});
