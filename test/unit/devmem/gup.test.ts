/**
 * get_user_pages / pin_user_pages as device memory sees them: FOLL_WRITE breaks COW, device-
 * private pages are faulted back to RAM, FOLL_LONGTERM moves device-coherent pages out, pins
 * count GUP_PIN_COUNTING_BIAS, and fork copies a maybe-pinned anonymous page for the child.
 */
import { describe, expect, it } from 'vitest';
import type { Machine } from '../../../src/machine.ts';
import {
  MAP_FIXED,
  MAP_PRIVATE,
  MM_ANONPAGES,
  PROT_EXEC,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
} from '../../../src/mm/constants.ts';
import {
  FOLL_FORCE,
  FOLL_GET,
  FOLL_LONGTERM,
  FOLL_PIN,
  FOLL_WRITE,
  folioMaybeDmaPinned,
  GUP_PIN_COUNTING_BIAS,
  getUserPages,
  putUserPage,
  unpinUserPage,
} from '../../../src/mm/gup.ts';
import type { MmStruct } from '../../../src/mm/mm-struct.ts';
import { mmapReadLock, mmapReadUnlock } from '../../../src/mm/mmap-lock.ts';
import {
  MMU_NOTIFY_CLEAR,
  MMU_NOTIFY_MIGRATE,
  MMU_NOTIFY_PROTECTION_PAGE,
} from '../../../src/mm/mmu-notifier.ts';
import { PG_anon, PG_anon_exclusive } from '../../../src/mm/page-flags.ts';
import { ZERO_PFN } from '../../../src/mm/physmem.ts';
import type { Process } from '../../../src/mm/process.ts';
import { PTE_DEVICE_PRIVATE_WRITE, PTE_DIRTY, PTE_PRESENT } from '../../../src/mm/pte.ts';
import { EFAULT } from '../../../src/sim/errno.ts';
import { UsageError } from '../../../src/sim/errors.ts';
import {
  A,
  counts,
  FakeDevice,
  fillPages,
  isPattern,
  kindPfn,
  mapAnon,
  newMachine,
  P,
  pteOf,
  recordEvents,
  tuples,
} from './fake-device.ts';

async function boot(): Promise<{ m: Machine; p: Process; mm: MmStruct }> {
  const m = newMachine();
  const p = await m.createProcess();
  return { m, p, mm: p.mm };
}

async function gup(mm: MmStruct, start: number, n: number, flags: number): Promise<number[] | number> {
  await mmapReadLock(mm);
  try {
    return await getUserPages(mm, start, n, flags);
  } finally {
    mmapReadUnlock(mm);
  }
}

describe('references and pins', () => {
  it('FOLL_GET takes one reference per page; FOLL_PIN adds GUP_PIN_COUNTING_BIAS', async () => {
    const { m, p, mm } = await boot();
    await mapAnon(p, A, 2 * P);
    await fillPages(p, A, 2);
    const [p0, p1] = [kindPfn(m, mm, A)[1], kindPfn(m, mm, A + P)[1]];
    expect(await gup(mm, A, 2, FOLL_GET)).toEqual([p0, p1]);
    expect([counts(m, p0), counts(m, p1)]).toEqual([
      [2, 1],
      [2, 1],
    ]);
    putUserPage(mm, p0);
    putUserPage(mm, p1);
    expect(await gup(mm, A + 5, 1, FOLL_PIN)).toEqual([p0]);
    expect(counts(m, p0)).toEqual([1 + GUP_PIN_COUNTING_BIAS, 1]);
    expect([folioMaybeDmaPinned(mm, p0), folioMaybeDmaPinned(mm, p1)]).toEqual([true, false]);
    unpinUserPage(mm, p0);
    expect(counts(m, p0)).toEqual([1, 1]);
    expect(folioMaybeDmaPinned(mm, p0)).toBe(false);
    expect(() => unpinUserPage(mm, p0)).toThrow(UsageError);
  });

  it('checks its arguments and the mmap lock, and returns -EFAULT or the pages obtained so far', async () => {
    const { m, p, mm } = await boot();
    await mapAnon(p, A, P);
    await mapAnon(p, A + 2 * P, P, PROT_READ);
    await expect(gup(mm, A, 1, FOLL_GET | FOLL_PIN)).rejects.toThrow(UsageError);
    await expect(getUserPages(mm, A, 1, FOLL_GET)).rejects.toThrow(UsageError);
    expect(await gup(mm, A + P, 1, FOLL_GET)).toBe(-EFAULT);
    expect(await gup(mm, A + 2 * P, 1, FOLL_GET | FOLL_WRITE)).toBe(-EFAULT);
    // The first page is faulted in; the hole after it ends the walk.
    const got = await gup(mm, A, 3, FOLL_GET | FOLL_WRITE);
    expect(got).toEqual([kindPfn(m, mm, A)[1]]);
    // A read of an untouched page gives the zero page, without a reference.
    expect(await gup(mm, A + 2 * P, 1, FOLL_GET)).toEqual([ZERO_PFN]);
  });
});

