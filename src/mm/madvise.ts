/**
 * madvise (mm/madvise.c, mm/khugepaged.c, mm/vmscan.c): DONTNEED, FREE, HUGEPAGE, NOHUGEPAGE,
 * PAGEOUT (reclaim to swap) and COLLAPSE.
 * @module
 */

import { EAGAIN, EBUSY, EINVAL, ENOMEM } from '../sim/errno.ts';
import {
  HPAGE_PMD_NR,
  HPAGE_PMD_ORDER,
  MADV_COLLAPSE,
  MADV_DOFORK,
  MADV_DONTFORK,
  MADV_DONTNEED,
  MADV_FREE,
  MADV_HUGEPAGE,
  MADV_NOHUGEPAGE,
  MADV_PAGEOUT,
  MM_ANONPAGES,
  MM_SWAPENTS,
  PAGE_SIZE,
  PMD_SIZE,
  PTRS_PER_TABLE,
  VM_DONTCOPY,
  VM_EXEC,
  VM_HUGEPAGE,
  VM_IO,
  VM_NOHUGEPAGE,
  VM_PFNMAP,
  VM_READ,
  VM_WRITE,
} from './constants.ts';
import { initAnonFolio } from './fault.ts';
import { splitFolio, splitHugePmd, trySplitFolio } from './huge-memory.ts';
import { hstateVma } from './hugetlb.ts';
import type { Kernel } from './kernel.ts';
import { MEMCG_ANON, memCgroupCharge } from './memcontrol.ts';
import type { MmStruct } from './mm-struct.ts';
import { pageAlign } from './mmap.ts';
import {
  MMU_NOTIFY_CLEAR,
  mmuNotifierInvalidateRangeEnd,
  mmuNotifierInvalidateRangeStart,
  mmuNotifierRangeInit,
} from './mmu-notifier.ts';
import { PG_anon, PG_dirty, PG_lazyfree, PG_partially_mapped, PG_zone_device } from './page-flags.ts';
import { ensureEntry, findEntry } from './page-table.ts';
import { collectPmds } from './pgwalk.ts';
import {
  PTE_DIRTY,
  PTE_KIND_MASK,
  PTE_LEAF,
  PTE_NONE,
  PTE_PRESENT,
  PTE_PROTNONE,
  PTE_SPECIAL,
  PTE_SWAP,
  PTE_TABLE,
  PTE_WRITE,
  PTE_YOUNG,
} from './pte.ts';
import type { Vma } from './vma.ts';
import { isolateRange, vmaMergeAnonNeighbours } from './vma-ops.ts';
import { zapPte, zapVmaRange } from './zap.ts';

/** True for advice values that need the mmap write lock (they change VMA flags). */
export function madviseNeedsWriteLock(advice: number): boolean {
  return changesVmaFlags(advice);
}

/** Advice that only changes VMA flags (madvise_update_vma). */
function changesVmaFlags(advice: number): boolean {
  return (
    advice === MADV_HUGEPAGE ||
    advice === MADV_NOHUGEPAGE ||
    advice === MADV_DONTFORK ||
    advice === MADV_DOFORK
  );
}

/** The VMA flags `advice` asks for, from `f`. */
function madviseVmaFlags(advice: number, f: number): number {
  switch (advice) {
    case MADV_HUGEPAGE:
      return (f & ~VM_NOHUGEPAGE) | VM_HUGEPAGE;
    case MADV_NOHUGEPAGE:
      return (f & ~VM_HUGEPAGE) | VM_NOHUGEPAGE;
    case MADV_DONTFORK:
      return f | VM_DONTCOPY;
    default:
      return f & ~VM_DONTCOPY; // MADV_DOFORK
  }
}

const KNOWN = new Set([
  MADV_DONTNEED,
  MADV_FREE,
  MADV_HUGEPAGE,
  MADV_NOHUGEPAGE,
  MADV_PAGEOUT,
  MADV_COLLAPSE,
  MADV_DONTFORK,
  MADV_DOFORK,
]);

