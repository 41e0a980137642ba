/**
 * The hugetlb pools (mm/hugetlb.c), one per huge page size (`struct hstate`): 2 MiB pages, mapped
 * by a PMD leaf, and 1 GiB (gigantic) pages, mapped by a PUD leaf, reserved at boot for
 * MAP_HUGETLB and hugetlbfs files, with reservations taken at mmap time so that faults do not
 * fail later.
 * @module
 */
import { ENOMEM } from '../sim/errno.ts';
import { HPAGE_PMD_ORDER, HPAGE_PUD_ORDER, PAGE_SIZE, VM_NORESERVE } from './constants.ts';
import type { Kernel } from './kernel.ts';
import { PG_allocated, PG_anon, PG_head, PG_hugetlb } from './page-flags.ts';
import type { PtLevel } from './page-table.ts';
import type { PhysMem } from './physmem.ts';
import type { Vma } from './vma.ts';

/** Pool of huge pages of one size (`struct hstate`): 2 MiB (order 9) or 1 GiB (order 18). */
export class HugetlbPool {
  /** Pages in the pool (`nr_hugepages`). */
  readonly nrHugePages: number;
  /** `huge_page_order`: 9 (2 MiB) or 18 (1 GiB). */
  readonly order: number;
  /** `pages_per_huge_page`. */
  readonly pagesPerHugePage: number;
  /** `huge_page_size` in bytes. */
  readonly size: number;
  /** The page-table level whose leaf maps one of its pages: 2 (PMD) or 3 (PUD). */
  readonly level: PtLevel;
  /** Free huge pages (head pfns). */
  private readonly free: number[] = [];
  /**
   * `resv_huge_pages`: free pages promised to mappings but not yet faulted (HugePages_Rsvd). May
   * be negative for a while (see {@link unreserve}).
   */
  resvHugePages = 0;
  /** Heads of in-use pages with HPageRestoreReserve: freeing one gives its reservation back. */
  private readonly restoreReserve = new Set<number>();
  private readonly pm: PhysMem;

  /**
   * Reserves `count` huge pages of `order` from `pm` (fewer if memory runs out): 2 MiB pages from
   * the page allocator, gigantic ones as aligned runs of free memory, as boot does.
   */
  constructor(pm: PhysMem, count: number, order: number = HPAGE_PMD_ORDER) {
    this.pm = pm;
    this.order = order;
    this.pagesPerHugePage = 2 ** order;
    this.size = this.pagesPerHugePage * PAGE_SIZE;
    this.level = order === HPAGE_PUD_ORDER ? 3 : 2;
    for (let i = 0; i < count; i++) {
      const pfn = order > HPAGE_PMD_ORDER ? pm.allocGigantic(order) : pm.allocPages(order);
      if (pfn === 0) break;
      pm.refcount[pfn] = 0;
      for (let j = 0; j < this.pagesPerHugePage; j++) pm.flags[pfn + j]! |= PG_hugetlb;
      this.free.push(pfn);
    }
    this.nrHugePages = this.free.length;
  }

  /** Free huge pages (HugePages_Free). */
  get freeHugePages(): number {
    return this.free.length;
  }

  /** Same as {@link resvHugePages}. */
  get reserved(): number {
    return this.resvHugePages;
  }

  /** `available_huge_pages`: free pages no reservation holds. */
  get availableHugePages(): number {
    return this.free.length - this.resvHugePages;
  }

  /**
   * `hugetlb_acct_memory(h, n)` for n > 0: takes `n` reservations; false (-ENOMEM) when the free
   * pages cannot cover them (there are no surplus pages: nr_overcommit_hugepages is 0).
   */
  reserve(n: number): boolean {
    if (this.resvHugePages + n > this.free.length) return false;
    this.resvHugePages += n;
    return true;
  }

