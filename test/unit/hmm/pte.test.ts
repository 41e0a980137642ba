/**
 * hmm_range_fault, PTE level: one test per row of the PTE table of docs/hmm-range-fault.md#pte-level-hmm_vma_handle_pte, each without and with a
 * fault request, asserting whole output words (bigint equality) or the exact errno.
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
  MADV_PAGEOUT,
  MAP_FIXED,
  MAP_PRIVATE,
  MAP_SHARED,
  MMU_NOTIFY_CLEAR,
  MMU_NOTIFY_EXCLUSIVE,
  PROT_READ,
  PROT_WRITE,
  ZERO_PFN,
} from '../../../src/index.ts';
import { MM_ANONPAGES, VM_MIXEDMAP } from '../../../src/mm/constants.ts';
import {
  mmuNotifierInvalidateRangeEnd,
  mmuNotifierInvalidateRangeStart,
  mmuNotifierRangeInit,
} from '../../../src/mm/mmu-notifier.ts';
import { pageLocked, trylockPage, unlockPage } from '../../../src/mm/page-lock.ts';
import {
  PTE_DEVICE_EXCLUSIVE,
  PTE_DEVICE_PRIVATE_READ,
  PTE_DEVICE_PRIVATE_WRITE,
  PTE_DIRTY,
  PTE_HWPOISON,
  PTE_MARKER,
  PTE_MIGRATION_READ,
  PTE_PRESENT,
  PTE_PROTNONE,
  PTE_SPECIAL,
  PTE_SWAP,
  PTE_WRITE,
  PTE_YOUNG,
} from '../../../src/mm/pte.ts';
import type { Vma } from '../../../src/mm/vma.ts';
import {
  addFakeDevicePrivate,
  BASE,
  callRangeFault,
  type Env,
  mapAnon,
  mustEntry,
  P,
  readPages,
  setEntry,
  setupEnv,
  touch,
  words,
} from './helpers.ts';

/** Input noise for snapshot calls: request bits (ignored with mask 0), ERROR, an order and a pfn. */
const NOISE = HMM_PFN_VALID | HMM_PFN_WRITE | HMM_PFN_ERROR | (5n << 53n) | 0xabcden;
const FAULT = HMM_PFN_REQ_FAULT;
const FAULT_WRITE = HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE;
/** The page every PTE-row test examines (page 0 of the mapping is written so the PTE table exists). */
const A = BASE + P;

/** A 16-page anonymous read-write mapping at BASE with page 0 written. */
async function anonEnv(options: Parameters<typeof setupEnv>[0] = {}): Promise<Env> {
  const env = await setupEnv(options);
  await mapAnon(env, BASE, 16 * P);
  await touch(env, BASE, 1);
  return env;
}

describe('§3.5 PTE row "none / PTE marker"', () => {
  it('none, no request: output 0 (input noise replaced), no fault', async () => {
    const env = await anonEnv();
    const c = await callRangeFault(env, A, 1, { input: [NOISE] });
    expect(c.ret).toBe(0);
    expect(words(c.pfns)).toEqual([0n]);
    expect(c.faults).toEqual([]);
  });

  it('none, REQ_FAULT: read fault maps the zero page → ZERO_PFN | VALID', async () => {
    const env = await anonEnv();
    const c = await callRangeFault(env, A, 1, { defaultFlags: FAULT });
    expect(c.ret).toBe(0);
    expect(words(c.pfns)).toEqual([BigInt(ZERO_PFN) | HMM_PFN_VALID]);
    expect(c.faults).toEqual([{ addr: A, write: false }]);
  });

  it('none, REQ_FAULT | REQ_WRITE: write fault maps a new private page → pfn | VALID | WRITE', async () => {
    const env = await anonEnv();
    const c = await callRangeFault(env, A, 1, { defaultFlags: FAULT_WRITE });
    expect(c.ret).toBe(0);
    const e = mustEntry(env, A);
    expect(e.hi).not.toBe(ZERO_PFN);
    expect(words(c.pfns)).toEqual([BigInt(e.hi) | HMM_PFN_VALID | HMM_PFN_WRITE]);
    expect(c.faults).toEqual([{ addr: A, write: true }]);
    expect(env.mm.rss[MM_ANONPAGES]).toBe(2);
  });

  it('PTE marker, no request: treated as none → 0', async () => {
    const env = await anonEnv();
    setEntry(env, A, PTE_MARKER, 0);
    const c = await callRangeFault(env, A, 1, { input: [NOISE] });
    expect(c.ret).toBe(0);
    expect(words(c.pfns)).toEqual([0n]);
    expect(c.faults).toEqual([]);
  });

  it('PTE marker, REQ_FAULT: faulted like none → ZERO_PFN | VALID', async () => {
    const env = await anonEnv();
    setEntry(env, A, PTE_MARKER, 0);
    const c = await callRangeFault(env, A, 1, { defaultFlags: FAULT });
    expect(c.ret).toBe(0);
    expect(words(c.pfns)).toEqual([BigInt(ZERO_PFN) | HMM_PFN_VALID]);
    expect(c.faults).toEqual([{ addr: A, write: false }]);
    expect(mustEntry(env, A).kind).toBe(PTE_PRESENT);
  });
});

