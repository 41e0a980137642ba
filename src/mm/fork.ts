/**
 * fork's address-space copy (dup_mmap and copy_page_range, kernel/fork.c and mm/memory.c):
 * shared mappings stay shared (the child faults their pages in from the page cache); private
 * mappings share their pages copy-on-write, write-protected in parent and child, announced to
 * the parent's subscriptions as PROTECTION_PAGE over each copied span. Device-private entries
 * are shared read-only in both; device-exclusive entries are restored first.
 * @module
 */
import { HPAGE_PMD_NR, MM_SWAPENTS, PAGE_SIZE, PTRS_PER_TABLE, VM_MIXEDMAP, VM_PFNMAP } from './constants.ts';
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
  PTE_SPECIAL,
  PTE_SWAP,
  PTE_TABLE,
  PTE_WRITE,
} from './pte.ts';
import type { Vma } from './vma.ts';
import { vmaDup } from './vma-ops.ts';

/** dup_mmap: builds `child` (a fresh mm) as a copy of `parent`, whose mmap write lock is held. */
export async function dupMmap(parent: MmStruct, child: MmStruct): Promise<void> {
  for (const vma of [...parent.vmas]) {
    const copy = vmaDup(vma, child, vma.start, vma.end, vma.pgoff);
    if (vma.anonVma === null && !vma.isHugetlb && (vma.flags & (VM_PFNMAP | VM_MIXEDMAP)) === 0) continue; // vma_needs_copy
    await copyPageRange(vma, copy);
  }
}

async function copyPageRange(src: Vma, dst: Vma): Promise<void> {
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
    const lo = k.pt.words[pmdOff]!;
    if ((lo & PTE_LEAF) !== 0) {
      copyHugePmd(src, dst, pmdOff, from, cow);
      continue;
    }
    if ((lo & PTE_KIND_MASK) !== PTE_TABLE) continue;
    const t = k.pt.words[pmdOff + 1]!;
    for (let v = from; v < to; v++) {
      const off = (t * PTRS_PER_TABLE + (v % PTRS_PER_TABLE)) * 2;
      if (k.pt.words[off] === 0) continue;
      copyPte(src, dst, off, v, cow);
    }
  }
  if (cow) mmuNotifierInvalidateRangeEnd(range);
}

/** copy_huge_pmd / copy_hugetlb_page_range: the child shares the huge page. */
function copyHugePmd(src: Vma, dst: Vma, pmdOff: number, vpn: number, cow: boolean): void {
  const k = src.mm.kernel;
  const pm = k.pm;
  let lo = k.pt.words[pmdOff]!;
  const head = k.pt.words[pmdOff + 1]!;
  const kind = lo & PTE_KIND_MASK;
  const dstOff = ensureEntry(k.pt, dst.mm.pgd, vpn, 2);
  if (kind === PTE_PRESENT) {
    if (!pm.isZeroPfn(head)) {
      pm.entireMapcount[head]!++;
      pm.refcount[head]!++;
      if ((pm.flags[head]! & PG_hugetlb) !== 0) dst.mm.hugetlbPages += HPAGE_PMD_NR;
      else dst.mm.rss[k.mmCounterOf(head)]! += HPAGE_PMD_NR;
      if (cow && (pm.flags[head]! & PG_anon) !== 0)
        for (let j = 0; j < HPAGE_PMD_NR; j++) pm.flags[head + j]! &= ~PG_anon_exclusive;
    }
    if (cow) lo &= ~PTE_WRITE;
  } else if (kind >= PTE_MIGRATION_READ && kind <= PTE_MIGRATION_WRITE) {
    if (cow && kind === PTE_MIGRATION_WRITE) lo = (lo & ~PTE_KIND_MASK) | PTE_MIGRATION_READ;
    dst.mm.rss[k.mmCounterOf(head)]! += HPAGE_PMD_NR;
  } else if (kind === PTE_DEVICE_PRIVATE_READ || kind === PTE_DEVICE_PRIVATE_WRITE) {
    pm.entireMapcount[head]!++;
    pm.refcount[head]!++;
    dst.mm.rss[k.mmCounterOf(head)]! += HPAGE_PMD_NR;
    if (cow) lo = (lo & ~PTE_KIND_MASK) | PTE_DEVICE_PRIVATE_READ;
  }
  k.pt.words[pmdOff] = lo;
  k.pt.words[dstOff] = lo;
  k.pt.words[dstOff + 1] = head;
}

/** copy_present_pte / copy_nonpresent_pte for one PTE. */
function copyPte(src: Vma, dst: Vma, off: number, vpn: number, cow: boolean): void {
  const k = src.mm.kernel;
  const pm = k.pm;
  let lo = k.pt.words[off]!;
  const hi = k.pt.words[off + 1]!;
  let kind = lo & PTE_KIND_MASK;
  if (kind === PTE_DEVICE_EXCLUSIVE) {
    // The parent's exclusive entry is restored to a normal PTE before copying (its mapcount and
    // reference were kept by the entry).
    lo = PTE_PRESENT | ((src.flags & 0x2) !== 0 ? PTE_WRITE | PTE_DIRTY : 0);
    kind = PTE_PRESENT;
  }
  if (kind === PTE_PRESENT) {
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
    if (cow) lo = (lo & ~PTE_KIND_MASK) | PTE_DEVICE_PRIVATE_READ;
  }
  k.pt.words[off] = lo;
  const dstOff = ensureEntry(k.pt, dst.mm.pgd, vpn, 1);
  k.pt.words[dstOff] = lo;
  k.pt.words[dstOff + 1] = hi;
}