  /**
   * `hugetlb_acct_memory(h, -n)`: gives back `n` unused reservations. Not clamped: when an owner
   * unmaps a page a forked child still maps, the index gets its reservation back in the map at
   * once but the count only when the page is freed, so closing the VMA first takes the count
   * below zero for a while (the kernel's unsigned counter wraps the same way).
   */
  unreserve(n: number): void {
    this.resvHugePages -= n;
  }

  /**
   * `dequeue_hugetlb_folio_vma`: takes a free huge page with one reference; `reserved` consumes a
   * reservation (and marks the page HPageRestoreReserve until it is mapped), otherwise only a
   * page no reservation holds may be taken. 0 when none.
   */
  alloc(reserved: boolean): number {
    if (!reserved && this.availableHugePages <= 0) return 0;
    const pfn = this.free.pop();
    if (pfn === undefined) return 0;
    if (reserved) {
      this.resvHugePages--;
      this.restoreReserve.add(pfn);
    }
    this.pm.refcount[pfn] = 1;
    return pfn;
  }

  /** The page flags of `pfn`. */
  pageFlags(pfn: number): number {
    return this.pm.flags[pfn]!;
  }

  /** `folio_set_hugetlb_restore_reserve`. */
  setRestoreReserve(head: number): void {
    this.restoreReserve.add(head);
  }

  /** `folio_clear_hugetlb_restore_reserve`. */
  clearRestoreReserve(head: number): void {
    this.restoreReserve.delete(head);
  }

  /** `folio_test_hugetlb_restore_reserve`. */
  testRestoreReserve(head: number): boolean {
    return this.restoreReserve.has(head);
  }

  /**
   * `free_huge_folio`: returns a huge page whose last reference went away; one marked
   * HPageRestoreReserve gives its reservation back (`resv_huge_pages++`).
   */
  release(pfn: number): void {
    const pm = this.pm;
    for (let j = 0; j < this.pagesPerHugePage; j++) {
      pm.mapcount[pfn + j] = 0;
      pm.flags[pfn + j] = PG_hugetlb | PG_allocated | (j === 0 ? PG_head : 0);
      pm.mapping[pfn + j] = 0;
      pm.index[pfn + j] = 0;
    }
    pm.entireMapcount[pfn] = 0;
    pm.refcount[pfn] = 0;
    if (this.restoreReserve.delete(pfn)) this.resvHugePages++;
    this.free.push(pfn);
  }
}

/**
 * `struct resv_map` of a private hugetlb mapping, shared by the pieces of a split or moved VMA of
 * the process that mapped it (HPAGE_RESV_OWNER). For private mappings the map has the opposite
 * meaning to a shared one: an index listed here has had its reservation consumed; an index not
 * listed still has one.
 */
export class ResvMap {
  /** Huge-page indices (`vma_hugecache_offset`) whose reservation was consumed. */
  readonly consumed = new Set<number>();
  /** kref. */
  refs = 1;
}

/** `vma_hugecache_offset`: the huge-page index of `addr` in the mapping. */
export function vmaHugecacheOffset(vma: Vma, addr: number): number {
  return Math.floor(vma.pageIndex(addr) / 2 ** vma.hugetlbOrder);
}

/** `hstate_vma`: the pool of the huge page size `vma` maps. */
export function hstateVma(vma: Vma): HugetlbPool {
  return hstateOrder(vma.mm.kernel, vma.hugetlbOrder);
}

/** The pool of huge pages of `order` (9 or 18) of `k`. */
export function hstateOrder(k: Kernel, order: number): HugetlbPool {
  return order === HPAGE_PUD_ORDER ? k.hugetlbGigantic : k.hugetlb;
}

/**
 * `size_to_hstate` for the size log2 of MAP_HUGE_* / MFD_HUGE_* bits: the order of the huge page
 * size it names (0 names the default, 2 MiB), or -1 when there is no such size. x86-64 has both
 * sizes (the 1 GiB hstate exists with gbpages whether or not boot reserved pages for it).
 */
export function hugetlbOrderOfSizeLog(sizeLog: number): number {
  if (sizeLog === 0 || sizeLog === HPAGE_PMD_ORDER + 12) return HPAGE_PMD_ORDER;
  if (sizeLog === HPAGE_PUD_ORDER + 12) return HPAGE_PUD_ORDER;
  return -1;
}

