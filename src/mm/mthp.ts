/**
 * Multi-size THP (mm/huge_memory.c, mm/memory.c, Linux 6.8+): anonymous folios of every order
 * from 2 (16 KiB) to the PMD order (2 MiB), each size switched on by its own
 * `/sys/kernel/mm/transparent_hugepage/hugepages-<size>kB/enabled` (`never`, `always`,
 * `madvise` or `inherit`, which follows the global `enabled`). A fault that cannot use a PMD
 * tries the largest enabled smaller order whose naturally aligned range lies in the VMA and has
 * no page-table entry yet (`alloc_anon_folio`), and maps the folio with one PTE per page.
 * @module
 */
import { UsageError } from '../sim/errors.ts';
import { anonVmaPrepare } from './anon-vma.ts';
import { HPAGE_PMD_ORDER, MM_ANONPAGES, PAGE_SIZE, VM_HUGEPAGE, VM_NOHUGEPAGE } from './constants.ts';
import { MEMCG_ANON, memCgroupCharge } from './memcontrol.ts';
import { PG_anon, PG_anon_exclusive, PG_lru } from './page-flags.ts';
import { PTE_DIRTY, PTE_PRESENT, PTE_WRITE, PTE_YOUNG } from './pte.ts';
import type { Vma } from './vma.ts';

/** What one size's `hugepages-<size>kB/enabled` holds. */
export type ThpSizeMode = 'never' | 'always' | 'madvise' | 'inherit';

/** The modes {@link ThpSizeSettings.set} accepts. */
const MODES: readonly ThpSizeMode[] = ['never', 'always', 'madvise', 'inherit'];

/** The smallest anonymous mTHP order (`THP_ORDERS_ALL_ANON` leaves out orders 0 and 1). */
export const MTHP_MIN_ORDER = 2;

/**
 * The per-size settings of one machine (`huge_anon_orders_always`, `_madvise`, `_inherit`). As
 * in the kernel, only the PMD size inherits by default; the smaller sizes start `never`.
 */
export class ThpSizeSettings {
  /** Mode per order; orders below {@link MTHP_MIN_ORDER} are unused. */
  private readonly modes: ThpSizeMode[] = [];

  constructor() {
    for (let o = 0; o <= HPAGE_PMD_ORDER; o++) this.modes.push(o === HPAGE_PMD_ORDER ? 'inherit' : 'never');
  }

  /** True when some size below the PMD's is not `never` (the fault path's quick check). */
  get anySmallEnabled(): boolean {
    for (let o = MTHP_MIN_ORDER; o < HPAGE_PMD_ORDER; o++) if (this.modes[o] !== 'never') return true;
    return false;
  }

  /** The sizes there are, in KiB (16 … 2048), smallest first: the `hugepages-*kB` directories. */
  get sizesKb(): number[] {
    const sizes: number[] = [];
    for (let o = MTHP_MIN_ORDER; o <= HPAGE_PMD_ORDER; o++) sizes.push((PAGE_SIZE << o) / 1024);
    return sizes;
  }

  /** The mode of folios of `order`. */
  mode(order: number): ThpSizeMode {
    return this.modes[order] ?? 'never';
  }

  /**
   * Writes `mode` to `hugepages-<sizeKb>kB/enabled`. A size that has no directory or a mode
   * that is not one of the four is a {@link UsageError} (the kernel's -EINVAL) and changes nothing.
   */
  set(sizeKb: number, mode: ThpSizeMode): void {
    const order = Math.log2((sizeKb * 1024) / PAGE_SIZE);
    if (!Number.isInteger(order) || order < MTHP_MIN_ORDER || order > HPAGE_PMD_ORDER)
      throw new UsageError('thpSize', `no hugepages-${sizeKb}kB: sizes are ${this.sizesKb.join(', ')} kB`);
    if (!MODES.includes(mode))
      throw new UsageError('thpSize', `mode must be ${MODES.join(', ')}, got ${String(mode)}`);
    this.modes[order] = mode;
  }
}

/**
 * `thp_vma_allowable_order(vma, TVA_IN_PF | TVA_ENFORCE_SYSFS, order)` for an anonymous VMA at
 * fault time: the size is `always`, or `madvise` in a VM_HUGEPAGE VMA, or `inherit` while the
 * global setting allows (`always`, or `madvise` in a VM_HUGEPAGE VMA); never in a
 * VM_NOHUGEPAGE VMA.
 */