describe('FOLL_WRITE', () => {
  it('breaks COW: the caller gets a private copy (CLEAR), the child keeps the original', async () => {
    const { m, p, mm } = await boot();
    await mapAnon(p, A, P);
    await fillPages(p, A, 1, 9);
    const shared = kindPfn(m, mm, A)[1];
    const child = await p.fork();
    const rec = recordEvents(m);
    const pages = await gup(mm, A, 1, FOLL_GET | FOLL_WRITE);
    rec.stop();
    expect(tuples(rec.events)).toEqual([[mm.id, MMU_NOTIFY_CLEAR, A, A + P, null]]);
    const mine = kindPfn(m, mm, A)[1];
    expect(pages).toEqual([mine]);
    expect(mine).not.toBe(shared);
    expect(pteOf(m, mm, A)!.write).toBe(true);
    expect(counts(m, mine)).toEqual([2, 1]);
    expect(counts(m, shared)).toEqual([1, 1]);
    expect(kindPfn(m, child.mm, A)).toEqual([PTE_PRESENT, shared]);
    // Writing through the reference (DMA) does not reach the child.
    m.pm.writeU32(mine, 0, 0x55aa55aa);
    expect(await p.load32(A)).toBe(0x55aa55aa);
    expect(isPattern(await child.read(A, P), 9)).toBe(true);
    putUserPage(mm, mine);
  });
});

