/**
 * The hugetlb pool (mm/hugetlb.c): 2 MiB pages reserved at boot for MAP_HUGETLB, with
 * reservations taken at mmap time so that faults do not fail later.
 * @module
 */
import { ENOMEM } from '../sim/errno.ts';
import { HPAGE_PMD_NR, PMD_SIZE, VM_NORESERVE } from './constants.ts';
import { PG_allocated, PG_anon, PG_head, PG_hugetlb } from './page-flags.ts';
import type { PhysMem } from './physmem.ts';
import type { Vma } from './vma.ts';

/** Pool of default-size (2 MiB) huge pages (`struct hstate`). */
export class HugetlbPool {
  /** Pages in the pool. */
  readonly nrHugePages: number;
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

  /** Reserves `count` huge pages from `pm` (fewer if memory runs out). */
  constructor(pm: PhysMem, count: number) {
    this.pm = pm;
    for (let i = 0; i < count; i++) {
      const pfn = pm.allocPages(9);
      if (pfn === 0) break;
      pm.refcount[pfn] = 0;
      for (let j = 0; j < HPAGE_PMD_NR; j++) pm.flags[pfn + j]! |= PG_hugetlb;
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
    for (let j = 0; j < HPAGE_PMD_NR; j++) {
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
  return Math.floor(vma.pageIndex(addr) / HPAGE_PMD_NR);
}

/**
 * `hugetlb_reserve_pages` for a private mapping (from `hugetlbfs_file_mmap`): reserves one huge
 * page per huge page of the VMA and makes the VMA the owner of a new reserve map. Returns 0 or
 * -ENOMEM when the pool's free pages cannot cover the reservations already made plus these.
 * VM_NORESERVE (MAP_NORESERVE) mappings reserve nothing.
 */
export function hugetlbReservePages(pool: HugetlbPool, vma: Vma): number {
  if ((vma.flags & VM_NORESERVE) !== 0) return 0;
  if (!pool.reserve(vma.size / PMD_SIZE)) return -ENOMEM;
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
