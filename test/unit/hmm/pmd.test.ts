/**
 * hmm_range_fault, PMD and PUD levels: one test per row of the PMD table of docs/hmm-range-fault.md#pmd-level-hmm_vma_walk_pmd (and the PUD
 * paragraph), each without and with a fault request, asserting whole output words (order bits
 * included) or the exact errno.
 */
import { describe, expect, it } from 'vitest';
import {
  EBUSY,
  EFAULT,
  HMM_PFN_ERROR,
  HMM_PFN_REQ_FAULT,
  HMM_PFN_REQ_WRITE,
  HMM_PFN_VALID,
  HMM_PFN_WRITE,
  HUGE_ZERO_PFN,
  MMU_NOTIFY_CLEAR,
  PMD_SIZE,
  PUD_SIZE,
  ZERO_PFN,
} from '../../../src/index.ts';
import { MM_ANONPAGES } from '../../../src/mm/constants.ts';
import { trylockPage, unlockPage } from '../../../src/mm/page-lock.ts';
import {
  PTE_DEVICE_PRIVATE_READ,
  PTE_DEVICE_PRIVATE_WRITE,
  PTE_DIRTY,
  PTE_HWPOISON,
  PTE_LEAF,
  PTE_MIGRATION_WRITE,
  PTE_PRESENT,
  PTE_PROTNONE,
  PTE_SWAP,
  PTE_TABLE,
  PTE_WRITE,
  PTE_YOUNG,
} from '../../../src/mm/pte.ts';
import {
  addFakeDevicePrivate,
  BASE,
  callRangeFault,
  consecutive,
  type Env,
  faultsFrom,
  mapAnon,
  mustEntry,
  ORDER_PMD,
  ORDER_PUD,
  P,
  PMD_PAGES,
  readPages,
  repeat,
  setEntry,
  setupEnv,
  touch,
  words,
} from './helpers.ts';

const NOISE = HMM_PFN_VALID | HMM_PFN_WRITE | HMM_PFN_ERROR | (5n << 53n) | 0xabcden;
const FAULT = HMM_PFN_REQ_FAULT;
const FAULT_WRITE = HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE;
/** Three pages inside the 2 MiB unit at BASE, not at its start: pfn offsets must follow the address. */
const S = BASE + 5 * P;
const N = 3;

/** A THP-enabled machine with a 2 MiB anonymous mapping at BASE backed by one PMD-mapped THP. */
async function thpEnv(): Promise<{ env: Env; head: number; pmdOff: number }> {
  const env = await setupEnv({ thp: 'always' });
  await mapAnon(env, BASE, PMD_SIZE);
  await touch(env, BASE, 1);
  const e = mustEntry(env, BASE, 2);
  expect(e.lo & (PTE_LEAF | PTE_WRITE)).toBe(PTE_LEAF | PTE_WRITE);
  expect(e.kind).toBe(PTE_PRESENT);
  return { env, head: e.hi, pmdOff: e.off };
}

describe('§3.5 PMD row "none"', () => {
  /** 4 MiB mapping, first 2 MiB populated (the PMD table exists), second PMD none. */
  async function holeEnv(): Promise<Env> {
    const env = await setupEnv();
    await mapAnon(env, BASE, 2 * PMD_SIZE);
    await touch(env, BASE, 1);
    expect(mustEntry(env, BASE + PMD_SIZE, 2).kind).toBe(0);
    return env;
  }

  it('no request: fill 0', async () => {
    const env = await holeEnv();
    const c = await callRangeFault(env, BASE + PMD_SIZE + 5 * P, 8, { input: repeat(NOISE, 8) });
    expect(c.ret).toBe(0);
    expect(words(c.pfns)).toEqual(repeat(0n, 8));
    expect(c.faults).toEqual([]);
  });

  it('one page requests a fault (per-page mask): the whole unit (hole clipped to the range) is faulted', async () => {
    const env = await holeEnv();
    const input = repeat(0n, 8);
    input[6] = FAULT;
    const start = BASE + PMD_SIZE + 5 * P;
    const c = await callRangeFault(env, start, 8, { pfnFlagsMask: FAULT_WRITE, input });
    expect(c.ret).toBe(0);
    expect(c.faults).toEqual(faultsFrom(start, 8, false));
    expect(words(c.pfns)).toEqual(repeat(BigInt(ZERO_PFN) | HMM_PFN_VALID, 8));
  });

  it('REQ_FAULT over a whole 2 MiB hole: 512 faults', async () => {
    const env = await holeEnv();
    const c = await callRangeFault(env, BASE + PMD_SIZE, PMD_PAGES, { defaultFlags: FAULT });
    expect(c.ret).toBe(0);
    expect(c.faults).toEqual(faultsFrom(BASE + PMD_SIZE, PMD_PAGES, false));
    expect(words(c.pfns)).toEqual(repeat(BigInt(ZERO_PFN) | HMM_PFN_VALID, PMD_PAGES));
  });
});