describe('§3.5 PTE row "present, protnone"', () => {
  async function protnoneEnv(): Promise<{ env: Env; pfn: number }> {
    const env = await anonEnv();
    await touch(env, A, 1);
    const e = mustEntry(env, A);
    env.machine.pt.words[e.off] = e.lo | PTE_PROTNONE;
    return { env, pfn: e.hi };
  }

  it('no request: the pfn without VALID (the quirk)', async () => {
    const { env, pfn } = await protnoneEnv();
    const c = await callRangeFault(env, A, 1, { input: [NOISE] });
    expect(c.ret).toBe(0);
    expect(words(c.pfns)).toEqual([BigInt(pfn)]);
    expect(c.faults).toEqual([]);
  });

  it('REQ_FAULT: faulted (NUMA hinting fault restores access) → pfn | VALID | WRITE', async () => {
    const { env, pfn } = await protnoneEnv();
    const c = await callRangeFault(env, A, 1, { defaultFlags: FAULT });
    expect(c.ret).toBe(0);
    expect(words(c.pfns)).toEqual([BigInt(pfn) | HMM_PFN_VALID | HMM_PFN_WRITE]);
    expect(c.faults).toEqual([{ addr: A, write: false }]);
    expect(mustEntry(env, A).lo & PTE_PROTNONE).toBe(0);
  });
});

describe('§3.5 PTE row "present read-only, normal page"', () => {
  /** A MAP_SHARED file page read once: a read-only PTE on a page-cache page. */
  async function sharedFileEnv(): Promise<{ env: Env; pfn: number }> {
    const env = await setupEnv();
    const fd = await env.proc.createTmpFile(16 * P);
    expect(await env.proc.mmap(BASE, 16 * P, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0)).toBe(
      BASE,
    );
    await readPages(env, A, 1);
    const e = mustEntry(env, A);
    expect(e.lo & PTE_WRITE).toBe(0);
    return { env, pfn: e.hi };
  }

  it('no request: pfn | VALID', async () => {
    const { env, pfn } = await sharedFileEnv();
    const c = await callRangeFault(env, A, 1, { input: [NOISE] });
    expect(c.ret).toBe(0);
    expect(words(c.pfns)).toEqual([BigInt(pfn) | HMM_PFN_VALID]);
    expect(c.faults).toEqual([]);
  });

  it('REQ_FAULT without REQ_WRITE: already valid, no fault → pfn | VALID', async () => {
    const { env, pfn } = await sharedFileEnv();
    const c = await callRangeFault(env, A, 1, { defaultFlags: FAULT });
    expect(c.ret).toBe(0);
    expect(words(c.pfns)).toEqual([BigInt(pfn) | HMM_PFN_VALID]);
    expect(c.faults).toEqual([]);
  });

  it('REQ_FAULT | REQ_WRITE: write fault (shared mapping: made writable in place) → pfn | VALID | WRITE', async () => {
    const { env, pfn } = await sharedFileEnv();
    const c = await callRangeFault(env, A, 1, { defaultFlags: FAULT_WRITE });
    expect(c.ret).toBe(0);
    expect(words(c.pfns)).toEqual([BigInt(pfn) | HMM_PFN_VALID | HMM_PFN_WRITE]);
    expect(c.faults).toEqual([{ addr: A, write: true }]);
  });
});

