/**
 * fork's address-space copy (dup_mmap and copy_page_range, kernel/fork.c and mm/memory.c):
 * shared mappings stay shared (the child faults their pages in from the page cache); private
 * mappings share their pages copy-on-write, write-protected in parent and child, announced to
 * the parent's subscriptions as PROTECTION_PAGE over each copied span. Device-private entries
 * are shared read-only in both; device-exclusive entries are restored first. An exclusive
 * anonymous page that may be DMA-pinned is copied for the child at once (copy_present_page); a
 * PMD-mapped THP that may be pinned is split in the parent first and copied page by page.
 * @module
 */

import { ENOMEM } from '../sim/errno.ts';
import {
  HPAGE_PMD_NR,
  MM_ANONPAGES,
  MM_SWAPENTS,
  PAGE_SIZE,
  PTRS_PER_TABLE,
  VM_DONTCOPY,
  VM_EXEC,
  VM_MIXEDMAP,
  VM_PFNMAP,
  VM_READ,
  VM_UFFD_MISSING,
  VM_WRITE,
} from './constants.ts';
import { initAnonPage } from './fault.ts';
import { GUP_PIN_COUNTING_BIAS } from './gup-bias.ts';
import { splitHugePmd } from './huge-memory.ts';
import { hstateVma } from './hugetlb.ts';
import type { Kernel } from './kernel.ts';
import { MEMCG_ANON, memCgroupCharge } from './memcontrol.ts';
import type { MmStruct } from './mm-struct.ts';
import {
  MMU_NOTIFY_CLEAR,
  MMU_NOTIFY_PROTECTION_PAGE,
  mmuNotifierInvalidateRangeEnd,
  mmuNotifierInvalidateRangeStart,
  mmuNotifierRangeInit,
} from './mmu-notifier.ts';
import { PG_anon, PG_anon_exclusive, PG_hugetlb } from './page-flags.ts';
import { ensureEntry } from './page-table.ts';
import { collectPmds } from './pgwalk.ts';
import {
  PTE_DEVICE_EXCLUSIVE,
  PTE_DEVICE_PRIVATE_READ,
  PTE_DEVICE_PRIVATE_WRITE,
  PTE_DIRTY,
  PTE_KIND_MASK,
  PTE_LEAF,
  PTE_MIGRATION_READ,
  PTE_MIGRATION_READ_EXCLUSIVE,
  PTE_MIGRATION_WRITE,
  PTE_PRESENT,
  PTE_PROTNONE,
  PTE_SPECIAL,
  PTE_SWAP,
  PTE_TABLE,
  PTE_WRITE,
  PTE_YOUNG,
} from './pte.ts';
import type { Vma } from './vma.ts';
import { vmaDup } from './vma-ops.ts';

/**
 * dup_mmap: builds `child` (a fresh mm) as a copy of `parent`, whose mmap write lock is held.
 * Returns 0, or -ENOMEM when a page that must be copied for the child (a maybe-pinned anonymous
 * page) could not be allocated; the copy stops there, as the kernel's fork fails.
 */
export async function dupMmap(parent: MmStruct, child: MmStruct): Promise<number> {
  for (const vma of [...parent.vmas]) {
    if ((vma.flags & VM_DONTCOPY) !== 0) continue; // MADV_DONTFORK: the child has a hole there
    const copy = vmaDup(vma, child, vma.start, vma.end, vma.pgoff);
    // dup_userfaultfd without UFFD_FEATURE_EVENT_FORK: the child's VMA is not registered.
    copy.uffd = null;
    copy.flags &= ~VM_UFFD_MISSING;
    // anon_vma_fork: the child's chain holds the parent's anon_vmas and its own.
    copy.anonVmaFromParent = vma.anonVma !== null;
    if (vma.anonVma === null && !vma.isHugetlb && (vma.flags & (VM_PFNMAP | VM_MIXEDMAP)) === 0) continue; // vma_needs_copy
    const r = await copyPageRange(vma, copy);
    if (r < 0) return r;
  }
  // flush_tlb_mm(oldmm): the parent's write-protected translations leave every TLB.
  const k = parent.kernel;
  k.chargeTlbShootdown();
  return 0;
}