describe('§3.5 PMD row "THP migration entry"', () => {
  async function migratingThp() {
    const { env, head, pmdOff } = await thpEnv();
    expect(trylockPage(env.machine, head)).toBe(true);
    env.machine.pt.words[pmdOff] = PTE_MIGRATION_WRITE | PTE_LEAF;
    return { env, head, pmdOff };
  }

  it('no request: fill 0 without waiting', async () => {
    const { env } = await migratingThp();
    const c = await callRangeFault(env, S, N, { input: repeat(NOISE, N) });
    expect(c.ret).toBe(0);
    expect(words(c.pfns)).toEqual(repeat(0n, N));
    expect(c.faults).toEqual([]);
  });

  it('REQ_FAULT: waits for the migration, restarts at the unit → head+i | VALID | WRITE | order 9', async () => {
    const { env, head, pmdOff } = await migratingThp();
    const k = env.machine;
    const log: string[] = [];
    const migrator = k.sched.spawn('migrator', () => {
      log.push('migration ends');
      k.pt.words[pmdOff] = PTE_PRESENT | PTE_LEAF | PTE_WRITE | PTE_DIRTY | PTE_YOUNG;
      unlockPage(k, head);
    });
    const c = await callRangeFault(env, S, N, { defaultFlags: FAULT });
    log.push(`returned ${c.ret}`);
    await k.sched.join(migrator);
    expect(log).toEqual(['migration ends', 'returned 0']);
    expect(words(c.pfns)).toEqual(consecutive(head + 5, HMM_PFN_VALID | HMM_PFN_WRITE | ORDER_PMD, N));
    expect(c.faults).toEqual([]);
  });
});

describe('§3.5 PMD row "other non-present, device-private owned"', () => {
  const OWNER = { name: 'device 0' };

  it('no request: every entry dev_pfn+i | VALID | WRITE | order 9', async () => {
    const env = await setupEnv();
    await mapAnon(env, BASE, PMD_SIZE);
    const dev = addFakeDevicePrivate(env, OWNER);
    setEntry(env, BASE, PTE_DEVICE_PRIVATE_WRITE | PTE_LEAF, dev.first, 2);
    const c = await callRangeFault(env, S, N, { input: repeat(NOISE, N), devPrivateOwner: OWNER });
    expect(c.ret).toBe(0);
    expect(words(c.pfns)).toEqual(consecutive(dev.first + 5, HMM_PFN_VALID | HMM_PFN_WRITE | ORDER_PMD, N));
    expect(c.faults).toEqual([]);
  });

  it('REQ_FAULT | REQ_WRITE on a read-only entry: reported, not faulted → dev_pfn+i | VALID | order 9', async () => {
    const env = await setupEnv();
    await mapAnon(env, BASE, PMD_SIZE);
    const dev = addFakeDevicePrivate(env, OWNER);
    setEntry(env, BASE, PTE_DEVICE_PRIVATE_READ | PTE_LEAF, dev.first, 2);
    const c = await callRangeFault(env, S, N, { defaultFlags: FAULT_WRITE, devPrivateOwner: OWNER });
    expect(c.ret).toBe(0);
    expect(words(c.pfns)).toEqual(consecutive(dev.first + 5, HMM_PFN_VALID | ORDER_PMD, N));
    expect(c.faults).toEqual([]);
    expect(dev.calls).toEqual([]);
  });
});

