/**
 * Device-exclusive access (mm/rmap.c make_device_exclusive, mm/memory.c): make_device_exclusive and every way the core ends it — CPU
 * read and write, another device, fork, munmap, mprotect — each with the invalidation it raises.
 */
import { describe, expect, it } from 'vitest';
import { makeDeviceExclusive } from '../../../src/devmem/device-exclusive.ts';
import type { Machine } from '../../../src/machine.ts';
import {
  MADV_HUGEPAGE,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_SHARED,
  MM_ANONPAGES,
  PMD_SIZE,
  PROT_READ,
} from '../../../src/mm/constants.ts';
import type { MmStruct } from '../../../src/mm/mm-struct.ts';
import { mmapReadLock, mmapReadUnlock } from '../../../src/mm/mmap-lock.ts';
import {
  MMU_NOTIFY_CLEAR,
  MMU_NOTIFY_EXCLUSIVE,
  MMU_NOTIFY_PROTECTION_PAGE,
  MMU_NOTIFY_PROTECTION_VMA,
  MMU_NOTIFY_UNMAP,
} from '../../../src/mm/mmu-notifier.ts';
import { PG_dirty } from '../../../src/mm/page-flags.ts';
import { pageLocked, unlockPage } from '../../../src/mm/page-lock.ts';
import type { Process } from '../../../src/mm/process.ts';
import { PTE_DEVICE_EXCLUSIVE, PTE_PRESENT, PTE_TABLE } from '../../../src/mm/pte.ts';
import { SegmentationFault } from '../../../src/mm/signals.ts';
import { EOPNOTSUPP } from '../../../src/sim/errno.ts';
import { UsageError } from '../../../src/sim/errors.ts';
import {
  A,
  counts,
  fillPages,
  isPattern,
  kindPfn,
  mapAnon,
  newMachine,
  P,
  pattern,
  pteOf,
  RW,
  recordEvents,
  tuples,
} from './fake-device.ts';

const OWNER = { device: 'atomics' };
const OTHER = { device: 'other' };

async function boot(): Promise<{ m: Machine; p: Process; mm: MmStruct }> {
  const m = newMachine();
  const p = await m.createProcess();
  return { m, p, mm: p.mm };
}

/** make_device_exclusive under the mmap read lock. */
async function exclusive(mm: MmStruct, addr: number, owner: unknown = OWNER): Promise<number> {
  await mmapReadLock(mm);
  try {
    return await makeDeviceExclusive(mm, addr, owner);
  } finally {
    mmapReadUnlock(mm);
  }
}

/** The driver done programming its atomic mapping: unlock and put the page. */
function release(m: Machine, pfn: number): void {
  unlockPage(m, pfn);
  m.putPage(pfn);
}

/** One anonymous page with data at A, made exclusive for OWNER and released by the driver. */
async function exclusivePage(seed = 1): Promise<{ m: Machine; p: Process; mm: MmStruct; pfn: number }> {
  const { m, p, mm } = await boot();
  await mapAnon(p, A, 2 * P);
  await fillPages(p, A, 2, seed);
  const pfn = await exclusive(mm, A);
  release(m, pfn);
  expect(kindPfn(m, mm, A)).toEqual([PTE_DEVICE_EXCLUSIVE, pfn]);
  return { m, p, mm, pfn };
}

