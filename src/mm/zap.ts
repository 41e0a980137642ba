/**
 * Removing mappings (`zap_page_range_single`, `unmap_vmas`, mm/memory.c): every kind of entry is
 * cleared with its accounting (mapcount, references, rss, swap slots). Partial huge PMDs are split
 * first (CLEAR over the 2 MiB span, nested in the caller's own invalidation).
 * @module
 */

import { kernelBug } from '../sim/errors.ts';
import { HPAGE_PMD_NR, MM_SWAPENTS, PAGE_SIZE, PTRS_PER_TABLE } from './constants.ts';
import { deferredSplitFolio } from './deferred-split.ts';
import { splitHugePmd } from './huge-memory.ts';
import { hstateVma, hugetlbZapRestoreReserve } from './hugetlb.ts';
import type { MmStruct } from './mm-struct.ts';
import { PG_dirty, PG_hugetlb } from './page-flags.ts';
import { findEntry } from './page-table.ts';
import { collectPmds } from './pgwalk.ts';
import {
  PTE_DEVICE_EXCLUSIVE,
  PTE_DEVICE_PRIVATE_READ,
  PTE_DEVICE_PRIVATE_WRITE,
  PTE_DIRTY,
  PTE_HWPOISON,
  PTE_KIND_MASK,
  PTE_LEAF,
  PTE_MARKER,
  PTE_MIGRATION_READ,
  PTE_MIGRATION_READ_EXCLUSIVE,
  PTE_MIGRATION_WRITE,
  PTE_NONE,
  PTE_PRESENT,
  PTE_SPECIAL,
  PTE_SWAP,
  PTE_TABLE,
} from './pte.ts';
import type { Vma } from './vma.ts';

/**
 * Clears one PTE-level entry at word offset `off` of `mm` with its accounting. Returns the head
 * pfn of a large folio that lost a PTE mapping (a deferred-split candidate), or 0.
 */
export function zapPte(mm: MmStruct, off: number): number {
  const k = mm.kernel;
  const w = k.pt.words;
  const lo = w[off]!;
  const hi = w[off + 1]!;
  w[off] = 0;
  w[off + 1] = 0;
  const pm = k.pm;
  switch (lo & PTE_KIND_MASK) {
    case PTE_NONE:
    case PTE_HWPOISON:
    case PTE_MARKER:
      return 0;
    case PTE_PRESENT: {
      if ((lo & PTE_SPECIAL) !== 0 || pm.isZeroPfn(hi)) return 0;
      if ((lo & PTE_DIRTY) !== 0) pm.flags[hi]! |= PG_dirty;
      return dropPageMapping(mm, hi);
    }
    case PTE_SWAP:
      k.swap.free(hi);
      mm.rss[MM_SWAPENTS]!--;
      return 0;
    case PTE_MIGRATION_READ:
    case PTE_MIGRATION_READ_EXCLUSIVE:
    case PTE_MIGRATION_WRITE:
      // The migration holds the page; the entry itself holds no reference, only rss.
      mm.rss[k.mmCounterOf(hi)]!--;
      return 0;
    case PTE_DEVICE_PRIVATE_READ:
    case PTE_DEVICE_PRIVATE_WRITE:
    case PTE_DEVICE_EXCLUSIVE:
      return dropPageMapping(mm, hi);
    default:
      kernelBug(`zapPte: unexpected entry kind ${lo & PTE_KIND_MASK} at offset ${off}`);
  }
}

function dropPageMapping(mm: MmStruct, pfn: number): number {
  const k = mm.kernel;
  const pm = k.pm;
  pm.mapcount[pfn]!--;
  mm.rss[k.mmCounterOf(pfn)]!--;
  const head = pm.folioHead(pfn);
  const large = head !== pfn || pm.order[pfn] !== 0;
  k.putPage(pfn);
  return large && pm.refcount[head]! > 0 ? head : 0;
}

/**
 * Clears a huge leaf (THP, huge zero page, hugetlb, PMD migration entry) at PMD offset `off`, or
 * a 1 GiB hugetlb page's PUD leaf (its folio's size is what is unaccounted).
 */
export function zapHugePmd(mm: MmStruct, off: number): void {
  const k = mm.kernel;
  const w = k.pt.words;
  const lo = w[off]!;
  const head = w[off + 1]!;
  w[off] = 0;
  w[off + 1] = 0;
  const pm = k.pm;
  const kind = lo & PTE_KIND_MASK;
  if (kind === PTE_PRESENT) {
    if (pm.isZeroPfn(head)) return;
    if ((lo & PTE_DIRTY) !== 0) pm.flags[head]! |= PG_dirty;
    pm.entireMapcount[head]!--;
    if ((pm.flags[head]! & PG_hugetlb) !== 0) mm.hugetlbPages -= pm.folioNrPages(head);
    else mm.rss[k.mmCounterOf(head)]! -= HPAGE_PMD_NR;
    k.putPage(head);
    // The last PMD mapping gone while other processes map only some pages by PTEs: queued.
    deferredSplitFolio(k, head);
  } else if (kind >= PTE_MIGRATION_READ && kind <= PTE_MIGRATION_WRITE) {
    mm.rss[k.mmCounterOf(head)]! -= HPAGE_PMD_NR;
  } else if (kind === PTE_DEVICE_PRIVATE_READ || kind === PTE_DEVICE_PRIVATE_WRITE) {
    pm.entireMapcount[head]!--;
    mm.rss[k.mmCounterOf(head)]! -= HPAGE_PMD_NR;
    k.putPage(head);
  } else kernelBug(`zapHugePmd: unexpected entry kind ${kind}`);
}