/**
 * `hugetlb_reserve_pages` for a private mapping (from `hugetlbfs_file_mmap`): reserves one huge
 * page per huge page of the VMA and makes the VMA the owner of a new reserve map. Returns 0 or
 * -ENOMEM when the pool's free pages cannot cover the reservations already made plus these.
 * VM_NORESERVE (MAP_NORESERVE) mappings reserve nothing.
 */
export function hugetlbReservePages(pool: HugetlbPool, vma: Vma): number {
  if ((vma.flags & VM_NORESERVE) !== 0) return 0;
  if (!pool.reserve(vma.size / pool.size)) return -ENOMEM;
  vma.hugetlbResvMap = new ResvMap();
  return 0;
}

/**
 * `hugetlb_vm_op_open` after `vm_area_dup` (a split, or mremap's `copy_vma`): `dst` shares
 * `src`'s reserve map and flags (HPAGE_RESV_UNMAPPED).
 */
export function hugetlbVmOpOpen(src: Vma, dst: Vma): void {
  dst.hugetlbResvUnmapped = src.hugetlbResvUnmapped;
  const resv = src.hugetlbResvMap;
  if (resv === null) return;
  resv.refs++;
  dst.hugetlbResvMap = resv;
}

/**
 * `hugetlb_vm_op_close`: an owner VMA going away gives back the reservations of its range that
 * were not consumed, and drops its reference to the map.
 */
export function hugetlbVmOpClose(pool: HugetlbPool, vma: Vma): void {
  const resv = vma.hugetlbResvMap;
  if (resv === null) return;
  const start = vmaHugecacheOffset(vma, vma.start);
  const end = vmaHugecacheOffset(vma, vma.end);
  let consumed = 0;
  for (const idx of resv.consumed) if (idx >= start && idx < end) consumed++;
  pool.unreserve(end - start - consumed);
  clearVmaResvHugePages(vma);
}

/** `clear_vma_resv_huge_pages`: the VMA forgets its reserve map without giving anything back. */
export function clearVmaResvHugePages(vma: Vma): void {
  const resv = vma.hugetlbResvMap;
  if (resv === null) return;
  resv.refs--;
  vma.hugetlbResvMap = null;
}

/**
 * `alloc_hugetlb_folio`: a huge page for a fault at `addr`. The owner's first fault at an index
 * consumes the reservation made at mmap (`vma_needs_reservation` 0), recorded in the reserve map
 * (`vma_commit_reservation`). Every other allocation (a forked child, an index whose reservation
 * is gone, and any copy-on-write by the owner, `cow_from_owner`) needs a free page no
 * reservation holds. Returns the head pfn with one reference, or 0 (-ENOSPC).
 */
export function allocHugetlbFolio(pool: HugetlbPool, vma: Vma, addr: number, cowFromOwner: boolean): number {
  const resv = vma.hugetlbResvMap;
  const idx = vmaHugecacheOffset(vma, addr);
  const useReserve = !cowFromOwner && resv !== null && !resv.consumed.has(idx);
  const head = pool.alloc(useReserve);
  if (head === 0) return 0;
  if (!cowFromOwner && resv !== null) resv.consumed.add(idx);
  return head;
}

/**
 * The reservation part of `__unmap_hugepage_range` for an anonymous huge page `head` unmapped at
 * `addr` of an owner VMA: the page is marked HPageRestoreReserve (its free gives a reservation
 * back) and the index gets its reservation again in the map (`vma_add_reservation`).
 */
export function hugetlbZapRestoreReserve(pool: HugetlbPool, vma: Vma, addr: number, head: number): void {
  const resv = vma.hugetlbResvMap;
  if (resv === null || (pool.pageFlags(head) & PG_anon) === 0) return;
  pool.setRestoreReserve(head);
  resv.consumed.delete(vmaHugecacheOffset(vma, addr));
}