describe('FOLL_PIN without FOLL_WRITE: gup_must_unshare', () => {
  it('a COW-shared page after fork is not pinned: the pinner gets an exclusive copy (CLEAR), read-only', async () => {
    const { m, p, mm } = await boot();
    await mapAnon(p, A, 2 * P);
    await fillPages(p, A, 2, 21);
    const shared = kindPfn(m, mm, A)[1];
    const child = await p.fork();
    expect(m.pm.flags[shared]! & PG_anon_exclusive).toBe(0);
    const rec = recordEvents(m);
    const pages = await gup(mm, A, 1, FOLL_PIN);
    rec.stop();
    expect(tuples(rec.events)).toEqual([[mm.id, MMU_NOTIFY_CLEAR, A, A + P, null]]);
    const mine = kindPfn(m, mm, A)[1];
    expect(pages).toEqual([mine]);
    expect(mine).not.toBe(shared);
    const e = pteOf(m, mm, A)!;
    expect([e.kind, e.write, (e.lo & PTE_DIRTY) !== 0]).toEqual([PTE_PRESENT, false, false]);
    expect(m.pm.flags[mine]! & PG_anon_exclusive).toBe(PG_anon_exclusive);
    expect(counts(m, mine)).toEqual([1 + GUP_PIN_COUNTING_BIAS, 1]);
    expect(counts(m, shared)).toEqual([1, 1]);
    expect(kindPfn(m, child.mm, A)).toEqual([PTE_PRESENT, shared]);
    expect(isPattern(m.pm.readableBytes(mine), 21)).toBe(true);
    // The pinner's later write reuses the exclusive page: the pin sees it (no copy, no CLEAR).
    const rec2 = recordEvents(m);
    await p.store32(A, 0x1234);
    rec2.stop();
    expect(rec2.events).toEqual([]);
    expect(kindPfn(m, mm, A)[1]).toBe(mine);
    expect(m.pm.readU32(mine, 0)).toBe(0x1234);
    expect(isPattern(await child.read(A, P), 21)).toBe(true);
    unpinUserPage(mm, mine);
    // FOLL_GET (not a pin) takes the shared page as it is.
    const next = kindPfn(m, mm, A + P)[1];
    expect(await gup(mm, A + P, 1, FOLL_GET)).toEqual([next]);
    expect(kindPfn(m, child.mm, A + P)[1]).toBe(next);
    putUserPage(mm, next);
  });

  it('an exclusive page, or one the child gave up, is pinned in place without a copy', async () => {
    const { m, p, mm } = await boot();
    await mapAnon(p, A, P);
    await fillPages(p, A, 1, 3);
    const pfn = kindPfn(m, mm, A)[1];
    const child = await p.fork();
    await child.exit();
    expect(m.pm.flags[pfn]! & PG_anon_exclusive).toBe(0);
    const rec = recordEvents(m);
    expect(await gup(mm, A, 1, FOLL_PIN)).toEqual([pfn]);
    rec.stop();
    expect(rec.events).toEqual([]);
    expect(m.pm.flags[pfn]! & PG_anon_exclusive).toBe(PG_anon_exclusive);
    expect(pteOf(m, mm, A)!.write).toBe(false);
    unpinUserPage(mm, pfn);
  });

  it('FOLL_LONGTERM read pins of a private file mapping or the zero page break COW; short-term pins do not', async () => {
    const { m, p, mm } = await boot();
    const fd = await p.createTmpFile(2 * P);
    expect(await p.pwrite(fd, new Uint8Array([5, 6, 7]), 0)).toBe(3);
    expect(await p.mmap(A, 2 * P, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 0)).toBe(A);
    await mapAnon(p, A + 4 * P, P, PROT_READ);
    await p.read(A, 1);
    const cache = kindPfn(m, mm, A)[1];
    // Short-term: the page-cache page itself (read-only pins do not observe later changes).
    expect(await gup(mm, A, 1, FOLL_PIN)).toEqual([cache]);
    unpinUserPage(mm, cache);
    const rec = recordEvents(m);
    const [copy] = (await gup(mm, A, 1, FOLL_PIN | FOLL_LONGTERM)) as number[];
    expect(copy).not.toBe(cache);
    expect(kindPfn(m, mm, A)[1]).toBe(copy);
    expect(m.pm.flags[copy!]! & (PG_anon | PG_anon_exclusive)).toBe(PG_anon | PG_anon_exclusive);
    expect(Array.from(m.pm.readableBytes(copy!).subarray(0, 3))).toEqual([5, 6, 7]);
    expect(pteOf(m, mm, A)!.write).toBe(false);
    // The zero page of a read-only private anonymous mapping: a zeroed exclusive page.
    await p.read(A + 4 * P, 1);
    expect(kindPfn(m, mm, A + 4 * P)[1]).toBe(ZERO_PFN);
    const [zcopy] = (await gup(mm, A + 4 * P, 1, FOLL_PIN | FOLL_LONGTERM)) as number[];
    rec.stop();
    expect(zcopy).not.toBe(ZERO_PFN);
    expect(kindPfn(m, mm, A + 4 * P)[1]).toBe(zcopy);
    expect(tuples(rec.events)).toEqual([
      [mm.id, MMU_NOTIFY_CLEAR, A, A + P, null],
      [mm.id, MMU_NOTIFY_CLEAR, A + 4 * P, A + 5 * P, null],
    ]);
    unpinUserPage(mm, copy!);
    unpinUserPage(mm, zcopy!);
  });
});

