/**
 * Transparent huge pages (mm/huge_memory.c): when a fault may use a PMD mapping, splitting a PMD
 * mapping into PTEs (`__split_huge_pmd`, announced as CLEAR over the 2 MiB span), and splitting a
 * large folio (`split_folio`: for migration, reclaim and the deferred-split shrinker,
 * src/mm/deferred-split.ts).
 * @module
 */

import { kernelBug } from '../sim/errors.ts';
import { AnonVma } from './anon-vma.ts';
import {
  HPAGE_PMD_NR,
  HPAGE_PMD_ORDER,
  PAGE_SIZE,
  PMD_SIZE,
  PTRS_PER_TABLE,
  VM_EXEC,
  VM_READ,
  VM_WRITE,
} from './constants.ts';
import type { Kernel } from './kernel.ts';
import { memCgroupSplit } from './memcontrol.ts';
import type { MmStruct } from './mm-struct.ts';
import {
  MMU_NOTIFY_CLEAR,
  mmuNotifierInvalidateRangeEnd,
  mmuNotifierInvalidateRangeStart,
  mmuNotifierRangeInit,
} from './mmu-notifier.ts';
import { thpOrderAllowed } from './mthp.ts';
import { PG_anon, PG_hugetlb, PG_locked, PG_partially_mapped, PG_zone_device } from './page-flags.ts';
import { findEntry } from './page-table.ts';
import { indexDelta, ZERO_PFN } from './physmem.ts';
import {
  isDevicePrivateKind,
  isMigrationKind,
  PTE_DIRTY,
  PTE_KIND_MASK,
  PTE_LEAF,
  PTE_PRESENT,
  PTE_PROTNONE,
  PTE_SOFT_DIRTY,
  PTE_SPECIAL,
  PTE_TABLE,
  PTE_WRITE,
  PTE_YOUNG,
} from './pte.ts';
import { rmapWalk } from './rmap.ts';
import type { Vma } from './vma.ts';

/** True when an anonymous fault at `addr` may be served by a PMD-mapped THP (`thp_vma_allowable_order`). */
export function thpEligible(k: Kernel, vma: Vma, addr: number): boolean {
  if (!vma.isAnonymous || vma.isHugetlb) return false;
  // The PMD size's own setting (hugepages-2048kB/enabled, `inherit` by default: the global one).
  if (!thpOrderAllowed(k.thp, k.thpSizes, vma, HPAGE_PMD_ORDER)) return false;
  const haddr = Math.floor(addr / PMD_SIZE) * PMD_SIZE;
  return haddr >= vma.start && haddr + PMD_SIZE <= vma.end;
}

/**
 * Replaces the huge entry at `pmdOff` (a present THP / huge zero leaf, or a PMD migration or
 * device-private entry) by a PTE table mapping the same pages with the same bits. No notifier:
 * callers announce it. Returns false when the entry is no longer a splittable leaf.
 */