describe('§3.5 PTE row "present writable, normal page"', () => {
  it('no request: pfn | VALID | WRITE', async () => {
    const env = await anonEnv();
    await touch(env, A, 1);
    const pfn = mustEntry(env, A).hi;
    const c = await callRangeFault(env, A, 1, { input: [NOISE] });
    expect(c.ret).toBe(0);
    expect(words(c.pfns)).toEqual([BigInt(pfn) | HMM_PFN_VALID | HMM_PFN_WRITE]);
    expect(c.faults).toEqual([]);
  });

  it('REQ_FAULT | REQ_WRITE: never needs a fault → pfn | VALID | WRITE', async () => {
    const env = await anonEnv();
    await touch(env, A, 1);
    const pfn = mustEntry(env, A).hi;
    const c = await callRangeFault(env, A, 1, { defaultFlags: FAULT_WRITE });
    expect(c.ret).toBe(0);
    expect(words(c.pfns)).toEqual([BigInt(pfn) | HMM_PFN_VALID | HMM_PFN_WRITE]);
    expect(c.faults).toEqual([]);
  });
});

describe('§3.5 PTE row "present zero page"', () => {
  async function zeroEnv(): Promise<Env> {
    const env = await anonEnv();
    await readPages(env, A, 1);
    expect(mustEntry(env, A).hi).toBe(ZERO_PFN);
    return env;
  }

  it('no request: ZERO_PFN | VALID (an ordinary read-only page)', async () => {
    const env = await zeroEnv();
    const c = await callRangeFault(env, A, 1, { input: [NOISE] });
    expect(c.ret).toBe(0);
    expect(words(c.pfns)).toEqual([BigInt(ZERO_PFN) | HMM_PFN_VALID]);
    expect(c.faults).toEqual([]);
  });

  it('REQ_FAULT (read): no fault → ZERO_PFN | VALID', async () => {
    const env = await zeroEnv();
    const c = await callRangeFault(env, A, 1, { defaultFlags: FAULT });
    expect(c.ret).toBe(0);
    expect(words(c.pfns)).toEqual([BigInt(ZERO_PFN) | HMM_PFN_VALID]);
    expect(c.faults).toEqual([]);
  });

  it('REQ_WRITE: write fault allocates a private page; its CLEAR hits the interval → -EBUSY, then 0 with the new page', async () => {
    const env = await zeroEnv();
    const first = await callRangeFault(env, A, 1, { defaultFlags: FAULT_WRITE });
    expect(first.ret).toBe(-EBUSY);
    expect(first.faults).toEqual([{ addr: A, write: true }]);
    expect(env.invalidations).toContainEqual({ event: MMU_NOTIFY_CLEAR, start: A, end: A + P, owner: null });
    const e = mustEntry(env, A);
    expect(e.hi).not.toBe(ZERO_PFN);
    const second = await callRangeFault(env, A, 1, { defaultFlags: FAULT_WRITE });
    expect(second.ret).toBe(0);
    expect(words(second.pfns)).toEqual([BigInt(e.hi) | HMM_PFN_VALID | HMM_PFN_WRITE]);
    expect(second.faults).toEqual([]);
  });
});

