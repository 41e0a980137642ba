/**
 * The hugetlb pool (mm/hugetlb.c): 2 MiB pages reserved at boot for MAP_HUGETLB, with
 * reservations taken at mmap time so that faults do not fail later.
 * @module
 */
import { HPAGE_PMD_NR } from './constants.ts';
import { PG_allocated, PG_head, PG_hugetlb } from './page-flags.ts';
import type { PhysMem } from './physmem.ts';

/** Pool of default-size (2 MiB) huge pages. */
export class HugetlbPool {
  /** Pages in the pool. */
  readonly nrHugePages: number;
  /** Free huge pages (head pfns). */
  private readonly free: number[] = [];
  /** Pages promised to mappings but not yet faulted. */
  reserved = 0;
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

  /** Takes a reservation for `n` pages; false when not enough are free and unreserved. */
  reserve(n: number): boolean {
    if (this.free.length - this.reserved < n) return false;
    this.reserved += n;
    return true;
  }

  /** Gives back `n` unused reservations. */
  unreserve(n: number): void {
    this.reserved = Math.max(0, this.reserved - n);
  }

  /** Takes a free huge page (consuming a reservation if `reserved`); 0 when none. */
  alloc(reserved: boolean): number {
    if (!reserved && this.free.length - this.reserved <= 0) return 0;
    const pfn = this.free.pop();
    if (pfn === undefined) return 0;
    if (reserved) this.reserved--;
    this.pm.refcount[pfn] = 1;
    return pfn;
  }

  /** Returns a huge page whose last reference went away. */
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
    this.free.push(pfn);
  }
}