async function copyPageRange(src: Vma, dst: Vma): Promise<number> {
  const mm = src.mm;
  const k = mm.kernel;
  const cow = src.isCow;
  // copy_hugetlb_page_range announces CLEAR over the VMA; copy_page_range PROTECTION_PAGE.
  const event = src.isHugetlb ? MMU_NOTIFY_CLEAR : MMU_NOTIFY_PROTECTION_PAGE;
  const range = mmuNotifierRangeInit(mm, event, src.start, src.end);
  if (cow) await mmuNotifierInvalidateRangeStart(range);
  const pmds = collectPmds(k.pt, mm.pgd, src.start / PAGE_SIZE, src.end / PAGE_SIZE);
  for (let i = 0; i < pmds.length; i += 3) {
    const pmdOff = pmds[i]!;
    const from = pmds[i + 1]!;
    const to = pmds[i + 2]!;
    let lo = k.pt.words[pmdOff]!;
    if ((lo & PTE_LEAF) !== 0 && cow && hugePmdMaybePinned(k, lo, k.pt.words[pmdOff + 1]!)) {
      // copy_huge_pmd: folio_try_dup_anon_rmap_pmd refuses an exclusive THP that may be pinned.
      // The parent's PMD is split (CLEAR over the 2 MiB) and the PTE-level copy below gives the
      // child its own copy of each page (copy_present_page), the parent keeping the pinned pages
      // mapped writable.
      await splitHugePmd(mm, Math.floor(from / HPAGE_PMD_NR) * HPAGE_PMD_NR * PAGE_SIZE);
      lo = k.pt.words[pmdOff]!;
    }
    if ((lo & PTE_LEAF) !== 0) {
      copyHugePmd(src, dst, pmdOff, from, cow);
      continue;
    }
    if ((lo & PTE_KIND_MASK) !== PTE_TABLE) continue;
    if (!copyPteRange(src, dst, k.pt.words[pmdOff + 1]!, from, to, cow)) {
      if (cow) mmuNotifierInvalidateRangeEnd(range);
      return -ENOMEM;
    }
  }
  if (cow) mmuNotifierInvalidateRangeEnd(range);
  return 0;
}

/**
 * copy_pte_range: copies the entries for vpns `[from, to)` of the parent's PTE table `table`
 * (all under one PMD). Returns false on -ENOMEM. A function of its own, called per table, so the
 * JIT optimizes it once for every fork rather than on-stack in each (long) copyPageRange.
 */
function copyPteRange(src: Vma, dst: Vma, table: number, from: number, to: number, cow: boolean): boolean {
  const k = src.mm.kernel;
  const base = table * PTRS_PER_TABLE * 2;
  const first = from % PTRS_PER_TABLE;
  // The child's PTE table for this PMD (word offset of entry 0), found at the first fast copy.
  let dstBase = -1;
  for (let j = first; j < first + (to - from); j++) {
    const off = base + 2 * j;
    const pte = k.pt.words[off]!; // re-read the array: a table allocation may grow the pool
    if (pte === 0) continue;
    if (dstBase < 0 && (pte & (PTE_KIND_MASK | PTE_SPECIAL)) === PTE_PRESENT)
      dstBase = ensureEntry(k.pt, dst.mm.pgd, from + (j - first), 1) - 2 * j;
    if (dstBase >= 0 && copyPresentPteFast(k, dst.mm, off, dstBase + 2 * j, cow)) continue;
    if (!copyPte(src, dst, off, from + (j - first), cow)) return false;
  }
  return true;
}

/**
 * {@link copyPte} for the common case only, without the generic lookups: a present, non-special
 * PTE mapping an order-0 page that is not the zero page and not maybe-DMA-pinned. The child's
 * entry is at word offset `dstOff`. Returns false, having changed nothing, for any other entry;
 * the caller then uses copyPte. Must stay equivalent to copyPte for the entries it accepts.
 */
function copyPresentPteFast(k: Kernel, dstMm: MmStruct, off: number, dstOff: number, cow: boolean): boolean {
  const w = k.pt.words;
  let lo = w[off]!;
  if ((lo & (PTE_KIND_MASK | PTE_SPECIAL)) !== PTE_PRESENT) return false;
  const pfn = w[off + 1]!;
  const pm = k.pm;
  if (pm.order[pfn] !== 0 || pm.isZeroPfn(pfn)) return false;
  const f = pm.flags[pfn]!;
  const anonExclusive = (f & (PG_anon | PG_anon_exclusive)) === (PG_anon | PG_anon_exclusive);
  if (cow && anonExclusive && pm.refcount[pfn]! >= GUP_PIN_COUNTING_BIAS) return false; // maybe pinned
  pm.mapcount[pfn]!++;
  pm.refcount[pfn]!++;
  dstMm.rss[k.mmCounterOf(pfn)]!++;
  if (cow) {
    if ((f & PG_anon) !== 0) pm.flags[pfn] = f & ~PG_anon_exclusive;
    lo &= ~PTE_WRITE;
  }
  w[off] = lo;
  w[dstOff] = lo;
  w[dstOff + 1] = pfn;
  return true;
}

/**
 * The case of `copy_huge_pmd` where `folio_try_dup_anon_rmap_pmd` fails (-EBUSY): a present PMD
 * mapping an anonymous THP whose page is exclusive to the parent and whose folio may be DMA-pinned
 * (`folio_needs_cow_for_dma`). Huge zero, hugetlb and device entries never qualify.
 */
