/**
 * Device-exclusive access (mm/rmap.c `make_device_exclusive`, ~6.15+): a device takes one
 * anonymous page for itself (atomics); the CPU's PTE becomes a device-exclusive entry until a
 * CPU access, fork, munmap, mprotect or reclaim ends it.
 * @module
 */
import { HMM_WALK_PAGE_NS, HMM_WALK_PASS_NS } from '../hmm/hmm-range-fault.ts';
import { PAGE_SIZE, PMD_SIZE } from '../mm/constants.ts';
import { FOLL_GET, FOLL_WRITE, getUserPages } from '../mm/gup.ts';
import { splitHugePmd } from '../mm/huge-memory.ts';
import type { MmStruct } from '../mm/mm-struct.ts';
import {
  MMU_NOTIFY_EXCLUSIVE,
  mmuNotifierInvalidateRangeEnd,
  mmuNotifierInvalidateRangeStart,
  mmuNotifierRangeInit,
} from '../mm/mmu-notifier.ts';
import { PG_anon, PG_dirty, PG_hugetlb } from '../mm/page-flags.ts';
import { lockPage, unlockPage } from '../mm/page-lock.ts';
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
import { EOPNOTSUPP } from '../sim/errno.ts';
import { UsageError } from '../sim/errors.ts';

/**
 * `make_device_exclusive(mm, addr, owner)`: faults the page in writable (splitting a THP,
 * breaking COW, revoking another device's exclusivity), then replaces its PTE with a
 * device-exclusive entry, announced as EXCLUSIVE with `owner`. Resolves to the page's pfn —
 * returned locked and referenced, the caller unlocks and puts it — or -errno (-EOPNOTSUPP for a
 * page that is not anonymous, or hugetlb). The caller holds the mmap read lock.
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
    // FOLL_SPLIT_PMD: the entry must be a PTE.
    const pmdOff = findEntry(k.pt, mm.pgd, addr / PAGE_SIZE, 2);
    const vma = mm.vmaLookup(addr);
    if (pmdOff >= 0 && (k.pt.words[pmdOff]! & PTE_LEAF) !== 0 && vma !== null && !vma.isHugetlb) {
      await splitHugePmd(mm, Math.floor(addr / PMD_SIZE) * PMD_SIZE);
    }
    const pages = await getUserPages(mm, addr, 1, FOLL_GET | FOLL_WRITE);
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