export function thpOrderAllowed(
  global: 'always' | 'madvise' | 'never',
  sizes: ThpSizeSettings,
  vma: Vma,
  order: number,
): boolean {
  if ((vma.flags & VM_NOHUGEPAGE) !== 0) return false;
  const madvised = (vma.flags & VM_HUGEPAGE) !== 0;
  switch (sizes.mode(order)) {
    case 'always':
      return true;
    case 'madvise':
      return madvised;
    case 'inherit':
      return global === 'always' || (global === 'madvise' && madvised);
    default:
      return false;
  }
}

/** `thp_vma_suitable_order`: the naturally aligned range of `order` around `addr` lies in `vma`. */
export function thpVmaSuitableOrder(vma: Vma, addr: number, order: number): boolean {
  const size = PAGE_SIZE << order;
  const haddr = Math.floor(addr / size) * size;
  return haddr >= vma.start && haddr + size <= vma.end;
}

/**
 * `alloc_anon_folio` and the rest of `do_anonymous_page` for a write fault at `addr` whose PTE
 * is at word offset `off`: the largest allowed order below the PMD's whose aligned range lies in
 * the VMA and has only empty PTEs (`pte_range_none`) gets a zeroed folio, falling back order by
 * order when none is free or the memory cgroup refuses it; the folio is mapped by one PTE per
 * page (writable if the VMA is, dirty, young), holding one reference per PTE and exclusive to the
 * process. Returns the number of pages mapped, or 0 to fall back to an order-0 page.
 */
export function doAnonymousLargeFolio(vma: Vma, addr: number, off: number, writable: boolean): number {
  const mm = vma.mm;
  const k = mm.kernel;
  // userfaultfd_armed: a registered VMA gets base pages, so each missing page is reported.
  if (vma.uffd !== null || (vma.flags & VM_NOHUGEPAGE) !== 0) return 0;
  const w = k.pt.words;
  const vpn = addr / PAGE_SIZE;
  for (let order = HPAGE_PMD_ORDER - 1; order >= MTHP_MIN_ORDER; order--) {
    if (!thpOrderAllowed(k.thp, k.thpSizes, vma, order) || !thpVmaSuitableOrder(vma, addr, order)) continue;
    const nr = 1 << order;
    const first = off - 2 * (vpn % nr);
    let none = true;
    for (let i = 0; i < nr && none; i++) if (w[first + 2 * i] !== 0) none = false;
    if (!none) continue;
    const head = k.pm.allocPages(order);
    if (head === 0) continue;
    if (mm.memcg !== null && memCgroupCharge(k, mm, head, MEMCG_ANON, false) !== 0) {
      k.pm.freePages(head);
      continue;
    }
    mapNewAnonFolioPtes(vma, Math.floor(vpn / nr) * nr * PAGE_SIZE, first, head, nr, writable);
    return nr;
  }
  return 0;
}

/**
 * `folio_add_new_anon_rmap` + `set_ptes` for a new large folio at `start`, PTEs from word offset
 * `first`: every page exclusive, one mapping and one reference each.
 */
function mapNewAnonFolioPtes(
  vma: Vma,
  start: number,
  first: number,
  head: number,
  nr: number,
  writable: boolean,
): void {
  const mm = vma.mm;
  const k = mm.kernel;
  const pm = k.pm;
  const anon = anonVmaPrepare(vma);
  const index = vma.pageIndex(start);
  const bits = PTE_PRESENT | PTE_YOUNG | PTE_DIRTY | (writable ? PTE_WRITE : 0);
  for (let i = 0; i < nr; i++) {
    pm.flags[head + i]! |= PG_anon | PG_anon_exclusive | PG_lru;
    pm.mapping[head + i] = anon.id;
    pm.index[head + i] = index + i;
    pm.mapcount[head + i] = 1;
    k.pt.words[first + 2 * i] = bits;
    k.pt.words[first + 2 * i + 1] = head + i;
  }
  pm.refcount[head] = nr;
  mm.rss[MM_ANONPAGES]! += nr;
}
