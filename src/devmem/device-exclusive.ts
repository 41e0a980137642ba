/**
 * Device-exclusive access (mm/rmap.c `make_device_exclusive`, ~6.15+): a device takes one
 * anonymous page for itself (atomics); the CPU's PTE becomes a device-exclusive entry until a
 * CPU access, fork, munmap, mprotect or reclaim ends it.
 * @module
 */
import { HMM_WALK_PAGE_NS, HMM_WALK_PASS_NS } from '../hmm/hmm-range-fault.ts';
import { PAGE_SIZE, PMD_SIZE } from '../mm/constants.ts';
import { FOLL_GET, FOLL_SPLIT_PMD, FOLL_WRITE, getUserPages } from '../mm/gup.ts';
import { splitHugePmd } from '../mm/huge-memory.ts';
import type { MmStruct } from '../mm/mm-struct.ts';
import {
  MMU_NOTIFY_EXCLUSIVE,
  mmuNotifierInvalidateRangeEnd,
  mmuNotifierInvalidateRangeStart,
  mmuNotifierRangeInit,
} from '../mm/mmu-notifier.ts';
import { PG_anon, PG_dirty, PG_hugetlb } from '../mm/page-flags.ts';
import { lockPage, trylockPage, unlockPage } from '../mm/page-lock.ts';
import { findEntry } from '../mm/page-table.ts';
import {
  PTE_DEVICE_EXCLUSIVE,
  PTE_DIRTY,
  PTE_KIND_MASK,
  PTE_LEAF,
  PTE_PRESENT,
  PTE_SOFT_DIRTY,
  PTE_WRITE,
} from '../mm/pte.ts';
import { rmapWalk } from '../mm/rmap.ts';
import { EOPNOTSUPP } from '../sim/errno.ts';
import { UsageError } from '../sim/errors.ts';

/**
 * `make_device_exclusive(mm, addr, owner)`: faults the page in writable (splitting a THP,
 * breaking COW, revoking another device's exclusivity), then replaces its PTE with a
 * device-exclusive entry, announced as EXCLUSIVE with `owner`. Resolves to the page's pfn —
 * returned locked and referenced, the caller unlocks and puts it — or -errno (-EOPNOTSUPP for a
 * page that is not anonymous, or hugetlb: GUP refuses FOLL_SPLIT_PMD on a hugetlb VMA before
 * faulting anything in). The caller holds the mmap read lock.
 */
export async function makeDeviceExclusive(mm: MmStruct, addr: number, owner: unknown): Promise<number> {
  if (!mm.mmapLock.heldByCurrent())
    throw new UsageError('makeDeviceExclusive', `the caller must hold the mmap lock of mm ${mm.id}`);
  const k = mm.kernel;
  const pm = k.pm;
  addr = Math.floor(addr / PAGE_SIZE) * PAGE_SIZE;
  for (;;) {
    // A page walk and a fault, like one pass of hmm_range_fault: a loop calling only this
    // function sees time pass, so its HMM_RANGE_DEFAULT_TIMEOUT can expire.
    k.sched.clock.advance(HMM_WALK_PASS_NS + HMM_WALK_PAGE_NS);
    // FOLL_SPLIT_PMD: the entry must be a PTE (a hugetlb VMA is refused by GUP, unfaulted).
    const pmdOff = findEntry(k.pt, mm.pgd, addr / PAGE_SIZE, 2);
    const vma = mm.vmaLookup(addr);
    if (pmdOff >= 0 && (k.pt.words[pmdOff]! & PTE_LEAF) !== 0 && vma !== null && !vma.isHugetlb) {
      await splitHugePmd(mm, Math.floor(addr / PMD_SIZE) * PMD_SIZE);
    }
    const pages = await getUserPages(mm, addr, 1, FOLL_GET | FOLL_WRITE | FOLL_SPLIT_PMD);
    if (typeof pages === 'number') return pages;
    const pfn = pages[0]!;
    if ((pm.flags[pfn]! & PG_anon) === 0 || (pm.flags[pfn]! & PG_hugetlb) !== 0) {
      k.putPage(pfn);
      return -EOPNOTSUPP;
    }
    await lockPage(k, pfn);
    const range = mmuNotifierRangeInit(mm, MMU_NOTIFY_EXCLUSIVE, addr, addr + PAGE_SIZE, owner);
    await mmuNotifierInvalidateRangeStart(range);
    const off = findEntry(k.pt, mm.pgd, addr / PAGE_SIZE, 1);
    const lo = off >= 0 ? k.pt.words[off]! : 0;
    if (
      off < 0 ||
      (lo & PTE_KIND_MASK) !== PTE_PRESENT ||
      (lo & PTE_WRITE) === 0 ||
      k.pt.words[off + 1] !== pfn
    ) {
      // The page moved under us: start over.
      mmuNotifierInvalidateRangeEnd(range);
      unlockPage(k, pfn);
      k.putPage(pfn);
      continue;
    }
    if ((lo & PTE_DIRTY) !== 0) pm.flags[pfn]! |= PG_dirty;
    // The entry keeps the mapping's reference and mapcount.
    k.pt.words[off] = PTE_DEVICE_EXCLUSIVE | (lo & PTE_SOFT_DIRTY);
    mmuNotifierInvalidateRangeEnd(range);
    return pfn;
  }
}