describe('check_vma_flags', () => {
  it('a read GUP needs VM_READ (write-only or exec-only VMAs are -EFAULT) unless FOLL_FORCE', async () => {
    const { m, p, mm } = await boot();
    await mapAnon(p, A, P, PROT_WRITE);
    await mapAnon(p, A + 2 * P, P, PROT_EXEC);
    await mapAnon(p, A + 4 * P, P, PROT_NONE);
    expect(await gup(mm, A, 1, FOLL_GET)).toBe(-EFAULT);
    expect(await gup(mm, A + 2 * P, 1, FOLL_GET)).toBe(-EFAULT);
    expect(await gup(mm, A + 4 * P, 1, FOLL_PIN)).toBe(-EFAULT);
    // A write GUP of the write-only VMA is allowed, and so is a forced read (VM_MAYREAD).
    const [w] = (await gup(mm, A, 1, FOLL_GET | FOLL_WRITE)) as number[];
    expect(w).toBe(kindPfn(m, mm, A)[1]);
    putUserPage(mm, w!);
    expect(await gup(mm, A + 2 * P, 1, FOLL_GET | FOLL_FORCE)).toEqual([ZERO_PFN]);
    // The CPU may still read the write-only page (x86: write implies read).
    expect(await p.load32(A)).toBe(0);
  });
});

describe('device memory', () => {
  it('device-private pages are faulted back to system memory, never returned', async () => {
    const { m, p, mm } = await boot();
    const dev = new FakeDevice(m);
    await mapAnon(p, A, 2 * P);
    await fillPages(p, A, 2, 50);
    await dev.migrateToDevice(mm, A, A + 2 * P);
    const rec = recordEvents(m);
    const pages = await gup(mm, A, 2, FOLL_PIN);
    rec.stop();
    if (typeof pages === 'number') throw new Error(`gup failed: ${pages}`);
    expect(dev.faults.map((f) => [f.address, f.page, f.write])).toEqual([
      [A, dev.first, false],
      [A + P, dev.first + 1, false],
    ]);
    expect(tuples(rec.events)).toEqual([
      [mm.id, MMU_NOTIFY_MIGRATE, A, A + P, dev.owner],
      [mm.id, MMU_NOTIFY_MIGRATE, A + P, A + 2 * P, dev.owner],
    ]);
    for (let i = 0; i < 2; i++) {
      expect(kindPfn(m, mm, A + i * P)).toEqual([PTE_PRESENT, pages[i]]);
      expect(pages[i]! < m.pm.ramFrames).toBe(true);
      expect(counts(m, pages[i]!)).toEqual([1 + GUP_PIN_COUNTING_BIAS, 1]);
      expect(isPattern(m.pm.readableBytes(pages[i]!), 50 + i)).toBe(true);
      unpinUserPage(mm, pages[i]!);
    }
    expect(dev.freed).toEqual([dev.first, dev.first + 1]);
  });

  it('FOLL_LONGTERM moves a device-coherent page to system memory first; a plain FOLL_GET leaves it', async () => {
    const { m, p, mm } = await boot();
    const dev = new FakeDevice(m, { coherent: true });
    await mapAnon(p, A, P);
    await fillPages(p, A, 1, 60);
    await dev.migrateToDevice(mm, A, A + P);
    const d = dev.first;
    expect(await gup(mm, A, 1, FOLL_GET)).toEqual([d]);
    expect(counts(m, d)).toEqual([2, 1]);
    putUserPage(mm, d);
    const rec = recordEvents(m);
    const pages = await gup(mm, A, 1, FOLL_PIN | FOLL_LONGTERM);
    rec.stop();
    const [kind, sys] = kindPfn(m, mm, A);
    expect([kind, pages]).toEqual([PTE_PRESENT, [sys]]);
    expect(sys < m.pm.ramFrames).toBe(true);
    expect(tuples(rec.events)).toEqual([[mm.id, MMU_NOTIFY_CLEAR, A, A + P, null]]);
    expect(counts(m, sys)).toEqual([1 + GUP_PIN_COUNTING_BIAS, 1]);
    expect(pteOf(m, mm, A)!.write).toBe(true);
    expect(dev.freed).toEqual([d]);
    expect(isPattern(await p.read(A, P), 60)).toBe(true);
    unpinUserPage(mm, sys);
  });
});