/** `do_madvise` with the right mmap lock held (see {@link madviseNeedsWriteLock}). */
export async function doMadvise(
  mm: MmStruct,
  start: number,
  length: number,
  advice: number,
): Promise<number> {
  if (!Number.isInteger(start) || start < 0 || start % PAGE_SIZE !== 0) return -EINVAL;
  if (!Number.isInteger(length) || length < 0) return -EINVAL;
  if (!KNOWN.has(advice)) return -EINVAL;
  const end = start + pageAlign(length);
  if (end === start) return 0;
  // Unmapped parts are skipped, and reported as -ENOMEM at the end (madvise_walk_vmas).
  let unmapped = false;
  let cursor = start;
  for (const vma of mm.vmasIn(start, end)) {
    if (vma.start > cursor) unmapped = true;
    cursor = vma.end;
  }
  if (cursor < end) unmapped = true;
  let r = 0;
  if (changesVmaFlags(advice)) {
    const want = (f: number): number => madviseVmaFlags(advice, f);
    for (const vma of [...mm.vmasIn(start, end)]) {
      // MADV_DOFORK cannot make an I/O mapping inheritable (madvise_vma_behavior).
      if (advice === MADV_DOFORK && (vma.flags & VM_IO) !== 0) return -EINVAL;
      // madvise_update_vma: a VMA whose flags do not change is left whole (no split, so a
      // PMD-mapped THP across the range's ends stays PMD-mapped).
      if (want(vma.flags) === vma.flags) continue;
      const vmas = await isolateRange(mm, Math.max(start, vma.start), Math.min(end, vma.end));
      if (typeof vmas === 'number') return vmas;
      for (const v of vmas) v.flags = want(v.flags);
      // madvise_update_vma → vma_modify_flags merges the changed VMAs with their neighbours, for
      // every advice that changes VMA flags.
      for (const v of vmas) if (mm.vmas.includes(v)) vmaMergeAnonNeighbours(v);
    }
  } else {
    for (const vma of mm.vmasIn(start, end)) {
      const s = Math.max(start, vma.start);
      const e = Math.min(end, vma.end);
      if (advice === MADV_DONTNEED) r = await madviseDontneed(vma, s, e);
      else if (advice === MADV_FREE) r = await madviseFree(vma, s, e);
      else if (advice === MADV_PAGEOUT) r = await madvisePageout(vma, s, e);
      else r = await madviseCollapse(vma, s, e);
      if (r < 0) return r;
    }
  }
  return unmapped ? -ENOMEM : r;
}

async function madviseDontneed(vma: Vma, start: number, end: number): Promise<number> {
  if ((vma.flags & VM_PFNMAP) !== 0) return -EINVAL;
  if (vma.isHugetlb) {
    // madvise_dontneed_free_valid_vma: the start must be huge-page aligned; the end is rounded
    // down so that a length rounded to base pages never drops a huge page only partly covered.
    const size = hstateVma(vma).size;
    if (start % size !== 0) return -EINVAL;
    end = Math.floor(end / size) * size;
    if (start >= end) return 0;
  }
  const range = mmuNotifierRangeInit(vma.mm, MMU_NOTIFY_CLEAR, start, end);
  await mmuNotifierInvalidateRangeStart(range);
  await zapVmaRange(vma, start, end);
  mmuNotifierInvalidateRangeEnd(range);
  return 0;
}

/** MADV_FREE: exclusive anonymous pages become clean and lazily freeable; swap entries are freed. */
async function madviseFree(vma: Vma, start: number, end: number): Promise<number> {
  if (!vma.isAnonymous || vma.isHugetlb) return -EINVAL;
  const mm = vma.mm;
  const k = mm.kernel;
  const pm = k.pm;
  const range = mmuNotifierRangeInit(mm, MMU_NOTIFY_CLEAR, start, end);
  await mmuNotifierInvalidateRangeStart(range);
  await splitPartialHugePmds(mm, start, end);
  const pmds = collectPmds(k.pt, mm.pgd, start / PAGE_SIZE, end / PAGE_SIZE);
  for (let i = 0; i < pmds.length; i += 3) {
    const pmdOff = pmds[i]!;
    const lo = k.pt.words[pmdOff]!;
    if ((lo & PTE_LEAF) !== 0) {
      const head = k.pt.words[pmdOff + 1]!;
      if (
        (lo & PTE_KIND_MASK) === PTE_PRESENT &&
        !pm.isZeroPfn(head) &&
        pm.entireMapcount[head] === 1 &&
        pm.refcount[head] === 1
      ) {
        k.pt.words[pmdOff] = lo & ~PTE_DIRTY;
        for (let j = 0; j < HPAGE_PMD_NR; j++)
          pm.flags[head + j] = (pm.flags[head + j]! & ~PG_dirty) | PG_lazyfree;
      }
      continue;
    }
    if ((lo & PTE_KIND_MASK) !== PTE_TABLE) continue;
    forEachPte(k.pt.words[pmdOff + 1]!, pmds[i + 1]!, pmds[i + 2]!, (off) => {
      const e = k.pt.words[off]!;
      const kind = e & PTE_KIND_MASK;
      if (kind === PTE_SWAP) {
        zapPte(mm, off);
        return;
      }
      if (kind !== PTE_PRESENT || (e & PTE_SPECIAL) !== 0) return;
      const pfn = k.pt.words[off + 1]!;
      if (
        pm.order[pfn] !== 0 ||
        (pm.flags[pfn]! & PG_anon) === 0 ||
        pm.mapcount[pfn] !== 1 ||
        pm.refcount[pfn] !== 1
      )
        return;
      k.pt.words[off] = e & ~(PTE_DIRTY | PTE_YOUNG);
      pm.flags[pfn] = (pm.flags[pfn]! & ~PG_dirty) | PG_lazyfree;
    });
  }
  mmuNotifierInvalidateRangeEnd(range);
  return 0;
}