describe('§3.5 PMD row "other non-present, device-private foreign"', () => {
  const OWNER = { name: 'device 0' };
  const OTHER = { name: 'device 1' };

  async function foreignEnv() {
    const env = await setupEnv();
    await mapAnon(env, BASE, PMD_SIZE);
    const dev = addFakeDevicePrivate(env, OWNER);
    setEntry(env, BASE, PTE_DEVICE_PRIVATE_WRITE | PTE_LEAF, dev.first, 2);
    return { env, dev };
  }

  it('no request: fill ERROR', async () => {
    const { env, dev } = await foreignEnv();
    const c = await callRangeFault(env, S, N, { input: repeat(NOISE, N), devPrivateOwner: OTHER });
    expect(c.ret).toBe(0);
    expect(words(c.pfns)).toEqual(repeat(HMM_PFN_ERROR, N));
    expect(c.faults).toEqual([]);
    expect(dev.calls).toEqual([]);
  });

  it('REQ_FAULT: the whole unit is faulted; the first fault migrates the page back → newhead+i | VALID | WRITE | order 9', async () => {
    const { env, dev } = await foreignEnv();
    const c = await callRangeFault(env, S, N, { defaultFlags: FAULT, devPrivateOwner: OTHER });
    expect(c.ret).toBe(0);
    // do_huge_pmd_device_private: vmf->page is the PMD entry's page, the folio head.
    expect(dev.calls).toEqual([{ address: S, page: dev.first, write: false }]);
    expect(c.faults).toEqual(faultsFrom(S, N, false));
    expect(words(c.pfns)).toEqual(
      consecutive(dev.migratedTo[0]! + 5, HMM_PFN_VALID | HMM_PFN_WRITE | ORDER_PMD, N),
    );
  });
});

describe('§3.5 PMD row "other non-present (any other)"', () => {
  for (const [name, lo] of [
    ['hwpoison', PTE_HWPOISON | PTE_LEAF],
    ['swap', PTE_SWAP | PTE_LEAF],
  ] as const) {
    it(`${name} PMD, no request: fill ERROR`, async () => {
      const env = await setupEnv();
      await mapAnon(env, BASE, PMD_SIZE);
      setEntry(env, BASE, lo, 0, 2);
      const c = await callRangeFault(env, S, N, { input: repeat(NOISE, N) });
      expect(c.ret).toBe(0);
      expect(words(c.pfns)).toEqual(repeat(HMM_PFN_ERROR, N));
    });

    it(`${name} PMD, REQ_FAULT: -EFAULT, nothing faulted, words untouched`, async () => {
      const env = await setupEnv();
      await mapAnon(env, BASE, PMD_SIZE);
      setEntry(env, BASE, lo, 0, 2);
      const c = await callRangeFault(env, S, N, { pfnFlagsMask: FAULT, input: [0n, FAULT, 7n] });
      expect(c.ret).toBe(-EFAULT);
      expect(words(c.pfns)).toEqual([0n, FAULT, 7n]);
      expect(c.faults).toEqual([]);
    });
  }
});

describe('§3.5 PMD row "bad"', () => {
  it('no request: fill ERROR; REQ_FAULT: -EFAULT', async () => {
    const env = await setupEnv();
    await mapAnon(env, BASE, PMD_SIZE);
    // Neither none, a table, nor a huge entry: pmd_bad.
    setEntry(env, BASE, PTE_SWAP, 0, 2);
    const snap = await callRangeFault(env, S, N, { input: repeat(NOISE, N) });
    expect(snap.ret).toBe(0);
    expect(words(snap.pfns)).toEqual(repeat(HMM_PFN_ERROR, N));
    const req = await callRangeFault(env, S, N, { defaultFlags: FAULT });
    expect(req.ret).toBe(-EFAULT);
    expect(req.faults).toEqual([]);
  });
});