describe('makeDeviceExclusive', () => {
  it('returns the page locked and referenced behind a device-exclusive entry, announced as EXCLUSIVE with the owner', async () => {
    const { m, p, mm } = await boot();
    await mapAnon(p, A, 2 * P);
    await fillPages(p, A, 2, 5);
    const pfn = kindPfn(m, mm, A + P)[1];
    const rec = recordEvents(m);
    expect(await exclusive(mm, A + P + 123)).toBe(pfn);
    rec.stop();
    expect(tuples(rec.events)).toEqual([[mm.id, MMU_NOTIFY_EXCLUSIVE, A + P, A + 2 * P, OWNER]]);
    expect(kindPfn(m, mm, A + P)).toEqual([PTE_DEVICE_EXCLUSIVE, pfn]);
    // The entry keeps the mapping's reference and mapcount; the caller holds one more and the lock.
    expect([counts(m, pfn), pageLocked(m, pfn)]).toEqual([[2, 1], true]);
    // The PTE's dirty bit moved to the folio.
    expect(m.pm.flags[pfn]! & PG_dirty).toBe(PG_dirty);
    expect(mm.rss[MM_ANONPAGES]).toBe(2);
    release(m, pfn);
    expect(counts(m, pfn)).toEqual([1, 1]);
  });

  it('needs the mmap lock', async () => {
    const { p, mm } = await boot();
    await mapAnon(p, A, P);
    await expect(makeDeviceExclusive(mm, A, OWNER)).rejects.toThrow(UsageError);
  });

  it('faults a missing page in writable first', async () => {
    const { m, p, mm } = await boot();
    await mapAnon(p, A, P);
    const pfn = await exclusive(mm, A);
    expect(pfn).toBeGreaterThan(0);
    expect(kindPfn(m, mm, A)).toEqual([PTE_DEVICE_EXCLUSIVE, pfn]);
    release(m, pfn);
  });

  it('refuses shared memory and file pages with -EOPNOTSUPP, leaving them mapped', async () => {
    const { m, p, mm } = await boot();
    expect(await p.mmap(A, P, RW, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, -1, 0)).toBe(A);
    const fd = await p.createTmpFile(P);
    expect(await p.mmap(A + P, P, RW, MAP_SHARED | MAP_FIXED, fd, 0)).toBe(A + P);
    const rec = recordEvents(m);
    expect(await exclusive(mm, A)).toBe(-EOPNOTSUPP);
    expect(await exclusive(mm, A + P)).toBe(-EOPNOTSUPP);
    rec.stop();
    expect(rec.events.filter((e) => e.event === MMU_NOTIFY_EXCLUSIVE)).toEqual([]);
    for (const addr of [A, A + P]) {
      const [kind, pfn] = kindPfn(m, mm, addr);
      expect(kind).toBe(PTE_PRESENT);
      // The page cache's reference and the mapping's: GUP's reference was given back.
      expect([counts(m, pfn), pageLocked(m, pfn)]).toEqual([[2, 1], false]);
    }
  });

  it('splits a PMD-mapped THP first (CLEAR over the PMD), keeping the folio whole', async () => {
    const { m, p, mm } = await boot();
    await mapAnon(p, A, PMD_SIZE);
    expect(await p.madvise(A, PMD_SIZE, MADV_HUGEPAGE)).toBe(0);
    await p.write(A + 3 * P, pattern(16, 3));
    const head = pteOf(m, mm, A, 2)!.pfn;
    const rec = recordEvents(m);
    expect(await exclusive(mm, A + 3 * P)).toBe(head + 3);
    rec.stop();
    expect(tuples(rec.events)).toEqual([
      [mm.id, MMU_NOTIFY_CLEAR, A, A + PMD_SIZE, null],
      [mm.id, MMU_NOTIFY_EXCLUSIVE, A + 3 * P, A + 4 * P, OWNER],
    ]);
    expect(pteOf(m, mm, A, 2)!.kind).toBe(PTE_TABLE);
    expect(kindPfn(m, mm, A + 3 * P)).toEqual([PTE_DEVICE_EXCLUSIVE, head + 3]);
    expect(kindPfn(m, mm, A + 4 * P)).toEqual([PTE_PRESENT, head + 4]);
    expect([m.pm.order[head], pageLocked(m, head + 3)]).toEqual([9, true]);
    release(m, head + 3);
    expect(await p.read(A + 3 * P, 16)).toEqual(pattern(16, 3));
  });

  it('breaks COW first: the exclusive page is a private copy', async () => {
    const { m, p, mm } = await boot();
    await mapAnon(p, A, P);
    await fillPages(p, A, 1, 8);
    const shared = kindPfn(m, mm, A)[1];
    const child = await p.fork();
    const rec = recordEvents(m);
    const pfn = await exclusive(mm, A);
    rec.stop();
    expect(pfn).not.toBe(shared);
    expect(tuples(rec.events)).toEqual([
      [mm.id, MMU_NOTIFY_CLEAR, A, A + P, null],
      [mm.id, MMU_NOTIFY_EXCLUSIVE, A, A + P, OWNER],
    ]);
    expect(kindPfn(m, child.mm, A)).toEqual([PTE_PRESENT, shared]);
    release(m, pfn);
    expect(isPattern(await child.read(A, P), 8)).toBe(true);
  });

  it("revokes another device's exclusivity first (EXCLUSIVE with owner null)", async () => {
    const { m, mm, pfn } = await exclusivePage();
    const rec = recordEvents(m);
    expect(await exclusive(mm, A, OTHER)).toBe(pfn);
    rec.stop();
    expect(tuples(rec.events)).toEqual([
      [mm.id, MMU_NOTIFY_EXCLUSIVE, A, A + P, null],
      [mm.id, MMU_NOTIFY_EXCLUSIVE, A, A + P, OTHER],
    ]);
    expect(kindPfn(m, mm, A)).toEqual([PTE_DEVICE_EXCLUSIVE, pfn]);
    release(m, pfn);
  });
});

