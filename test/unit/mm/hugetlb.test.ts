import { describe, expect, it } from 'vitest';
import {
  HPAGE_PMD_NR,
  MADV_DONTNEED,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_HUGETLB,
  MAP_NORESERVE,
  MAP_PRIVATE,
  MM_ANONPAGES,
  MREMAP_FIXED,
  MREMAP_MAYMOVE,
  PAGE_SIZE,
  PMD_SIZE,
  PROT_READ,
  PROT_WRITE,
} from '../../../src/mm/constants.ts';
import { HugetlbPool } from '../../../src/mm/hugetlb.ts';
import { MMU_NOTIFY_CLEAR, MMU_NOTIFY_UNMAP } from '../../../src/mm/mmu-notifier.ts';
import { PG_anon_exclusive, PG_hugetlb } from '../../../src/mm/page-flags.ts';
import { PhysMem } from '../../../src/mm/physmem.ts';
import { PTE_PRESENT } from '../../../src/mm/pte.ts';
import { BusError } from '../../../src/mm/signals.ts';
import { ENOMEM } from '../../../src/sim/errno.ts';
import { leafAt, MiB, pattern, recordInvalidations, rejectionOf, smallMachine } from './helpers.ts';

const RW = PROT_READ | PROT_WRITE;
const HUGE = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_HUGETLB;
const A = 0x4000_0000;

describe('HugetlbPool', () => {
  it('takes its pages from the allocator at boot, fewer when memory runs out', () => {
    const pm = new PhysMem(16 * MiB); // 6 free 2 MiB blocks
    const free = pm.freeFrames;
    const pool = new HugetlbPool(pm, 2);
    expect(pool.nrHugePages).toBe(2);
    expect(pool.freeHugePages).toBe(2);
    expect(pm.freeFrames).toBe(free - 2 * HPAGE_PMD_NR);
    const big = new HugetlbPool(pm, 10);
    expect(big.nrHugePages).toBe(4);
    expect(pm.freeFrames).toBe(0);
  });

  it('alloc hands out a free page with one reference; release puts it back clean; 0 when empty', () => {
    const pm = new PhysMem(16 * MiB);
    const pool = new HugetlbPool(pm, 1);
    const head = pool.alloc(false);
    expect(head).not.toBe(0);
    expect(head % HPAGE_PMD_NR).toBe(0);
    expect(pm.refcount[head]).toBe(1);
    expect(pm.flags[head + 100]! & PG_hugetlb).toBe(PG_hugetlb);
    expect(pool.freeHugePages).toBe(0);
    expect(pool.alloc(false)).toBe(0);
    pm.flags[head]! |= PG_anon_exclusive;
    pm.entireMapcount[head] = 1;
    pool.release(head);
    expect(pool.freeHugePages).toBe(1);
    expect(pm.refcount[head]).toBe(0);
    expect(pm.entireMapcount[head]).toBe(0);
    expect(pm.flags[head]! & PG_anon_exclusive).toBe(0);
    expect(pm.flags[head]! & PG_hugetlb).toBe(PG_hugetlb);
  });

  it('reservations hold pages back from unreserved allocations', () => {
    const pm = new PhysMem(16 * MiB);
    const pool = new HugetlbPool(pm, 2);
    expect(pool.reserve(3)).toBe(false);
    expect(pool.reserve(2)).toBe(true);
    expect(pool.alloc(false)).toBe(0);
    expect(pool.alloc(true)).not.toBe(0);
    expect(pool.resvHugePages).toBe(1);
    pool.unreserve(1);
    expect(pool.resvHugePages).toBe(0);
    expect(pool.alloc(false)).not.toBe(0);
  });
});

async function hugeProcess(hugetlbPages: number, length = PMD_SIZE) {
  const m = smallMachine({ hugetlbPages });
  const p = await m.createProcess();
  expect(await p.mmap(A, length, RW, HUGE, -1, 0)).toBe(A);
  return { m, p };
}