describe('fork of a pinned anonymous page', () => {
  it('copies it for the child at once; the parent keeps its writable, pinned page', async () => {
    const { m, p, mm } = await boot();
    await mapAnon(p, A, 2 * P);
    await fillPages(p, A, 2, 70);
    const [pinned, plain] = [kindPfn(m, mm, A)[1], kindPfn(m, mm, A + P)[1]];
    expect(await gup(mm, A, 1, FOLL_PIN | FOLL_WRITE)).toEqual([pinned]);
    const free0 = m.pm.freeFrames;
    const rec = recordEvents(m);
    const child = await p.fork();
    rec.stop();
    expect(tuples(rec.events)).toEqual([[mm.id, MMU_NOTIFY_PROTECTION_PAGE, A, A + 2 * P, null]]);
    // The parent's pinned page: untouched, still writable and exclusive.
    const parentPte = pteOf(m, mm, A)!;
    expect([parentPte.kind, parentPte.pfn, parentPte.write]).toEqual([PTE_PRESENT, pinned, true]);
    expect(counts(m, pinned)).toEqual([1 + GUP_PIN_COUNTING_BIAS, 1]);
    expect(m.pm.flags[pinned]! & PG_anon_exclusive).toBe(PG_anon_exclusive);
    // The child's copy: its own exclusive page, writable and dirty.
    const childPte = pteOf(m, child.mm, A)!;
    expect(childPte.kind).toBe(PTE_PRESENT);
    expect(childPte.pfn).not.toBe(pinned);
    expect([childPte.write, (childPte.lo & 0x20) !== 0]).toEqual([true, true]);
    expect(counts(m, childPte.pfn)).toEqual([1, 1]);
    expect(m.pm.flags[childPte.pfn]! & PG_anon_exclusive).toBe(PG_anon_exclusive);
    expect(isPattern(m.pm.readableBytes(childPte.pfn), 70)).toBe(true);
    // The unpinned page is shared copy-on-write as usual.
    expect(kindPfn(m, child.mm, A + P)).toEqual([PTE_PRESENT, plain]);
    expect([pteOf(m, mm, A + P)!.write, counts(m, plain)]).toEqual([false, [2, 2]]);
    expect(child.mm.rss[MM_ANONPAGES]).toBe(2);
    expect(m.pm.freeFrames).toBe(free0 - 1);
    // DMA into the pinned page is seen by the parent only; the child writes without a fault.
    m.pm.writeU32(pinned, 0, 0x0badf00d);
    expect(await p.load32(A)).toBe(0x0badf00d);
    expect(isPattern(await child.read(A, P), 70)).toBe(true);
    await child.store32(A, 0x12345678);
    expect(pteOf(m, child.mm, A)!.pfn).toBe(childPte.pfn);
    expect(await p.load32(A)).toBe(0x0badf00d);
    unpinUserPage(mm, pinned);
    expect(counts(m, pinned)).toEqual([1, 1]);
  });

  it('a device-private page is never pinned, so fork shares it', async () => {
    const { m, p, mm } = await boot();
    const dev = new FakeDevice(m);
    await mapAnon(p, A, P);
    await fillPages(p, A, 1);
    await dev.migrateToDevice(mm, A, A + P);
    expect(kindPfn(m, mm, A)).toEqual([PTE_DEVICE_PRIVATE_WRITE, dev.first]);
    const child = await p.fork();
    expect(kindPfn(m, child.mm, A)[1]).toBe(dev.first);
    expect(counts(m, dev.first)).toEqual([2, 2]);
  });
});