/**
 * MADV_PAGEOUT: reclaims the exclusive anonymous pages of the range (shrink_folio_list): each is
 * unmapped (CLEAR over the page, as try_to_unmap announces it), written to a swap slot unless it
 * is a clean lazy-free page (then it is simply dropped), and freed. Without a free swap slot a
 * page stays. Shared and pinned pages are left in place; file pages, see {@link madvisePageoutFile}.
 */
async function madvisePageout(vma: Vma, start: number, end: number): Promise<number> {
  // can_madv_lru_vma: hugetlb and raw PFN mappings cannot be reclaimed.
  if (vma.isHugetlb || (vma.flags & VM_PFNMAP) !== 0) return -EINVAL;
  if (!vma.isAnonymous) return madvisePageoutFile(vma, start, end);
  const mm = vma.mm;
  const k = mm.kernel;
  const pm = k.pm;
  // Reclaim splits THPs that would go to swap.
  for (let a = Math.floor(start / PMD_SIZE) * PMD_SIZE; a < end; a += PMD_SIZE) await splitHugePmd(mm, a);
  for (let addr = start; addr < end; addr += PAGE_SIZE) {
    const off = normalPteAt(mm, addr);
    if (off < 0) continue;
    const lo = k.pt.words[off]!;
    const pfn = k.pt.words[off + 1]!;
    const head = pm.folioHead(pfn);
    if ((pm.flags[pfn]! & PG_anon) === 0 || pm.mapcount[pfn] !== 1) continue;
    if (pm.order[pfn] !== 0) {
      // A PTE-mapped large folio: reclaim splits it when nothing else holds it.
      let mapped = 0;
      const n = pm.folioNrPages(head);
      for (let j = 0; j < n; j++) mapped += pm.mapcount[head + j]!;
      if (pm.entireMapcount[head] !== 0 || pm.refcount[head] !== mapped) continue;
      if (pageoutSplitsFolio(k, head, addr - (pfn - head) * PAGE_SIZE, start, end)) {
        // split_folio: its zero-filled pages come back as the shared zero page; look again.
        if (await trySplitFolio(mm, head, Math.floor(addr / PMD_SIZE) * PMD_SIZE, 0)) addr -= PAGE_SIZE;
        continue;
      }
      splitFolio(k, head);
    }
    if (pm.refcount[pfn] !== 1) continue;
    const discard =
      (pm.flags[pfn]! & PG_lazyfree) !== 0 && (pm.flags[pfn]! & PG_dirty) === 0 && (lo & PTE_DIRTY) === 0;
    const range = mmuNotifierRangeInit(mm, MMU_NOTIFY_CLEAR, addr, addr + PAGE_SIZE);
    await mmuNotifierInvalidateRangeStart(range);
    const off2 = findEntry(k.pt, mm.pgd, addr / PAGE_SIZE, 1);
    if (
      off2 >= 0 &&
      k.pt.words[off2 + 1] === pfn &&
      (k.pt.words[off2]! & PTE_KIND_MASK) === PTE_PRESENT &&
      pm.refcount[pfn] === 1
    ) {
      if (discard) {
        zapPte(mm, off2);
      } else {
        const slot = k.swap.allocSlot(pm.hasData(pfn) ? pm.readableBytes(pfn) : null);
        if (slot !== 0) {
          k.pt.words[off2] = PTE_SWAP;
          k.pt.words[off2 + 1] = slot;
          mm.rss[MM_ANONPAGES]!--;
          mm.rss[MM_SWAPENTS]!++;
          pm.mapcount[pfn] = 0;
          k.putPage(pfn);
        }
      }
    }
    mmuNotifierInvalidateRangeEnd(range);
  }
  return 0;
}