describe('hugetlb faults', () => {
  it('a read fault maps a zeroed 2 MiB page of the pool with a read-only PMD leaf', async () => {
    const { m, p } = await hugeProcess(2);
    expect(m.hugetlb.freeHugePages).toBe(2);
    expect(await p.read(A + 0x12345, 8)).toEqual(new Uint8Array(8));
    const e = leafAt(m, p.mm, A + 0x12345);
    expect([e.level, e.kind, e.leaf, e.write]).toEqual([2, PTE_PRESENT, true, false]);
    expect(m.pm.flags[e.pfn]! & PG_hugetlb).toBe(PG_hugetlb);
    expect(m.pm.entireMapcount[e.pfn]).toBe(1);
    expect(m.pm.refcount[e.pfn]).toBe(1);
    expect(m.hugetlb.freeHugePages).toBe(1);
    expect(p.mm.hugetlbPages).toBe(HPAGE_PMD_NR);
    expect(p.mm.rss[MM_ANONPAGES]).toBe(0); // hugetlb pages are not in rss
  });

  it('a write fault maps it writable and dirty; a write after a read reuses the page without invalidation', async () => {
    const { m, p } = await hugeProcess(2, 2 * PMD_SIZE);
    await p.write(A + PMD_SIZE + 5, pattern(16));
    const w = leafAt(m, p.mm, A + PMD_SIZE);
    expect([w.level, w.write, w.dirty]).toEqual([2, true, true]);
    expect(m.pm.readableBytes(w.pfn).subarray(5, 21)).toEqual(pattern(16));
    await p.read(A, 1);
    const r = leafAt(m, p.mm, A);
    expect(r.write).toBe(false);
    expect(m.hugetlb.freeHugePages).toBe(0);
    const rec = recordInvalidations(m);
    await p.write(A + 3 * PAGE_SIZE, new Uint8Array([1]));
    const after = leafAt(m, p.mm, A);
    expect([after.pfn, after.write]).toEqual([r.pfn, true]);
    expect(rec.events).toEqual([]);
    expect(p.mm.hugetlbPages).toBe(2 * HPAGE_PMD_NR);
  });

  it('private COW after fork copies the whole huge page into another one from the pool', async () => {
    const { m, p } = await hugeProcess(2);
    await p.write(A + PMD_SIZE - 64, pattern(64, 4));
    await p.write(A, pattern(8, 8));
    const old = leafAt(m, p.mm, A).pfn;
    const rec = recordInvalidations(m);
    const c = await p.fork();
    // copy_hugetlb_page_range() announces CLEAR (not PROTECTION_PAGE) over the VMA.
    expect(rec.events).toEqual([
      { mm: p.mm.id, event: MMU_NOTIFY_CLEAR, start: A, end: A + PMD_SIZE, owner: null },
    ]);
    expect(leafAt(m, c.mm, A).pfn).toBe(old);
    expect(leafAt(m, c.mm, A).write).toBe(false);
    expect(leafAt(m, p.mm, A).write).toBe(false);
    expect(m.pm.entireMapcount[old]).toBe(2);
    expect(m.pm.refcount[old]).toBe(2);
    expect(c.mm.hugetlbPages).toBe(HPAGE_PMD_NR);

    rec.events.length = 0;
    await c.write(A + 1, new Uint8Array([0xee]));
    expect(rec.events).toEqual([
      { mm: c.mm.id, event: MMU_NOTIFY_CLEAR, start: A, end: A + PMD_SIZE, owner: null },
    ]);
    const ce = leafAt(m, c.mm, A);
    expect(ce.pfn).not.toBe(old);
    expect([ce.level, ce.write]).toEqual([2, true]);
    expect(m.pm.flags[ce.pfn]! & PG_hugetlb).toBe(PG_hugetlb);
    expect(m.hugetlb.freeHugePages).toBe(0);
    expect(m.pm.entireMapcount[old]).toBe(1);
    expect(m.pm.refcount[old]).toBe(1);
    expect(m.pm.entireMapcount[ce.pfn]).toBe(1);
    expect(leafAt(m, p.mm, A).pfn).toBe(old);
    expect(await c.read(A + PMD_SIZE - 64, 64)).toEqual(pattern(64, 4));
    const mine = pattern(8, 8);
    mine[1] = 0xee;
    expect(await c.read(A, 8)).toEqual(mine);
    expect(await p.read(A, 8)).toEqual(pattern(8, 8));
  });

  it('a COW with the pool exhausted raises SIGBUS and leaves both mappings as they were', async () => {
    const { m, p } = await hugeProcess(1);
    await p.write(A, pattern(8));
    const old = leafAt(m, p.mm, A).pfn;
    const c = await p.fork();
    expect(m.hugetlb.freeHugePages).toBe(0);
    const err = await rejectionOf(c.write(A + 64, new Uint8Array([1])));
    expect(err).toBeInstanceOf(BusError);
    expect((err as BusError).addr).toBe(A + 64);
    expect(leafAt(m, c.mm, A).pfn).toBe(old);
    expect(m.pm.refcount[old]).toBe(2);
    expect(await c.read(A, 8)).toEqual(pattern(8));
  });

  it('munmap and exit give the huge pages back to the pool', async () => {
    const { m, p } = await hugeProcess(2, 2 * PMD_SIZE);
    await p.write(A, new Uint8Array([1]));
    await p.write(A + PMD_SIZE, new Uint8Array([1]));
    expect(m.hugetlb.freeHugePages).toBe(0);
    expect(await p.munmap(A, PMD_SIZE)).toBe(0);
    expect(m.hugetlb.freeHugePages).toBe(1);
    expect(p.mm.hugetlbPages).toBe(HPAGE_PMD_NR);
    await p.exit();
    expect(m.hugetlb.freeHugePages).toBe(2);
  });
});