describe('§3.5 PTE row "present special (VM_MIXEDMAP raw pfn)"', () => {
  /** A pfn with no struct page behind it (far above RAM). */
  const RAW_PFN = 0x10_0000;

  /** A device mmap that marks the VMA VM_MIXEDMAP and inserts a special PTE with a raw pfn at A. */
  async function mixedEnv(opts: { writable?: boolean; shared?: boolean; prot?: number } = {}) {
    const env = await setupEnv();
    let vma: Vma | null = null;
    const fd = env.proc.openDevice({
      name: 'mixed',
      mmap(v) {
        v.flags |= VM_MIXEDMAP;
        vma = v;
        return 0;
      },
    });
    const prot = opts.prot ?? PROT_READ | PROT_WRITE;
    const flags = (opts.shared ?? true) ? MAP_SHARED : MAP_PRIVATE;
    expect(await env.proc.mmap(BASE, 16 * P, prot, flags | MAP_FIXED, fd, 0)).toBe(BASE);
    setEntry(env, A, PTE_PRESENT | PTE_SPECIAL | PTE_YOUNG | (opts.writable ? PTE_WRITE : 0), RAW_PFN);
    return { env, vma: vma as unknown as Vma };
  }

  it('no request: ERROR (no pfn bits)', async () => {
    const { env } = await mixedEnv();
    const c = await callRangeFault(env, A, 1, { input: [NOISE] });
    expect(c.ret).toBe(0);
    expect(words(c.pfns)).toEqual([HMM_PFN_ERROR]);
    expect(c.faults).toEqual([]);
  });

  it('REQ_FAULT on a read-only special PTE: the initial need is none, but a fault is requested → -EFAULT, word untouched', async () => {
    const { env } = await mixedEnv();
    const c = await callRangeFault(env, A, 1, { defaultFlags: FAULT, input: [0x77n] });
    expect(c.ret).toBe(-EFAULT);
    expect(words(c.pfns)).toEqual([0x77n]);
    expect(c.faults).toEqual([]);
  });

  it('REQ_FAULT | REQ_WRITE on a writable special PTE → -EFAULT without faulting', async () => {
    const { env } = await mixedEnv({ writable: true });
    const c = await callRangeFault(env, A, 1, { defaultFlags: FAULT_WRITE });
    expect(c.ret).toBe(-EFAULT);
    expect(c.faults).toEqual([]);
  });

  it('REQ_FAULT | REQ_WRITE on a read-only special PTE: the initial need says fault → write fault (made writable), then -EFAULT on the re-walk', async () => {
    const { env } = await mixedEnv();
    const c = await callRangeFault(env, A, 1, { defaultFlags: FAULT_WRITE });
    expect(c.ret).toBe(-EFAULT);
    expect(c.faults).toEqual([{ addr: A, write: true }]);
    const e = mustEntry(env, A);
    expect(e.lo & (PTE_SPECIAL | PTE_WRITE)).toBe(PTE_SPECIAL | PTE_WRITE);
    expect(e.hi).toBe(RAW_PFN);
  });

  it('§8.21: a page with a struct page in a VM_MIXEDMAP mapping is normal (5.17+) → pfn | VALID', async () => {
    const { env, vma } = await mixedEnv();
    const page = env.machine.pm.allocPages(0);
    vma.vmOps = { name: 'mixed', fault: () => page };
    const B = BASE + 2 * P;
    const c = await callRangeFault(env, B, 1, { defaultFlags: FAULT });
    expect(c.ret).toBe(0);
    expect(words(c.pfns)).toEqual([BigInt(page) | HMM_PFN_VALID]);
    expect(c.faults).toEqual([{ addr: B, write: false }]);
  });
});