describe('§3.5 PMD row "present leaf (THP)"', () => {
  it('no request: head+i | VALID | WRITE | order 9, pfn offset from the address', async () => {
    const { env, head } = await thpEnv();
    const c = await callRangeFault(env, S, N, { input: repeat(NOISE, N) });
    expect(c.ret).toBe(0);
    expect(words(c.pfns)).toEqual(consecutive(head + 5, HMM_PFN_VALID | HMM_PFN_WRITE | ORDER_PMD, N));
    expect(c.faults).toEqual([]);
  });

  it('whole 2 MiB: 512 words head+i | VALID | WRITE | order 9', async () => {
    const { env, head } = await thpEnv();
    const c = await callRangeFault(env, BASE, PMD_PAGES, { defaultFlags: FAULT_WRITE });
    expect(c.ret).toBe(0);
    expect(words(c.pfns)).toEqual(consecutive(head, HMM_PFN_VALID | HMM_PFN_WRITE | ORDER_PMD, PMD_PAGES));
    expect(c.faults).toEqual([]);
  });

  it('read-only leaf, REQ_FAULT without WRITE: no fault → head+i | VALID | order 9', async () => {
    const { env, head, pmdOff } = await thpEnv();
    env.machine.pt.words[pmdOff]! &= ~PTE_WRITE;
    const c = await callRangeFault(env, S, N, { defaultFlags: FAULT });
    expect(c.ret).toBe(0);
    expect(words(c.pfns)).toEqual(consecutive(head + 5, HMM_PFN_VALID | ORDER_PMD, N));
    expect(c.faults).toEqual([]);
  });

  it('read-only leaf, one page asks for write: the whole unit is write-faulted (exclusive THP reused) → VALID | WRITE | order 9', async () => {
    const { env, head, pmdOff } = await thpEnv();
    env.machine.pt.words[pmdOff]! &= ~PTE_WRITE;
    const c = await callRangeFault(env, S, N, { pfnFlagsMask: FAULT_WRITE, input: [0n, 0n, FAULT_WRITE] });
    expect(c.ret).toBe(0);
    expect(c.faults).toEqual(faultsFrom(S, N, true));
    expect(words(c.pfns)).toEqual(consecutive(head + 5, HMM_PFN_VALID | HMM_PFN_WRITE | ORDER_PMD, N));
  });

  it('protnone leaf, no request: cpu flags 0 → head+i only (no VALID, no order)', async () => {
    const { env, head, pmdOff } = await thpEnv();
    env.machine.pt.words[pmdOff]! |= PTE_PROTNONE;
    const c = await callRangeFault(env, S, N, { input: repeat(NOISE, N) });
    expect(c.ret).toBe(0);
    expect(words(c.pfns)).toEqual(consecutive(head + 5, 0n, N));
    expect(c.faults).toEqual([]);
  });

  it('protnone leaf, REQ_FAULT: the unit is faulted (NUMA hinting fault restores it) → head+i | VALID | WRITE | order 9', async () => {
    const { env, head, pmdOff } = await thpEnv();
    env.machine.pt.words[pmdOff]! |= PTE_PROTNONE;
    const c = await callRangeFault(env, S, N, { defaultFlags: FAULT });
    expect(c.ret).toBe(0);
    expect(c.faults).toEqual(faultsFrom(S, N, false));
    expect(words(c.pfns)).toEqual(consecutive(head + 5, HMM_PFN_VALID | HMM_PFN_WRITE | ORDER_PMD, N));
  });
});

describe('§3.5 PMD row "present leaf" — huge zero page', () => {
  async function hugeZeroEnv(kernelVersion: '6.12' | 'mainline' = 'mainline'): Promise<Env> {
    const env = await setupEnv({ thp: 'always', kernelVersion });
    await mapAnon(env, BASE, PMD_SIZE);
    await readPages(env, BASE, 1);
    const e = mustEntry(env, BASE, 2);
    expect(e.hi).toBe(HUGE_ZERO_PFN);
    expect(e.lo & (PTE_LEAF | PTE_WRITE)).toBe(PTE_LEAF);
    return env;
  }

  it('no request: HUGE_ZERO_PFN+i | VALID | order 9', async () => {
    const env = await hugeZeroEnv();
    const c = await callRangeFault(env, S, N, { input: repeat(NOISE, N) });
    expect(c.ret).toBe(0);
    expect(words(c.pfns)).toEqual(consecutive(HUGE_ZERO_PFN + 5, HMM_PFN_VALID | ORDER_PMD, N));
  });

  it('REQ_FAULT (read): no fault', async () => {
    const env = await hugeZeroEnv();
    const c = await callRangeFault(env, S, N, { defaultFlags: FAULT });
    expect(c.ret).toBe(0);
    expect(words(c.pfns)).toEqual(consecutive(HUGE_ZERO_PFN + 5, HMM_PFN_VALID | ORDER_PMD, N));
    expect(c.faults).toEqual([]);
  });

  it('REQ_WRITE: the unit is write-faulted; a zeroed THP replaces it (one CLEAR over 2 MiB) → -EBUSY, then order 9', async () => {
    const env = await hugeZeroEnv();
    const first = await callRangeFault(env, S, N, { defaultFlags: FAULT_WRITE });
    expect(first.ret).toBe(-EBUSY);
    expect(first.faults).toEqual(faultsFrom(S, N, true));
    expect(env.invalidations).toEqual([
      { event: MMU_NOTIFY_CLEAR, start: BASE, end: BASE + PMD_SIZE, owner: null },
    ]);
    const e = mustEntry(env, BASE, 2);
    expect(e.lo & (PTE_LEAF | PTE_WRITE)).toBe(PTE_LEAF | PTE_WRITE);
    const head = e.hi;
    expect(head).not.toBe(HUGE_ZERO_PFN);
    const second = await callRangeFault(env, S, N, { defaultFlags: FAULT_WRITE });
    expect(second.ret).toBe(0);
    expect(second.faults).toEqual([]);
    expect(words(second.pfns)).toEqual(consecutive(head + 5, HMM_PFN_VALID | HMM_PFN_WRITE | ORDER_PMD, N));
    expect(env.mm.rss[MM_ANONPAGES]).toBe(PMD_PAGES);
  });

  it('kernelVersion 6.12, REQ_WRITE: the PMD split and COW announce CLEAR → -EBUSY, then new order-0 pages', async () => {
    const env = await hugeZeroEnv('6.12');
    const first = await callRangeFault(env, S, N, { defaultFlags: FAULT_WRITE });
    expect(first.ret).toBe(-EBUSY);
    expect(first.faults).toEqual(faultsFrom(S, N, true));
    expect(env.invalidations[0]).toEqual({
      event: MMU_NOTIFY_CLEAR,
      start: BASE,
      end: BASE + PMD_SIZE,
      owner: null,
    });
    expect(mustEntry(env, BASE, 2).kind).toBe(PTE_TABLE);
    const second = await callRangeFault(env, S, N, { defaultFlags: FAULT_WRITE });
    expect(second.ret).toBe(0);
    expect(second.faults).toEqual([]);
    const pfns = [0, 1, 2].map((i) => mustEntry(env, S + i * P).hi);
    for (const pfn of pfns) expect(pfn).not.toBe(ZERO_PFN);
    expect(new Set(pfns).size).toBe(3);
    expect(words(second.pfns)).toEqual(pfns.map((pfn) => BigInt(pfn) | HMM_PFN_VALID | HMM_PFN_WRITE));
    expect(env.mm.rss[MM_ANONPAGES]).toBe(3);
  });
});