function hugePmdMaybePinned(k: Kernel, lo: number, head: number): boolean {
  if ((lo & PTE_KIND_MASK) !== PTE_PRESENT) return false;
  const pm = k.pm;
  if (pm.isZeroPfn(head) || (pm.flags[head]! & PG_hugetlb) !== 0) return false;
  const anonExclusive = (pm.flags[head]! & (PG_anon | PG_anon_exclusive)) === (PG_anon | PG_anon_exclusive);
  return anonExclusive && pm.refcount[head]! >= GUP_PIN_COUNTING_BIAS;
}

/**
 * copy_huge_pmd / copy_hugetlb_page_range: the child shares the huge page. A hugetlb VMA's entry
 * is a PMD leaf or, for 1 GiB pages, a PUD leaf (the child's goes at the same level).
 */
function copyHugePmd(src: Vma, dst: Vma, pmdOff: number, vpn: number, cow: boolean): void {
  const k = src.mm.kernel;
  const pm = k.pm;
  let lo = k.pt.words[pmdOff]!;
  const head = k.pt.words[pmdOff + 1]!;
  const kind = lo & PTE_KIND_MASK;
  const dstOff = ensureEntry(k.pt, dst.mm.pgd, vpn, src.isHugetlb ? hstateVma(src).level : 2);
  if (kind === PTE_PRESENT) {
    if (!pm.isZeroPfn(head)) {
      pm.entireMapcount[head]!++;
      pm.refcount[head]!++;
      const nr = pm.folioNrPages(head);
      if ((pm.flags[head]! & PG_hugetlb) !== 0) dst.mm.hugetlbPages += nr;
      else dst.mm.rss[k.mmCounterOf(head)]! += HPAGE_PMD_NR;
      if (cow && (pm.flags[head]! & PG_anon) !== 0)
        for (let j = 0; j < nr; j++) pm.flags[head + j]! &= ~PG_anon_exclusive;
    }
    if (cow) lo &= ~PTE_WRITE;
  } else if (kind >= PTE_MIGRATION_READ && kind <= PTE_MIGRATION_WRITE) {
    if (cow && kind === PTE_MIGRATION_WRITE) lo = (lo & ~PTE_KIND_MASK) | PTE_MIGRATION_READ;
    dst.mm.rss[k.mmCounterOf(head)]! += HPAGE_PMD_NR;
  } else if (kind === PTE_DEVICE_PRIVATE_READ || kind === PTE_DEVICE_PRIVATE_WRITE) {
    pm.entireMapcount[head]!++;
    pm.refcount[head]!++;
    dst.mm.rss[k.mmCounterOf(head)]! += HPAGE_PMD_NR;
    // folio_try_dup_anon_rmap_pmd: now mapped twice, the folio is exclusive to neither.
    if ((pm.flags[head]! & PG_anon) !== 0)
      for (let j = 0; j < HPAGE_PMD_NR; j++) pm.flags[head + j]! &= ~PG_anon_exclusive;
    if (cow) lo = (lo & ~PTE_KIND_MASK) | PTE_DEVICE_PRIVATE_READ;
  }
  k.pt.words[pmdOff] = lo;
  k.pt.words[dstOff] = lo;
  k.pt.words[dstOff + 1] = head;
}

/**
 * copy_present_pte / copy_nonpresent_pte for one PTE. Returns false when a page that must be
 * copied could not be allocated (-ENOMEM).
 */