describe('§3.5 PTE row "device-private entry, pgmap owner == dev_private_owner"', () => {
  const OWNER = { name: 'device 0' };

  it('no request: dev_pfn | VALID | WRITE for a writable entry', async () => {
    const env = await anonEnv();
    const dev = addFakeDevicePrivate(env, OWNER);
    setEntry(env, A, PTE_DEVICE_PRIVATE_WRITE, dev.first + 3);
    const c = await callRangeFault(env, A, 1, { input: [NOISE], devPrivateOwner: OWNER });
    expect(c.ret).toBe(0);
    expect(words(c.pfns)).toEqual([BigInt(dev.first + 3) | HMM_PFN_VALID | HMM_PFN_WRITE]);
    expect(c.faults).toEqual([]);
  });

  it('REQ_FAULT | REQ_WRITE: reported, never faulted → dev_pfn | VALID | WRITE, migrate_to_ram not called', async () => {
    const env = await anonEnv();
    const dev = addFakeDevicePrivate(env, OWNER);
    setEntry(env, A, PTE_DEVICE_PRIVATE_WRITE, dev.first + 3);
    const c = await callRangeFault(env, A, 1, { defaultFlags: FAULT_WRITE, devPrivateOwner: OWNER });
    expect(c.ret).toBe(0);
    expect(words(c.pfns)).toEqual([BigInt(dev.first + 3) | HMM_PFN_VALID | HMM_PFN_WRITE]);
    expect(c.faults).toEqual([]);
    expect(dev.calls).toEqual([]);
  });

  it('§3.7 exception: read-only entry with REQ_WRITE → 0 returned with dev_pfn | VALID (no WRITE)', async () => {
    const env = await anonEnv();
    const dev = addFakeDevicePrivate(env, OWNER);
    setEntry(env, A, PTE_DEVICE_PRIVATE_READ, dev.first + 3);
    const c = await callRangeFault(env, A, 1, { defaultFlags: FAULT_WRITE, devPrivateOwner: OWNER });
    expect(c.ret).toBe(0);
    expect(words(c.pfns)).toEqual([BigInt(dev.first + 3) | HMM_PFN_VALID]);
    expect(c.faults).toEqual([]);
    expect(dev.calls).toEqual([]);
  });
});

describe('§3.5 PTE row "device-private entry, other owner"', () => {
  const OWNER = { name: 'device 0' };
  const OTHER = { name: 'device 1' };

  it('no request: 0', async () => {
    const env = await anonEnv();
    const dev = addFakeDevicePrivate(env, OWNER);
    setEntry(env, A, PTE_DEVICE_PRIVATE_WRITE, dev.first + 3);
    const c = await callRangeFault(env, A, 1, { input: [NOISE], devPrivateOwner: OTHER });
    expect(c.ret).toBe(0);
    expect(words(c.pfns)).toEqual([0n]);
    expect(c.faults).toEqual([]);
    expect(dev.calls).toEqual([]);
  });

  it('REQ_FAULT: faulted → the owner pgmap migrate_to_ram runs, the page is back in RAM → pfn | VALID | WRITE', async () => {
    const env = await anonEnv();
    const dev = addFakeDevicePrivate(env, OWNER);
    setEntry(env, A, PTE_DEVICE_PRIVATE_WRITE, dev.first + 3);
    const c = await callRangeFault(env, A, 1, { defaultFlags: FAULT, devPrivateOwner: OTHER });
    expect(c.ret).toBe(0);
    expect(dev.calls).toEqual([{ address: A, page: dev.first + 3, write: false }]);
    expect(dev.migratedTo.length).toBe(1);
    expect(words(c.pfns)).toEqual([BigInt(dev.migratedTo[0]!) | HMM_PFN_VALID | HMM_PFN_WRITE]);
    expect(c.faults).toEqual([{ addr: A, write: false }]);
    // migrate_to_ram runs with the page locked; it is unlocked afterwards.
    expect(pageLocked(env.machine, dev.first + 3)).toBe(false);
  });
  it('REQ_FAULT | REQ_WRITE on a read-only foreign entry: migrate_to_ram sees a write fault; the page comes back read-only and is write-faulted on the re-walk', async () => {
    const env = await anonEnv();
    const dev = addFakeDevicePrivate(env, OWNER);
    setEntry(env, A, PTE_DEVICE_PRIVATE_READ, dev.first + 4);
    const c = await callRangeFault(env, A, 1, { defaultFlags: FAULT_WRITE, devPrivateOwner: OTHER });
    expect(c.ret).toBe(0);
    expect(dev.calls).toEqual([{ address: A, page: dev.first + 4, write: true }]);
    expect(c.faults).toEqual([
      { addr: A, write: true },
      { addr: A, write: true },
    ]);
    // The exclusive anonymous page is reused (made writable in place), no copy.
    expect(words(c.pfns)).toEqual([BigInt(dev.migratedTo[0]!) | HMM_PFN_VALID | HMM_PFN_WRITE]);
  });
});