export function splitHugePmdLocked(k: Kernel, pmdOff: number): boolean {
  const pool = k.pt;
  const lo = pool.words[pmdOff]!;
  if ((lo & PTE_LEAF) === 0) return false;
  const kind = lo & PTE_KIND_MASK;
  const head = pool.words[pmdOff + 1]!;
  const pm = k.pm;
  if ((pm.flags[head]! & PG_hugetlb) !== 0) kernelBug('hugetlb PMDs are never split');
  const t = pool.alloc();
  const w = pool.words;
  const base = t * PTRS_PER_TABLE * 2;
  if (kind === PTE_PRESENT && pm.isZeroPfn(head)) {
    // __split_huge_zero_page_pmd: every PTE maps the small zero page, read-only and special like
    // the PTEs do_anonymous_page installs (pte_mkspecial).
    const bits = PTE_PRESENT | PTE_SPECIAL | (lo & (PTE_YOUNG | PTE_PROTNONE));
    for (let i = 0; i < HPAGE_PMD_NR; i++) {
      w[base + 2 * i] = bits;
      w[base + 2 * i + 1] = ZERO_PFN;
    }
  } else {
    // PROTNONE too: the PTEs keep the PMD's protection (a PROT_NONE VMA stays inaccessible).
    const bits = kind | (lo & (PTE_WRITE | PTE_DIRTY | PTE_YOUNG | PTE_SOFT_DIRTY | PTE_PROTNONE));
    for (let i = 0; i < HPAGE_PMD_NR; i++) {
      w[base + 2 * i] = bits;
      w[base + 2 * i + 1] = head + i;
    }
    if (kind === PTE_PRESENT || isDevicePrivateKind(kind)) {
      // The PMD mapping's entire mapcount and reference become one mapcount and one reference per PTE.
      pm.entireMapcount[head]!--;
      for (let i = 0; i < HPAGE_PMD_NR; i++) pm.mapcount[head + i]!++;
      pm.refcount[head]! += HPAGE_PMD_NR - 1;
    } else if (!isMigrationKind(kind)) kernelBug(`cannot split PMD entry of kind ${kind}`);
  }
  w[pmdOff] = PTE_TABLE;
  w[pmdOff + 1] = t;
  return true;
}

/**
 * `split_huge_pmd_address`: if `haddr`'s PMD in `mm` is a huge leaf, split it, announcing CLEAR
 * over the 2 MiB span. Resolves once the PMD is a table (or none).
 */
export async function splitHugePmd(mm: MmStruct, haddr: number): Promise<void> {
  const k = mm.kernel;
  const vpn = haddr / 4096;
  let off = findEntry(k.pt, mm.pgd, vpn, 2);
  if (off < 0 || (k.pt.words[off]! & PTE_LEAF) === 0) return;
  const range = mmuNotifierRangeInit(mm, MMU_NOTIFY_CLEAR, haddr, haddr + PMD_SIZE);
  await mmuNotifierInvalidateRangeStart(range);
  off = findEntry(k.pt, mm.pgd, vpn, 2);
  if (off >= 0 && (k.pt.words[off]! & PTE_LEAF) !== 0) splitHugePmdLocked(k, off);
  mmuNotifierInvalidateRangeEnd(range);
}

/**
 * `split_folio`: turns a large folio whose references are exactly its PTE mappings into small
 * folios, each holding the references of its own mappings; pages left without any are freed.
 */
export function splitFolio(k: Kernel, head: number, extraRefs = 0): void {
  const pm = k.pm;
  const n = pm.folioNrPages(head);
  // A split folio leaves the deferred-split queue (src/mm/deferred-split.ts).
  if ((pm.flags[head]! & PG_partially_mapped) !== 0) {
    pm.flags[head]! &= ~PG_partially_mapped;
    k.deferredSplitQueue.delete(head);
  }
  pm.splitFolioMetadata(head);
  memCgroupSplit(k, head, n);
  // __split_unmapped_folio tells the driver of a device-private folio (pgmap folio_split) before
  // the pieces get their references, so a piece freed below already has its own driver state
  // (dmirror splits the system folio backing it).
  if ((pm.flags[head]! & PG_zone_device) !== 0) {
    const pgmap = k.pgmapOf(head);
    if (pgmap?.isPrivate) pgmap.folioSplit?.(head);
  }
  for (let i = 0; i < n; i++) {
    const p = head + i;
    // References beyond the mappings (the splitter's own) stay with the head page.
    pm.refcount[p] = pm.mapcount[p]! + (i === 0 ? extraRefs : 0);
    if (pm.refcount[p] === 0) k.freeFolio(p);
  }
}

/**
 * split_folio for a folio the caller holds `extraRefs` references to (and possibly locks): its PMD
 * mappings are split first (CLEAR each), `haddr`'s in `mm` then every other one (`unmap_folio`'s
 * TTU_SPLIT_HUGE_PMD reaches each process mapping it, e.g. a child after fork: fuzz-7-13); the
 * split fails (false) when someone else holds a reference (a pin).
 */