/** The offset of the PTE at `addr` when it is present and not special (a struct page's), else -1. */
function normalPteAt(mm: MmStruct, addr: number): number {
  const words = mm.kernel.pt.words;
  const off = findEntry(mm.kernel.pt, mm.pgd, addr / PAGE_SIZE, 1);
  if (off < 0 || (words[off]! & PTE_KIND_MASK) !== PTE_PRESENT || (words[off]! & PTE_SPECIAL) !== 0)
    return -1;
  return off;
}

/**
 * Whether MADV_PAGEOUT splits the large anonymous folio `head` (mapped from `headAddr`) as Linux
 * does, with `split_folio()` and so RMP_USE_SHARED_ZEROPAGE (6.12 and mainline): when the range
 * [start, end) holds only part of it (`madvise_cold_or_pageout_pte_range`), or when reclaim
 * cannot add it to swap whole (`shrink_folio_list`'s fallback when `add_to_swap()` fails: here,
 * fewer free slots than its pages), or when it is partly unmapped (queued for the deferred split). A lazy-free folio is discarded whole, never split. Otherwise
 * Linux swaps the folio out whole (THP_SWAP), which hmmsim does page by page without the remap.
 */
function pageoutSplitsFolio(k: Kernel, head: number, headAddr: number, start: number, end: number): boolean {
  const n = k.pm.folioNrPages(head);
  if (headAddr < start || headAddr + n * PAGE_SIZE > end) return true;
  if ((k.pm.flags[head]! & PG_lazyfree) !== 0) return false;
  // A partly unmapped folio on the deferred-split queue is split right away: its unmapped pages
  // are freed without I/O.
  if ((k.pm.flags[head]! & PG_partially_mapped) !== 0) return true;
  return k.swap.nrSlots - k.swap.inUse < n;
}

/**
 * MADV_PAGEOUT of a file or shmem mapping (found by the kernel oracle, fuzz-6-106): each page-cache
 * page of the range mapped by this PTE only (`folio_mapcount() == folio_nr_pages()`) goes to
 * `shrink_folio_list`, whose `try_to_unmap` clears its PTE (CLEAR over the page) before it looks
 * at writeback; the page itself stays in the page cache (shmem without swap: `shmem_writepage`
 * redirties it; hmmsim writes back no file page), so the next access faults it in again with the
 * same data. Pages copied on write in a private file mapping are anonymous: left in place here
 * (as anonymous pages without swap are). The process may page out the file
 * (`can_do_file_pageout`: hmmsim's processes own the files they map).
 */
async function madvisePageoutFile(vma: Vma, start: number, end: number): Promise<number> {
  const mm = vma.mm;
  const k = mm.kernel;
  const pm = k.pm;
  for (let addr = start; addr < end; addr += PAGE_SIZE) {
    const off = normalPteAt(mm, addr);
    if (off < 0) continue;
    const pfn = k.pt.words[off + 1]!;
    // vm_normal_folio: no zero page, no device memory; an anonymous (COW) page needs swap.
    if (pm.isZeroPfn(pfn) || (pm.flags[pfn]! & (PG_anon | PG_zone_device)) !== 0) continue;
    if (pm.order[pfn] !== 0 || pm.mapcount[pfn] !== 1) continue;
    const range = mmuNotifierRangeInit(mm, MMU_NOTIFY_CLEAR, addr, addr + PAGE_SIZE);
    await mmuNotifierInvalidateRangeStart(range);
    const off2 = findEntry(k.pt, mm.pgd, addr / PAGE_SIZE, 1);
    if (off2 >= 0 && k.pt.words[off2 + 1] === pfn && (k.pt.words[off2]! & PTE_KIND_MASK) === PTE_PRESENT)
      zapPte(mm, off2);
    mmuNotifierInvalidateRangeEnd(range);
  }
  return 0;
}