/**
 * `make_device_exclusive_range(mm, start, end, pages, owner)` as Linux 6.12 has it (before the
 * v6.15 rework into {@link makeDeviceExclusive}): GUP takes every page of the range writable
 * (FOLL_SPLIT_PMD), then each page that heads an anonymous, non-hugetlb folio and can be locked
 * is made device-exclusive with its whole folio. Resolves to one entry per page GUP returned —
 * the pfn, locked and referenced (the caller unlocks and puts it), or 0 for a page that was not
 * made exclusive (a tail page of a large folio, hugetlb, shared or file memory) — or to -errno
 * when GUP got no page at all. Fewer entries than pages means GUP stopped early. The caller
 * holds the mmap read lock.
 */
export async function makeDeviceExclusiveRange(
  mm: MmStruct,
  start: number,
  end: number,
  owner: unknown,
): Promise<number[] | number> {
  if (!mm.mmapLock.heldByCurrent())
    throw new UsageError('makeDeviceExclusiveRange', `the caller must hold the mmap lock of mm ${mm.id}`);
  const k = mm.kernel;
  const pm = k.pm;
  start = Math.floor(start / PAGE_SIZE) * PAGE_SIZE;
  const pages: number[] = [];
  for (let addr = start; addr < end; addr += PAGE_SIZE) {
    k.sched.clock.advance(HMM_WALK_PASS_NS + HMM_WALK_PAGE_NS);
    const pmdOff = findEntry(k.pt, mm.pgd, addr / PAGE_SIZE, 2);
    const vma = mm.vmaLookup(addr);
    if (pmdOff >= 0 && (k.pt.words[pmdOff]! & PTE_LEAF) !== 0 && vma !== null && !vma.isHugetlb) {
      await splitHugePmd(mm, Math.floor(addr / PMD_SIZE) * PMD_SIZE);
    }
    const got = await getUserPages(mm, addr, 1, FOLL_GET | FOLL_WRITE | FOLL_SPLIT_PMD);
    if (typeof got === 'number') {
      if (pages.length === 0) return got;
      break;
    }
    pages.push(got[0]!);
  }
  for (let i = 0; i < pages.length; i++) {
    const pfn = pages[i]!;
    // PageTail: only a folio's first page can be made exclusive (with its whole folio).
    if (pm.folioHead(pfn) !== pfn || !trylockPage(k, pfn)) {
      k.putPage(pfn);
      pages[i] = 0;
      continue;
    }
    if (!(await folioMakeDeviceExclusive(mm, start + i * PAGE_SIZE, pfn, owner))) {
      unlockPage(k, pfn);
      k.putPage(pfn);
      pages[i] = 0;
    }
  }
  return pages;
}

/**
 * 6.12's `folio_make_device_exclusive`: an rmap walk replaces every PTE mapping the folio with a
 * device-exclusive entry, announced as EXCLUSIVE with `owner` once per VMA; true when the page at
 * `addr` of `mm` was mapped writable and no mapping is left. Simplification: hmmsim has only
 * writable device-exclusive entries, so a folio that is also mapped read-only, by a PMD, by
 * another process, or by a non-present entry is refused as a whole (6.12 would convert the other
 * present mappings too, with readable entries, and refuse only for a non-present one).
 */
async function folioMakeDeviceExclusive(
  mm: MmStruct,
  addr: number,
  head: number,
  owner: unknown,
): Promise<boolean> {
  const k = mm.kernel;
  const pm = k.pm;
  // Restricted to anonymous folios (writeback of file folios).
  if ((pm.flags[head]! & PG_anon) === 0 || (pm.flags[head]! & PG_hugetlb) !== 0) return false;
  const hits = rmapWalk(k, head);
  let found = false;
  for (const h of hits) {
    const lo = k.pt.words[h.off]!;
    if (h.level !== 1 || h.vma.mm !== mm || (lo & PTE_KIND_MASK) !== PTE_PRESENT || (lo & PTE_WRITE) === 0)
      return false;
    if (h.addr === addr) found = true;
  }
  if (!found) return false;
  const folioSize = pm.folioNrPages(head) * PAGE_SIZE;
  for (let i = 0; i < hits.length; ) {
    const vma = hits[i]!.vma;
    const first = hits[i]!.addr;
    const range = mmuNotifierRangeInit(
      mm,
      MMU_NOTIFY_EXCLUSIVE,
      first,
      Math.min(vma.end, first + folioSize),
      owner,
    );
    await mmuNotifierInvalidateRangeStart(range);
    for (; i < hits.length && hits[i]!.vma === vma; i++) {
      const off = hits[i]!.off;
      const lo = k.pt.words[off]!;
      if ((lo & PTE_DIRTY) !== 0) pm.flags[head]! |= PG_dirty;
      // As in makeDeviceExclusive, the entry keeps the mapping's reference and mapcount.
      k.pt.words[off] = PTE_DEVICE_EXCLUSIVE | (lo & PTE_SOFT_DIRTY);
    }
    mmuNotifierInvalidateRangeEnd(range);
  }
  return true;
}
