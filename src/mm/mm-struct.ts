/**
 * An address space (`struct mm_struct`): its VMAs, page tables, mmap lock, user and structure
 * counts, rss counters, and the notifier subscription record installed by `src/notifier`.
 * @module
 */
import { RwSemaphore } from '../sim/rw-semaphore.ts';
import { MMAP_BASE, MMAP_MIN_ADDR, NR_MM_COUNTERS, PAGE_SIZE } from './constants.ts';
import type { Kernel } from './kernel.ts';
import type { MemCgroup } from './memcontrol.ts';
import type { MmNotifierSubscriptions } from './mmu-notifier.ts';
import type { Vma } from './vma.ts';

/** One address space. */
export class MmStruct {
  /** The machine it belongs to. */
  readonly kernel: Kernel;
  /** Small integer id (the pid of the process that created it). */
  readonly id: number;
  /** `mmap_lock`. */
  readonly mmapLock: RwSemaphore;
  /** `mm_users`: the address space is alive while this is above zero. */
  mmUsers = 1;
  /** `mm_count`: the structure is allocated while this is above zero. */
  mmCount = 1;
  /** Index of the PGD table in the machine's page-table pool. */
  pgd: number;
  /** VMAs sorted by start, non-overlapping. */
  readonly vmas: Vma[] = [];
  /** rss counters, indexed by MM_FILEPAGES … MM_SHMEMPAGES. */
  readonly rss = new Array<number>(NR_MM_COUNTERS).fill(0);
  /** Huge pages of the hugetlb pool mapped (hugetlb_usage). */
  hugetlbPages = 0;
  /** `mm->notifier_subscriptions`, installed on the first notifier registration. */
  notifierSubscriptions: MmNotifierSubscriptions | null = null;
  /** True once the address space has been torn down (exit_mmap ran). */
  exited = false;
  /**
   * MMF_UNSTABLE: the OOM reaper has torn private memory out from under the (killed) owner; a
   * fault that would map fresh anonymous memory fails with SIGBUS instead of showing zeroes
   * (`check_stable_address_space`).
   */
  mmfUnstable = false;
  /** The memory cgroup new pages of this address space are charged to (its owner's); null: none. */
  memcg: MemCgroup | null = null;
  /**
   * The M2 mutant's stale TLB of this address space (`./stale-tlb.ts`): vpn → pfn · 2 + writable.
   * Null unless that mutant left a translation behind.
   */
  staleTlb: Map<number, number> | null = null;

  /** @internal created by `Kernel.newMm` */
  constructor(kernel: Kernel, id: number, pgd: number) {
    this.kernel = kernel;
    this.id = id;
    this.pgd = pgd;
    this.mmapLock = new RwSemaphore(kernel.sched, `mmap_lock of mm ${id}`);
  }

  /** `find_vma`: the first VMA that ends above `addr`, or null. */
  findVma(addr: number): Vma | null {
    const v = this.vmas;
    let lo = 0;
    let hi = v.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (v[mid]!.end <= addr) lo = mid + 1;
      else hi = mid;
    }
    return v[lo] ?? null;
  }

  /** `vma_lookup`: the VMA containing `addr`, or null. */
  vmaLookup(addr: number): Vma | null {
    const vma = this.findVma(addr);
    return vma !== null && vma.start <= addr ? vma : null;
  }

  /** VMAs intersecting `[start, end)`, in order. */
  vmasIn(start: number, end: number): Vma[] {
    const out: Vma[] = [];
    const v = this.vmas;
    let i = this.indexOfFirstEndingAbove(start);
    for (; i < v.length && v[i]!.start < end; i++) out.push(v[i]!);
    return out;
  }

  /** @internal inserts a VMA keeping the order (caller checked for overlap). */
  insertVma(vma: Vma): void {
    const i = this.indexOfFirstEndingAbove(vma.start);
    this.vmas.splice(i, 0, vma);
  }

  /** @internal removes a VMA from the list. */
  removeVma(vma: Vma): void {
    const i = this.vmas.indexOf(vma);
    if (i >= 0) this.vmas.splice(i, 1);
  }

  /** True when no VMA intersects `[start, end)`. */
  isFree(start: number, end: number): boolean {
    const vma = this.findVma(start);
    return vma === null || vma.start >= end;
  }

  /**
   * `get_unmapped_area`, top-down from MMAP_BASE: the highest free range of `len` bytes aligned to
   * `align` in the highest gap of at least `len + align - PAGE_SIZE` bytes, or -1.
   */
  getUnmappedArea(len: number, align = PAGE_SIZE): number {
    let top = MMAP_BASE;
    for (let i = this.vmas.length - 1; i >= -1; i--) {
      const vma = i >= 0 ? this.vmas[i]! : null;
      if (vma !== null && vma.start >= top) continue;
      const floor = vma === null ? MMAP_MIN_ADDR : vma.end;
      const candidate = Math.floor((top - len) / align) * align;
      // unmapped_area_topdown asks for a gap of the length plus the worst-case alignment overhead
      // (align_mask), so an aligned area that fits a gap exactly is not taken.
      if (top - floor >= len + align - PAGE_SIZE && candidate >= floor && candidate >= MMAP_MIN_ADDR)
        return candidate;
      if (vma === null) break;
      top = Math.min(top, vma.start);
    }
    return -1;
  }

  /** Total rss in pages (file + anon + shmem). */
  get rssPages(): number {
    return this.rss[0]! + this.rss[1]! + this.rss[3]!;
  }

  private indexOfFirstEndingAbove(addr: number): number {
    const v = this.vmas;
    let lo = 0;
    let hi = v.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (v[mid]!.end <= addr) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