/**
 * MADV_COLLAPSE: each 2 MiB-aligned chunk of the range inside the VMA becomes one PMD-mapped THP
 * (collapse_huge_page): CLEAR over the chunk, contents copied (holes and zero pages read as
 * zeros, swap entries read back), the small pages released. -EAGAIN when a chunk holds a page
 * that cannot be collapsed (pinned, locked, under migration, on a device), -ENOMEM when no huge
 * page is free, -EINVAL when a chunk has no PTE table or no page mapped writable (those chunks
 * are left as they are; 6.12 stops at an empty PMD).
 */
async function madviseCollapse(vma: Vma, start: number, end: number): Promise<number> {
  if (!vma.isAnonymous || vma.isHugetlb || (vma.flags & VM_NOHUGEPAGE) !== 0) return -EINVAL;
  // thp_vma_allowable_order outside a fault: the VMA must hold an aligned 2 MiB block
  // (thp_vma_suitable_order at vm_end - PMD_SIZE), else no PMD order is allowed.
  const haddr = Math.floor((vma.end - PMD_SIZE) / PMD_SIZE) * PMD_SIZE;
  if (haddr < vma.start || haddr + PMD_SIZE > vma.end) return -EINVAL;
  // Then, outside a fault, an anonymous VMA that never had a page (no anon_vma) allows no order.
  if (vma.anonVma === null) return -EINVAL;
  // A range inside one 2 MiB block, touching neither of its ends: hstart (rounded up) passes
  // hend (rounded down), and the kernel's `thps == (hend - hstart) >> HPAGE_PMD_SHIFT` compares
  // 0 with a wrapped unsigned difference, so it fails with madvise_collapse_errno(SCAN_FAIL).
  if (Math.ceil(start / PMD_SIZE) > Math.floor(end / PMD_SIZE)) return -EINVAL;
  const mm = vma.mm;
  const k = mm.kernel;
  const pm = k.pm;
  let lastFail = 0;
  for (let haddr = Math.ceil(start / PMD_SIZE) * PMD_SIZE; haddr + PMD_SIZE <= end; haddr += PMD_SIZE) {
    const vpn = haddr / PAGE_SIZE;
    let pmdOff = findEntry(k.pt, mm.pgd, vpn, 2);
    // find_pmd_or_thp_or_none. No PMD table (mm_find_pmd finds no PUD): SCAN_PMD_NULL, which
    // madvise_collapse skips and reports at the end as -EINVAL.
    if (pmdOff < 0) {
      lastFail = -EINVAL;
      continue;
    }
    // An empty PMD: SCAN_PMD_NONE. 6.12 stops there (not on madvise_collapse's list of results to
    // go on after); mainline goes on with the next block ("mm/khugepaged: continue to collapse on
    // SCAN_PMD_NONE"). Either way the call fails: -EINVAL.
    if ((k.pt.words[pmdOff]! & PTE_KIND_MASK) === PTE_NONE) {
      if (k.kernelVersion === '6.12') return -EINVAL;
      lastFail = -EINVAL;
      continue;
    }
    // A huge PMD (a THP or the huge zero page: pmd_trans_huge): SCAN_PMD_MAPPED, counted as done.
    if ((k.pt.words[pmdOff]! & PTE_LEAF) !== 0) continue;
    // Check every entry first.
    const table =
      pmdOff >= 0 && (k.pt.words[pmdOff]! & PTE_KIND_MASK) === PTE_TABLE ? k.pt.words[pmdOff + 1]! : 0;
    let ok = true;
    let writable = false;
    if (table !== 0) {
      forEachPte(table, vpn, vpn + HPAGE_PMD_NR, (off) => {
        const e = k.pt.words[off]!;
        const kind = e & PTE_KIND_MASK;
        if (kind === 0 || kind === PTE_SWAP) return;
        if (kind !== PTE_PRESENT) ok = false;
        else if ((e & PTE_SPECIAL) === 0) {
          const pfn = k.pt.words[off + 1]!;
          if ((e & PTE_WRITE) !== 0) writable = true;
          if ((pm.flags[pfn]! & PG_anon) === 0 || pm.refcount[pm.folioHead(pfn)]! > totalMapcount(pm, pfn))
            ok = false;
        }
      });
    }
    if (!ok) return -EAGAIN;
    // hpage_collapse_scan_pmd: no page mapped writable (all COW-shared after a fork, or none but
    // empty, zero-page and swap entries) is SCAN_PAGE_RO; madvise_collapse goes on with the next
    // block and fails at the end with madvise_collapse_errno(SCAN_PAGE_RO), -EINVAL.
    if (!writable) {
      lastFail = -EINVAL;
      continue;
    }
    const head = pm.allocPages(HPAGE_PMD_ORDER);
    if (head === 0) return -ENOMEM;
    // alloc_charge_folio: SCAN_CGROUP_CHARGE_FAIL, which madvise_collapse_errno makes -EBUSY.
    if (mm.memcg !== null && memCgroupCharge(k, mm, head, MEMCG_ANON, false) !== 0) {
      pm.freePages(head);
      return -EBUSY;
    }
    const range = mmuNotifierRangeInit(mm, MMU_NOTIFY_CLEAR, haddr, haddr + PMD_SIZE);
    await mmuNotifierInvalidateRangeStart(range);
    initAnonFolio(vma, haddr, head, true);
    pmdOff = findEntry(k.pt, mm.pgd, vpn, 2);
    const t =
      pmdOff >= 0 && (k.pt.words[pmdOff]! & PTE_KIND_MASK) === PTE_TABLE ? k.pt.words[pmdOff + 1]! : 0;
    for (let i = 0; i < HPAGE_PMD_NR; i++) {
      if (t === 0) continue;
      const off = (t * PTRS_PER_TABLE + i) * 2;
      const e = k.pt.words[off]!;
      const kind = e & PTE_KIND_MASK;
      if (kind === PTE_PRESENT && !pm.isZeroPfn(k.pt.words[off + 1]!) && (e & PTE_SPECIAL) === 0)
        pm.copyPage(head + i, k.pt.words[off + 1]!);
      else if (kind === PTE_SWAP) {
        const data = k.swap.read(k.pt.words[off + 1]!);
        if (data !== null) pm.writeBytes(head + i, 0, data, 0, PAGE_SIZE);
      }
      if (kind !== 0) zapPte(mm, off);
    }
    if (t !== 0) {
      k.pt.free(t);
    }
    pmdOff = findEntry(k.pt, mm.pgd, vpn, 2);
    if (pmdOff < 0) pmdOff = ensureEntry(k.pt, mm.pgd, vpn, 2);
    pm.entireMapcount[head] = 1;
    // The PMD takes the VMA's protection (mk_huge_pmd with vm_page_prot): protnone in a
    // PROT_NONE VMA, else the CPU could read the collapsed range.
    const noAccess = (vma.flags & (VM_READ | VM_WRITE | VM_EXEC)) === 0;
    k.pt.words[pmdOff] =
      PTE_PRESENT |
      PTE_LEAF |
      PTE_YOUNG |
      PTE_DIRTY |
      (noAccess ? PTE_PROTNONE : 0) |
      ((vma.flags & VM_WRITE) !== 0 ? PTE_WRITE : 0);
    k.pt.words[pmdOff + 1] = head;
    mm.rss[MM_ANONPAGES]! += HPAGE_PMD_NR;
    mmuNotifierInvalidateRangeEnd(range);
  }
  return lastFail;
}