describe('§3.5 PUD paragraph: PUD leaf (order 18)', () => {
  /** A raw 1 GiB-aligned pfn: the mm cannot create PUD leaves, so the entry is written directly. */
  const PUD_PFN = 4 * 262144;

  async function pudEnv(lo: number): Promise<Env> {
    const env = await setupEnv();
    await mapAnon(env, BASE, PUD_SIZE);
    setEntry(env, BASE, lo, PUD_PFN, 3);
    return env;
  }

  it('writable leaf, no request: pfn+i | VALID | WRITE | order 18', async () => {
    const env = await pudEnv(PTE_PRESENT | PTE_LEAF | PTE_WRITE);
    const start = BASE + PMD_SIZE + 7 * P;
    const c = await callRangeFault(env, start, N, { input: repeat(NOISE, N) });
    expect(c.ret).toBe(0);
    expect(words(c.pfns)).toEqual(
      consecutive(PUD_PFN + PMD_PAGES + 7, HMM_PFN_VALID | HMM_PFN_WRITE | ORDER_PUD, N),
    );
    expect(c.faults).toEqual([]);
  });

  it('writable leaf, REQ_FAULT | REQ_WRITE: satisfied, no fault', async () => {
    const env = await pudEnv(PTE_PRESENT | PTE_LEAF | PTE_WRITE);
    const c = await callRangeFault(env, S, N, { defaultFlags: FAULT_WRITE });
    expect(c.ret).toBe(0);
    expect(words(c.pfns)).toEqual(consecutive(PUD_PFN + 5, HMM_PFN_VALID | HMM_PFN_WRITE | ORDER_PUD, N));
    expect(c.faults).toEqual([]);
  });

  it('read-only leaf, REQ_FAULT: satisfied → pfn+i | VALID | order 18', async () => {
    const env = await pudEnv(PTE_PRESENT | PTE_LEAF);
    const c = await callRangeFault(env, S, N, { defaultFlags: FAULT });
    expect(c.ret).toBe(0);
    expect(words(c.pfns)).toEqual(consecutive(PUD_PFN + 5, HMM_PFN_VALID | ORDER_PUD, N));
    expect(c.faults).toEqual([]);
  });

  it('non-present PUD entry, no request: treated as a hole → 0', async () => {
    const env = await pudEnv(PTE_SWAP | PTE_LEAF);
    const c = await callRangeFault(env, S, N, { input: repeat(NOISE, N) });
    expect(c.ret).toBe(0);
    expect(words(c.pfns)).toEqual(repeat(0n, N));
  });
});