/**
 * Removes every mapping of `vma` in `[start, end)` (`unmap_single_vma`). A huge PMD only partly
 * inside the range is split first. The caller holds the mmap lock and has started its own
 * invalidation over the range.
 */
export async function zapVmaRange(vma: Vma, start: number, end: number): Promise<void> {
  const mm = vma.mm;
  const k = mm.kernel;
  start = Math.max(start, vma.start);
  end = Math.min(end, vma.end);
  if (start >= end) return;
  const startVpn = start / PAGE_SIZE;
  const endVpn = end / PAGE_SIZE;
  // Split partial huge PMDs at the edges first (this may sleep in notifier callbacks).
  if (!vma.isHugetlb) {
    for (const edge of [startVpn, endVpn - 1]) {
      const off = findEntry(k.pt, mm.pgd, edge, 2);
      if (off < 0 || (k.pt.words[off]! & PTE_LEAF) === 0) continue;
      const chunk = Math.floor(edge / HPAGE_PMD_NR) * HPAGE_PMD_NR;
      if (chunk < startVpn || chunk + HPAGE_PMD_NR > endVpn) await splitHugePmd(mm, chunk * PAGE_SIZE);
    }
  }
  const pmds = collectPmds(k.pt, mm.pgd, startVpn, endVpn);
  const candidates: number[] = [];
  // Entries cleared (cost per entry) and present ones among them (a TLB flush is owed).
  const count: ZapCount = { entries: 0, present: 0 };
  for (let i = 0; i < pmds.length; i += 3) {
    const pmdOff = pmds[i]!;
    const from = pmds[i + 1]!;
    const to = pmds[i + 2]!;
    const lo = k.pt.words[pmdOff]!;
    if ((lo & PTE_LEAF) !== 0) {
      // __unmap_hugepage_range: an owner's anonymous huge page gets its reservation back.
      if (vma.isHugetlb && (lo & PTE_KIND_MASK) === PTE_PRESENT)
        hugetlbZapRestoreReserve(hstateVma(vma), vma, from * PAGE_SIZE, k.pt.words[pmdOff + 1]!);
      count.entries++;
      if ((lo & PTE_KIND_MASK) === PTE_PRESENT) count.present++;
      zapHugePmd(mm, pmdOff);
      continue;
    }
    if ((lo & PTE_KIND_MASK) !== PTE_TABLE) continue;
    zapPteRange(mm, k.pt.words[pmdOff + 1]!, from, to, candidates, count);
  }
  for (const head of candidates) deferredSplitFolio(k, head);
  // unmap_single_vma's fixed work, zap_pte_range's per entry, and tlb_finish_mmu's flush when a
  // present translation went away.
  const c = k.costs;
  k.work.zapRanges++;
  k.work.zapPtes += count.entries;
  k.sched.clock.advance(c.zapRangeNs + count.entries * c.zapPteNs);
  if (count.present > 0) k.chargeTlbShootdown();
}

/** What one unmap cleared: every entry, and the present ones (whose translations the TLBs may hold). */
interface ZapCount {
  entries: number;
  present: number;
}

/**
 * zap_pte_range: clears the entries for vpns `[from, to)` of PTE table `table` (under one PMD),
 * adding the large folios that lost a mapping to `candidates` and what was cleared to `count`. A function of its own, called per
 * table, so the JIT optimizes it once rather than on-stack in each (long) zapVmaRange.
 */
function zapPteRange(
  mm: MmStruct,
  table: number,
  from: number,
  to: number,
  candidates: number[],
  count: ZapCount,
): void {
  const pool = mm.kernel.pt;
  const base = table * PTRS_PER_TABLE * 2;
  const a = from % PTRS_PER_TABLE;
  const b = a + (to - from);
  let entries = 0;
  let present = 0;
  for (let j = a; j < b; j++) {
    const off = base + 2 * j;
    const lo = pool.words[off]!;
    if (lo === 0) continue;
    entries++;
    if ((lo & PTE_KIND_MASK) === PTE_PRESENT) present++;
    const head = zapPte(mm, off);
    if (head !== 0 && candidates[candidates.length - 1] !== head) candidates.push(head);
  }
  count.entries += entries;
  count.present += present;
}