function totalMapcount(
  pm: {
    mapcount: Int32Array;
    entireMapcount: Int32Array;
    folioHead(p: number): number;
    folioNrPages(p: number): number;
  },
  pfn: number,
): number {
  const head = pm.folioHead(pfn);
  let n = pm.entireMapcount[head]!;
  const nr = pm.folioNrPages(pfn);
  for (let i = 0; i < nr; i++) n += pm.mapcount[head + i]!;
  return n;
}

/** Splits huge PMDs only partly inside `[start, end)`. */
async function splitPartialHugePmds(mm: MmStruct, start: number, end: number): Promise<void> {
  if (start % PMD_SIZE !== 0) await splitHugePmd(mm, Math.floor(start / PMD_SIZE) * PMD_SIZE);
  if (end % PMD_SIZE !== 0) await splitHugePmd(mm, Math.floor(end / PMD_SIZE) * PMD_SIZE);
}

/** Calls `fn` with the word offset of each PTE of table `t` for vpns in `[fromVpn, toVpn)` (same table). */
function forEachPte(t: number, fromVpn: number, toVpn: number, fn: (off: number) => void): void {
  const base = t * PTRS_PER_TABLE * 2;
  const a = fromVpn % PTRS_PER_TABLE;
  for (let j = a; j < a + (toVpn - fromVpn); j++) fn(base + 2 * j);
}