function copyPte(src: Vma, dst: Vma, off: number, vpn: number, cow: boolean): boolean {
  const k = src.mm.kernel;
  const pm = k.pm;
  let lo = k.pt.words[off]!;
  const hi = k.pt.words[off + 1]!;
  let kind = lo & PTE_KIND_MASK;
  // Failpoint F2 (docs/mutants.md; fix: restore the PTE first, try_restore_exclusive_pte): the
  // entry is copied as it is, so parent and child share the page, each restoring it writable on
  // access.
  if (kind === PTE_DEVICE_EXCLUSIVE && k.quirks.forkCopiesDeviceExclusive) {
    pm.mapcount[hi]!++;
    k.getPage(hi);
    dst.mm.rss[k.mmCounterOf(hi)]!++;
    const dstOff = ensureEntry(k.pt, dst.mm.pgd, vpn, 1);
    k.pt.words[dstOff] = lo;
    k.pt.words[dstOff + 1] = hi;
    return true;
  }
  if (kind === PTE_DEVICE_EXCLUSIVE) {
    // The parent's exclusive entry is restored to a normal PTE before copying (its mapcount and
    // reference were kept by the entry), with the VMA's protection (vm_page_prot): protnone in a
    // PROT_NONE VMA.
    const access = (src.flags & (VM_READ | VM_WRITE | VM_EXEC)) !== 0;
    lo = PTE_PRESENT | (!access ? PTE_PROTNONE : (src.flags & VM_WRITE) !== 0 ? PTE_WRITE | PTE_DIRTY : 0);
    kind = PTE_PRESENT;
  }
  if (kind === PTE_PRESENT) {
    if (
      cow &&
      (lo & PTE_SPECIAL) === 0 &&
      (pm.flags[hi]! & (PG_anon | PG_anon_exclusive)) === (PG_anon | PG_anon_exclusive) &&
      pm.refcount[pm.folioHead(hi)]! >= GUP_PIN_COUNTING_BIAS
    ) {
      // folio_try_dup_anon_rmap_pte refuses a maybe-pinned exclusive page: sharing it would let
      // a later COW fault in the parent replace the page under the DMA. The child gets its own
      // copy now (copy_present_page) and the parent's mapping stays as it is, writable.
      k.pt.words[off] = lo;
      return copyPresentPage(dst, hi, vpn);
    }
    if ((lo & PTE_SPECIAL) === 0 && !pm.isZeroPfn(hi)) {
      pm.mapcount[hi]!++;
      k.getPage(hi);
      dst.mm.rss[k.mmCounterOf(hi)]!++;
      if (cow && (pm.flags[hi]! & PG_anon) !== 0) pm.flags[hi]! &= ~PG_anon_exclusive;
    }
    if (cow) lo &= ~PTE_WRITE;
  } else if (kind === PTE_SWAP) {
    k.swap.dup(hi);
    dst.mm.rss[MM_SWAPENTS]!++;
  } else if (
    kind === PTE_MIGRATION_READ ||
    kind === PTE_MIGRATION_READ_EXCLUSIVE ||
    kind === PTE_MIGRATION_WRITE
  ) {
    if (cow && kind !== PTE_MIGRATION_READ) lo = (lo & ~PTE_KIND_MASK) | PTE_MIGRATION_READ;
    dst.mm.rss[k.mmCounterOf(hi)]!++;
  } else if (kind === PTE_DEVICE_PRIVATE_READ || kind === PTE_DEVICE_PRIVATE_WRITE) {
    pm.mapcount[hi]!++;
    k.getPage(hi);
    dst.mm.rss[k.mmCounterOf(hi)]!++;
    // folio_try_dup_anon_rmap_pte: device-private pages cannot be pinned, so the dup always
    // succeeds, and the page, mapped twice now, is exclusive to neither. Left set, a later
    // migration back to RAM would map the parent's page anon-exclusive and its write fault
    // would reuse the page the child still maps.
    if ((pm.flags[hi]! & PG_anon) !== 0) pm.flags[hi]! &= ~PG_anon_exclusive;
    if (cow) lo = (lo & ~PTE_KIND_MASK) | PTE_DEVICE_PRIVATE_READ;
    // Failpoint F1 (docs/mutants.md; fix: set_pte_at(src_mm) in copy_nonpresent_pte): only the
    // child's copy is made read-only; the parent keeps its writable entry.
    if (cow && k.quirks.forkParentStaysWritable) {
      const dstOff = ensureEntry(k.pt, dst.mm.pgd, vpn, 1);
      k.pt.words[dstOff] = lo;
      k.pt.words[dstOff + 1] = hi;
      return true;
    }
  }
  k.pt.words[off] = lo;
  const dstOff = ensureEntry(k.pt, dst.mm.pgd, vpn, 1);
  k.pt.words[dstOff] = lo;
  k.pt.words[dstOff + 1] = hi;
  return true;
}

/**
 * copy_present_page: the child maps a fresh copy of the parent's page `pfn` (at `vpn`), exclusive
 * to it, dirty and writable if the VMA is; the parent's PTE is left as it is.
 */
function copyPresentPage(dst: Vma, pfn: number, vpn: number): boolean {
  const k = dst.mm.kernel;
  const pm = k.pm;
  const copy = pm.allocPages(0);
  if (copy === 0) return false;
  if (dst.mm.memcg !== null && memCgroupCharge(k, dst.mm, copy, MEMCG_ANON, false) !== 0) {
    pm.freePages(copy);
    return false;
  }
  pm.copyPage(copy, pfn);
  const addr = vpn * PAGE_SIZE;
  initAnonPage(dst, addr, copy);
  dst.mm.rss[MM_ANONPAGES]!++;
  const dstOff = ensureEntry(k.pt, dst.mm.pgd, vpn, 1);
  k.pt.words[dstOff] = PTE_PRESENT | PTE_YOUNG | PTE_DIRTY | ((dst.flags & VM_WRITE) !== 0 ? PTE_WRITE : 0);
  k.pt.words[dstOff + 1] = copy;
  return true;
}
