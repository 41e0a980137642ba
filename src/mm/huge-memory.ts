/**
 * Transparent huge pages (mm/huge_memory.c): when a fault may use a PMD mapping, splitting a PMD
 * mapping into PTEs (`__split_huge_pmd`, announced as CLEAR over the 2 MiB span), and splitting a
 * large folio that is no longer mapped whole (`split_folio`, as the deferred-split shrinker would).
 * @module
 */

import { kernelBug } from '../sim/errors.ts';
import { HPAGE_PMD_NR, PMD_SIZE, PTRS_PER_TABLE, VM_HUGEPAGE, VM_NOHUGEPAGE } from './constants.ts';
import type { Kernel } from './kernel.ts';
import { memCgroupSplit } from './memcontrol.ts';
import type { MmStruct } from './mm-struct.ts';
import {
  MMU_NOTIFY_CLEAR,
  mmuNotifierInvalidateRangeEnd,
  mmuNotifierInvalidateRangeStart,
  mmuNotifierRangeInit,
} from './mmu-notifier.ts';
import { PG_anon, PG_hugetlb, PG_locked, PG_zone_device } from './page-flags.ts';
import { findEntry } from './page-table.ts';
import { ZERO_PFN } from './physmem.ts';
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
import type { Vma } from './vma.ts';

/** True when an anonymous fault at `addr` may be served by a PMD-mapped THP (`thp_vma_allowable_order`). */
export function thpEligible(k: Kernel, vma: Vma, addr: number): boolean {
  if (!vma.isAnonymous || vma.isHugetlb) return false;
  if ((vma.flags & VM_NOHUGEPAGE) !== 0 || k.thp === 'never') return false;
  if (k.thp === 'madvise' && (vma.flags & VM_HUGEPAGE) === 0) return false;
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
 * The deferred-split shrinker, run at once: a large anonymous folio that is no longer mapped by
 * a PMD and has unmapped pages is split into small pages, and the unmapped ones are freed.
 * Folios with extra references (pins, the page lock) are left alone, like `split_folio` failing.
 */
export function deferredSplitFolio(k: Kernel, head: number): void {
  const pm = k.pm;
  if (pm.order[head] === 0 || (pm.flags[head]! & (PG_anon | PG_hugetlb | PG_locked)) !== PG_anon) return;
  if (pm.entireMapcount[head] !== 0 || pm.refcount[head] === 0) return;
  const n = pm.folioNrPages(head);
  let mapped = 0;
  for (let i = 0; i < n; i++) mapped += pm.mapcount[head + i]!;
  if (mapped === n || pm.refcount[head] !== mapped) return;
  splitFolio(k, head);
}

/**
 * `split_folio`: turns a large folio whose references are exactly its PTE mappings into small
 * folios, each holding the references of its own mappings; pages left without any are freed.
 */
export function splitFolio(k: Kernel, head: number, extraRefs = 0): void {
  const pm = k.pm;
  const n = pm.folioNrPages(head);
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
 * split_folio for a folio the caller holds `extraRefs` references to (and possibly locks): the
 * PMD mapping, if any, is split first (CLEAR); the split fails (false) when someone else holds a
 * reference (a pin) or another process maps it with a PMD.
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
  if (pm.entireMapcount[head] !== 0) return false;
  let mapped = 0;
  for (let i = 0; i < HPAGE_PMD_NR; i++) mapped += pm.mapcount[head + i]!;
  if (pm.refcount[head] !== mapped + extraRefs) return false;
  const locked = pm.flags[head]! & PG_locked;
  splitFolio(k, head, extraRefs);
  pm.flags[head]! |= locked;
  return true;
}