describe('§3.5 PTE row "device-exclusive entry"', () => {
  async function exclusiveEnv(): Promise<{ env: Env; pfn: number }> {
    const env = await anonEnv();
    await touch(env, A, 1);
    const e = mustEntry(env, A);
    env.machine.pt.words[e.off] = PTE_DEVICE_EXCLUSIVE;
    return { env, pfn: e.hi };
  }

  it('no request: 0', async () => {
    const { env } = await exclusiveEnv();
    const c = await callRangeFault(env, A, 1, { input: [NOISE] });
    expect(c.ret).toBe(0);
    expect(words(c.pfns)).toEqual([0n]);
    expect(c.faults).toEqual([]);
  });

  it('REQ_FAULT: faulted → exclusivity revoked with an EXCLUSIVE invalidation (→ -EBUSY), then pfn | VALID | WRITE', async () => {
    const { env, pfn } = await exclusiveEnv();
    const first = await callRangeFault(env, A, 1, { defaultFlags: FAULT });
    expect(first.ret).toBe(-EBUSY);
    expect(first.faults).toEqual([{ addr: A, write: false }]);
    expect(env.invalidations).toEqual([{ event: MMU_NOTIFY_EXCLUSIVE, start: A, end: A + P, owner: null }]);
    const e = mustEntry(env, A);
    expect(e.kind).toBe(PTE_PRESENT);
    expect(e.hi).toBe(pfn);
    const second = await callRangeFault(env, A, 1, { defaultFlags: FAULT });
    expect(second.ret).toBe(0);
    expect(words(second.pfns)).toEqual([BigInt(pfn) | HMM_PFN_VALID | HMM_PFN_WRITE]);
    expect(second.faults).toEqual([]);
  });
});

describe('§3.5 PTE row "real swap entry"', () => {
  async function swappedEnv(): Promise<Env> {
    const env = await anonEnv({ swap: 1024 * 1024 });
    await touch(env, A, 1, 0x42);
    expect(await env.proc.madvise(A, P, MADV_PAGEOUT)).toBe(0);
    expect(mustEntry(env, A).kind).toBe(PTE_SWAP);
    return env;
  }

  it('no request: 0', async () => {
    const env = await swappedEnv();
    const c = await callRangeFault(env, A, 1, { input: [NOISE] });
    expect(c.ret).toBe(0);
    expect(words(c.pfns)).toEqual([0n]);
    expect(c.faults).toEqual([]);
    expect(mustEntry(env, A).kind).toBe(PTE_SWAP);
  });

  it('REQ_FAULT: swap-in → the new pfn | VALID (| WRITE as the PTE says), contents back', async () => {
    const env = await swappedEnv();
    const swapIns = env.machine.swap.swapIns;
    const c = await callRangeFault(env, A, 1, { defaultFlags: FAULT });
    expect(c.ret).toBe(0);
    expect(env.machine.swap.swapIns).toBe(swapIns + 1);
    const e = mustEntry(env, A);
    expect(e.kind).toBe(PTE_PRESENT);
    expect(words(c.pfns)).toEqual([
      BigInt(e.hi) | HMM_PFN_VALID | ((e.lo & PTE_WRITE) !== 0 ? HMM_PFN_WRITE : 0n),
    ]);
    expect(c.faults).toEqual([{ addr: A, write: false }]);
    expect((await env.proc.read(A, 1))[0]).toBe(0x42);
  });

  it('REQ_FAULT | REQ_WRITE: swap-in writable → pfn | VALID | WRITE', async () => {
    const env = await swappedEnv();
    const c = await callRangeFault(env, A, 1, { defaultFlags: FAULT_WRITE });
    expect(c.ret).toBe(0);
    const e = mustEntry(env, A);
    expect(words(c.pfns)).toEqual([BigInt(e.hi) | HMM_PFN_VALID | HMM_PFN_WRITE]);
    expect(c.faults).toEqual([{ addr: A, write: true }]);
  });
});