describe('revocation', () => {
  it('a CPU read restores the PTE, writable, announced as EXCLUSIVE with owner null', async () => {
    const { m, p, mm, pfn } = await exclusivePage(20);
    const rec = recordEvents(m);
    expect(isPattern(await p.read(A, P), 20)).toBe(true);
    rec.stop();
    expect(tuples(rec.events)).toEqual([[mm.id, MMU_NOTIFY_EXCLUSIVE, A, A + P, null]]);
    const e = pteOf(m, mm, A)!;
    expect([e.kind, e.pfn, e.write]).toEqual([PTE_PRESENT, pfn, true]);
    expect(counts(m, pfn)).toEqual([1, 1]);
  });

  it('a CPU write goes to the same page', async () => {
    const { m, p, mm, pfn } = await exclusivePage();
    const rec = recordEvents(m);
    await p.store32(A + 4, 0xabcdef01);
    rec.stop();
    expect(tuples(rec.events)).toEqual([[mm.id, MMU_NOTIFY_EXCLUSIVE, A, A + P, null]]);
    expect(kindPfn(m, mm, A)).toEqual([PTE_PRESENT, pfn]);
    expect(m.pm.readU32(pfn, 4)).toBe(0xabcdef01);
  });

  it('a CPU access waits while the driver still holds the page lock', async () => {
    const { m, p, mm } = await boot();
    await mapAnon(p, A, P);
    await fillPages(p, A, 1, 22);
    const pfn = await exclusive(mm, A);
    const cpu = m.sched.spawn('cpu', () => p.read(A, 4));
    const driver = m.sched.spawn('driver', () => {
      // The CPU thread is asleep on the page lock; exclusivity holds.
      expect(cpu.state).toBe('blocked');
      expect(kindPfn(m, mm, A)).toEqual([PTE_DEVICE_EXCLUSIVE, pfn]);
      release(m, pfn);
    });
    expect(await m.sched.join(cpu)).toEqual(pattern(P, 22).subarray(0, 4));
    await m.sched.join(driver);
    expect(kindPfn(m, mm, A)).toEqual([PTE_PRESENT, pfn]);
  });

  it("fork restores the parent's PTE before copying (PROTECTION_PAGE); both map the page read-only", async () => {
    const { m, p, mm, pfn } = await exclusivePage(30);
    const rec = recordEvents(m);
    const child = await p.fork();
    rec.stop();
    expect(tuples(rec.events)).toEqual([[mm.id, MMU_NOTIFY_PROTECTION_PAGE, A, A + 2 * P, null]]);
    for (const who of [mm, child.mm]) {
      const e = pteOf(m, who, A)!;
      expect([e.kind, e.pfn, e.write]).toEqual([PTE_PRESENT, pfn, false]);
    }
    expect(counts(m, pfn)).toEqual([2, 2]);
    expect(child.mm.rss[MM_ANONPAGES]).toBe(2);
    // Copy-on-write from here.
    await child.store32(A, 7);
    expect(isPattern(await p.read(A, P), 30)).toBe(true);
  });

  it('munmap drops the entry (UNMAP) and the page', async () => {
    const { m, p, mm, pfn } = await exclusivePage();
    const rec = recordEvents(m);
    expect(await p.munmap(A, P)).toBe(0);
    rec.stop();
    expect(tuples(rec.events)).toEqual([[mm.id, MMU_NOTIFY_UNMAP, A, A + P, null]]);
    expect(m.pm.refcount[pfn]).toBe(0);
    expect(mm.rss[MM_ANONPAGES]).toBe(1);
  });

  it('mprotect announces PROTECTION_VMA over it; the CPU then gets the page back read-only', async () => {
    const { m, p, mm, pfn } = await exclusivePage(40);
    const rec = recordEvents(m);
    expect(await p.mprotect(A, 2 * P, PROT_READ)).toBe(0);
    rec.stop();
    expect(tuples(rec.events)).toEqual([[mm.id, MMU_NOTIFY_PROTECTION_VMA, A, A + 2 * P, null]]);
    expect(isPattern(await p.read(A, P), 40)).toBe(true);
    const e = pteOf(m, mm, A)!;
    expect([e.kind, e.pfn, e.write]).toEqual([PTE_PRESENT, pfn, false]);
    await expect(p.store32(A, 1)).rejects.toThrow(SegmentationFault);
  });
});