export async function trySplitFolio(
  mm: MmStruct,
  head: number,
  haddr: number,
  extraRefs: number,
): Promise<boolean> {
  const k = mm.kernel;
  const pm = k.pm;
  if (pm.order[head] === 0) return true;
  if ((pm.flags[head]! & PG_hugetlb) !== 0) return false;
  await splitHugePmd(mm, haddr);
  for (const hit of rmapWalk(k, head)) if (hit.level === 2) await splitHugePmd(hit.vma.mm, hit.addr);
  if (pm.entireMapcount[head] !== 0) return false;
  let mapped = 0;
  const n = pm.folioNrPages(head);
  for (let i = 0; i < n; i++) mapped += pm.mapcount[head + i]!;
  if (pm.refcount[head] !== mapped + extraRefs) return false;
  const locked = pm.flags[head]! & PG_locked;
  const anon = (pm.flags[head]! & (PG_anon | PG_zone_device)) === PG_anon;
  const index = pm.index[head]!;
  const family = anon ? k.mappings[pm.mapping[head]!] : undefined;
  splitFolio(k, head, extraRefs);
  pm.flags[head]! |= locked;
  if (family instanceof AnonVma) await mapUnusedToZeropage(k, family, head, index, n);
  return true;
}

/**
 * `remap_page` with RMP_USE_SHARED_ZEROPAGE, as `__split_huge_page` does for an anonymous folio
 * (6.12's "mm: remap unused subpages to shared zeropage when splitting isolated thp", also
 * mainline): the split folio was unmapped everywhere (`unmap_folio`: CLEAR over its extent in
 * every VMA of its family), and each page holding only zeroes comes back as the shared zero page
 * (`try_to_map_unused_to_zeropage`: special, read-only, no longer counted in rss) instead of
 * itself, so it is freed once nothing else holds it. The other pages are mapped again as they
 * were (hmmsim leaves their entries in place).
 */
async function mapUnusedToZeropage(
  k: Kernel,
  family: AnonVma,
  head: number,
  index: number,
  nr: number,
): Promise<void> {
  const pm = k.pm;
  for (const vma of [...family.vmas]) {
    const mm = vma.mm;
    if (mm.pgd === 0) continue;
    const first = vma.start + indexDelta(index, vma.pgoff) * PAGE_SIZE;
    const lo = Math.max(first, vma.start);
    const hi = Math.min(first + nr * PAGE_SIZE, vma.end);
    if (lo >= hi) continue;
    const range = mmuNotifierRangeInit(mm, MMU_NOTIFY_CLEAR, lo, hi);
    await mmuNotifierInvalidateRangeStart(range);
    const access = (vma.flags & (VM_READ | VM_WRITE | VM_EXEC)) !== 0;
    for (let addr = lo; addr < hi; addr += PAGE_SIZE) {
      const pfn = head + (addr - first) / PAGE_SIZE;
      const off = findEntry(k.pt, mm.pgd, addr / PAGE_SIZE, 1);
      if (off < 0) continue;
      const e = k.pt.words[off]!;
      if ((e & (PTE_KIND_MASK | PTE_SPECIAL)) !== PTE_PRESENT || k.pt.words[off + 1] !== pfn) continue;
      if (pm.hasData(pfn) && !isZeroFilled(pm.readableBytes(pfn))) continue;
      k.pt.words[off] = PTE_PRESENT | PTE_SPECIAL | (access ? 0 : PTE_PROTNONE) | (e & PTE_SOFT_DIRTY);
      k.pt.words[off + 1] = ZERO_PFN;
      pm.mapcount[pfn]!--;
      mm.rss[k.mmCounterOf(pfn)]!--;
      k.putPage(pfn);
    }
    mmuNotifierInvalidateRangeEnd(range);
  }
}

/** `pages_identical(page, ZERO_PAGE(0))`. */
function isZeroFilled(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) if (bytes[i] !== 0) return false;
  return true;
}