describe('§3.5 PTE row "migration entry"', () => {
  /** Page A under migration: its page locked, its PTE a migration entry. */
  async function migratingEnv(): Promise<{ env: Env; pfn: number; off: number }> {
    const env = await anonEnv();
    await touch(env, A, 1);
    const e = mustEntry(env, A);
    expect(trylockPage(env.machine, e.hi)).toBe(true);
    env.machine.pt.words[e.off] = PTE_MIGRATION_READ;
    return { env, pfn: e.hi, off: e.off };
  }

  it('no request: 0 at once (no wait)', async () => {
    const { env, pfn } = await migratingEnv();
    const c = await callRangeFault(env, A, 1, { input: [NOISE] });
    expect(c.ret).toBe(0);
    expect(words(c.pfns)).toEqual([0n]);
    expect(c.faults).toEqual([]);
    expect(pageLocked(env.machine, pfn)).toBe(true);
  });

  it('REQ_FAULT: waits until the page is unlocked (another thread ends the migration), then restarts → pfn | VALID | WRITE, no fault call', async () => {
    const { env, pfn, off } = await migratingEnv();
    const k = env.machine;
    const log: string[] = [];
    const migrator = k.sched.spawn('migrator', () => {
      log.push('migration ends');
      k.pt.words[off] = PTE_PRESENT | PTE_WRITE | PTE_DIRTY | PTE_YOUNG;
      unlockPage(k, pfn);
    });
    const c = await callRangeFault(env, A, 1, { defaultFlags: FAULT });
    log.push(`hmm_range_fault returned ${c.ret}`);
    await k.sched.join(migrator);
    expect(log).toEqual(['migration ends', 'hmm_range_fault returned 0']);
    expect(words(c.pfns)).toEqual([BigInt(pfn) | HMM_PFN_VALID | HMM_PFN_WRITE]);
    expect(c.faults).toEqual([]);
  });

  it('§8.20: when the migration announces CLEAR on the interval, the restart returns -EBUSY to the caller', async () => {
    const { env, pfn, off } = await migratingEnv();
    const k = env.machine;
    const migrator = k.sched.spawn('migrator', async () => {
      const range = mmuNotifierRangeInit(env.mm, MMU_NOTIFY_CLEAR, A, A + P);
      await mmuNotifierInvalidateRangeStart(range);
      k.pt.words[off] = PTE_PRESENT | PTE_WRITE | PTE_DIRTY | PTE_YOUNG;
      mmuNotifierInvalidateRangeEnd(range);
      unlockPage(k, pfn);
    });
    const c = await callRangeFault(env, A, 1, { defaultFlags: FAULT, input: [0x99n] });
    await k.sched.join(migrator);
    expect(c.ret).toBe(-EBUSY);
    // The waiting entry was not written: it still holds its input.
    expect(words(c.pfns)).toEqual([0x99n]);
    expect(c.faults).toEqual([]);
  });
});

describe('§3.5 PTE row "hwpoison / any other entry"', () => {
  it('no request: 0', async () => {
    const env = await anonEnv();
    setEntry(env, A, PTE_HWPOISON, 0);
    const c = await callRangeFault(env, A, 1, { input: [NOISE] });
    expect(c.ret).toBe(0);
    expect(words(c.pfns)).toEqual([0n]);
    expect(c.faults).toEqual([]);
  });

  it('REQ_FAULT: -EFAULT without a fault call, word untouched', async () => {
    const env = await anonEnv();
    setEntry(env, A, PTE_HWPOISON, 0);
    const c = await callRangeFault(env, A, 1, { defaultFlags: FAULT, input: [0x55n] });
    expect(c.ret).toBe(-EFAULT);
    expect(words(c.pfns)).toEqual([0x55n]);
    expect(c.faults).toEqual([]);
  });
});