describe('hugetlb reservations (hugetlb_reserve_pages, alloc_hugetlb_folio)', () => {
  it('mmap reserves one huge page per huge page mapped; more than the free unreserved ones is -ENOMEM', async () => {
    const m = smallMachine({ hugetlbPages: 3 });
    const p = await m.createProcess();
    expect(await p.mmap(A, 4 * PMD_SIZE, RW, HUGE, -1, 0)).toBe(-ENOMEM);
    expect(p.mm.vmaLookup(A)).toBeNull();
    expect(await p.mmap(A, 2 * PMD_SIZE, RW, HUGE, -1, 0)).toBe(A);
    expect([m.hugetlb.freeHugePages, m.hugetlb.resvHugePages]).toEqual([3, 2]);
    // Two pages are still free, but only one is not promised to the first mapping.
    const B = A + 8 * PMD_SIZE;
    expect(await p.mmap(B, 2 * PMD_SIZE, RW, HUGE, -1, 0)).toBe(-ENOMEM);
    expect(await p.mmap(B, PMD_SIZE, RW, HUGE, -1, 0)).toBe(B);
    expect(m.hugetlb.resvHugePages).toBe(3);
    // MAP_NORESERVE reserves nothing; its fault then finds no unreserved page: SIGBUS.
    const C = A + 16 * PMD_SIZE;
    expect(await p.mmap(C, PMD_SIZE, RW, HUGE | MAP_NORESERVE, -1, 0)).toBe(C);
    expect(m.hugetlb.resvHugePages).toBe(3);
    expect(await rejectionOf(p.write(C, new Uint8Array([1])))).toBeInstanceOf(BusError);
    // The reserved pages are there for their owners' faults.
    await p.write(A, new Uint8Array([1]));
    await p.write(A + PMD_SIZE, new Uint8Array([1]));
    await p.write(B, new Uint8Array([1]));
    expect([m.hugetlb.freeHugePages, m.hugetlb.resvHugePages]).toEqual([0, 0]);
  });

  it('a fault consumes the reservation of its index once; munmap gives back the unused ones', async () => {
    const { m, p } = await hugeProcess(3, 3 * PMD_SIZE);
    expect(m.hugetlb.resvHugePages).toBe(3);
    await p.write(A + PMD_SIZE, new Uint8Array([1]));
    expect([m.hugetlb.freeHugePages, m.hugetlb.resvHugePages]).toEqual([2, 2]);
    await p.read(A + PMD_SIZE + 4096, 1); // the same huge page: nothing more consumed
    expect(m.hugetlb.resvHugePages).toBe(2);
    // Unmapping the last huge page (never faulted) gives its reservation back.
    expect(await p.munmap(A + 2 * PMD_SIZE, PMD_SIZE)).toBe(0);
    expect([m.hugetlb.freeHugePages, m.hugetlb.resvHugePages]).toEqual([2, 1]);
    // Unmapping the faulted one frees the page and leaves the remaining reservation alone.
    expect(await p.munmap(A + PMD_SIZE, PMD_SIZE)).toBe(0);
    expect([m.hugetlb.freeHugePages, m.hugetlb.resvHugePages]).toEqual([3, 1]);
    await p.exit();
    expect([m.hugetlb.freeHugePages, m.hugetlb.resvHugePages]).toEqual([3, 0]);
  });

  it('MADV_DONTNEED restores the reservation of the page it frees; the next fault consumes it again', async () => {
    const { m, p } = await hugeProcess(1);
    await p.write(A, pattern(8));
    expect([m.hugetlb.freeHugePages, m.hugetlb.resvHugePages]).toEqual([0, 0]);
    expect(await p.madvise(A, PMD_SIZE, MADV_DONTNEED)).toBe(0);
    expect([m.hugetlb.freeHugePages, m.hugetlb.resvHugePages]).toEqual([1, 1]);
    // Another mapping cannot take the page back from the owner.
    expect(await p.mmap(A + 4 * PMD_SIZE, PMD_SIZE, RW, HUGE, -1, 0)).toBe(-ENOMEM);
    expect(await p.read(A, 8)).toEqual(new Uint8Array(8));
    expect([m.hugetlb.freeHugePages, m.hugetlb.resvHugePages]).toEqual([0, 0]);
  });

  it('mremap moves the reservations with the mapping', async () => {
    const { m, p } = await hugeProcess(2, 2 * PMD_SIZE);
    await p.write(A, new Uint8Array([7]));
    expect(m.hugetlb.resvHugePages).toBe(1);
    const N = A + 8 * PMD_SIZE;
    expect(await p.mremap(A, 2 * PMD_SIZE, 2 * PMD_SIZE, MREMAP_MAYMOVE | MREMAP_FIXED, N)).toBe(N);
    expect(m.hugetlb.resvHugePages).toBe(1);
    await p.write(N + PMD_SIZE, new Uint8Array([1])); // consumes the moved reservation
    expect([m.hugetlb.freeHugePages, m.hugetlb.resvHugePages]).toEqual([0, 0]);
    expect(await p.read(N, 1)).toEqual(new Uint8Array([7]));
    await p.exit();
    expect([m.hugetlb.freeHugePages, m.hugetlb.resvHugePages]).toEqual([2, 0]);
  });

  it('a forked child has no reservations: its first fault needs an unreserved page (SIGBUS without)', async () => {
    const { m, p } = await hugeProcess(2, 2 * PMD_SIZE);
    await p.write(A, new Uint8Array([1]));
    const c = await p.fork();
    expect([m.hugetlb.freeHugePages, m.hugetlb.resvHugePages]).toEqual([1, 1]);
    // The free page is the parent's reservation for A + 2 MiB: the child may not take it.
    expect(await rejectionOf(c.write(A + PMD_SIZE, new Uint8Array([1])))).toBeInstanceOf(BusError);
    await p.write(A + PMD_SIZE, new Uint8Array([2]));
    expect([m.hugetlb.freeHugePages, m.hugetlb.resvHugePages]).toEqual([0, 0]);
    await c.exit();
    await p.exit();
    expect([m.hugetlb.freeHugePages, m.hugetlb.resvHugePages]).toEqual([2, 0]);
  });

  it("the owner's COW with no unreserved page takes the page from the child (unmap_ref_private)", async () => {
    const { m, p } = await hugeProcess(1);
    await p.write(A, pattern(8));
    const old = leafAt(m, p.mm, A).pfn;
    const c = await p.fork();
    const rec = recordInvalidations(m);
    // cow_from_owner may not use the reservations, and there is no other page: the child loses
    // its mapping (UNMAP on its mm) and the parent's write reuses the page in place.
    await p.write(A + 1, new Uint8Array([0xaa]));
    expect(rec.events).toContainEqual({
      mm: c.mm.id,
      event: MMU_NOTIFY_UNMAP,
      start: A,
      end: A + PMD_SIZE,
      owner: null,
    });
    const e = leafAt(m, p.mm, A);
    expect([e.pfn, e.write]).toEqual([old, true]);
    expect([m.pm.entireMapcount[old], m.pm.refcount[old]]).toEqual([1, 1]);
    expect(c.mm.hugetlbPages).toBe(0);
    // HPAGE_RESV_UNMAPPED: the child's next fault there is SIGBUS, even with a free page.
    expect(await rejectionOf(c.read(A, 1))).toBeInstanceOf(BusError);
    const want = pattern(8);
    want[1] = 0xaa;
    expect(await p.read(A, 8)).toEqual(want);
  });
});
