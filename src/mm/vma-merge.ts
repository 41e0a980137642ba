/**
 * VMA merging (mm/vma.c): a new anonymous mapping that continues an adjacent VMA with the same
 * attributes extends that VMA instead of making a new one (`vma_merge_new_range`). Which VMAs
 * merge is visible: a merged VMA shares its neighbour's anon_vma, so fork copies its page table
 * entries (`vma_needs_copy`) even where it was never faulted, and THP faults and MADV_COLLAPSE
 * need a whole 2 MiB block inside one VMA.
 * @module
 */
import { PAGE_SIZE, VM_SPECIAL } from './constants.ts';
import type { MmStruct } from './mm-struct.ts';
import type { Vma } from './vma.ts';
import { vmaRemove } from './vma-ops.ts';

/**
 * `is_mergeable_anon_vma` for a target VMA `tgt` that would absorb a range whose anon_vma is
 * `srcAnon` (null for a new mapping). A VMA whose anon_vma chain holds its parents' anon_vmas (a
 * fork child) never takes over a range without one, nor the other way round; otherwise an
 * anon_vma on one side only is shared by the merged VMA, and two must be the same.
 */
function isMergeableAnonVma(srcAnon: Vma['anonVma'], tgt: Vma): boolean {
  if (srcAnon === null || tgt.anonVma === null) {
    if (tgt.anonVma !== null) return !tgt.anonVmaFromParent;
    return srcAnon === null;
  }
  return srcAnon === tgt.anonVma;
}

/**
 * The attributes `is_mergeable_vma` compares: flags (VM_SOFTDIRTY is not modelled), file (only
 * anonymous memory merges here), userfaultfd context. Memory policies and anon names are not
 * modelled, so they are always equal.
 */
function isMergeableVma(vma: Vma, flags: number): boolean {
  return vma.flags === flags && vma.isAnonymous && vma.uffd === null;
}

/** The VMA ending exactly at `addr`, or null. */
function vmaEndingAt(mm: MmStruct, addr: number): Vma | null {
  if (addr < PAGE_SIZE) return null;
  const prev = mm.findVma(addr - PAGE_SIZE);
  return prev !== null && prev.end === addr ? prev : null;
}

/** The VMA starting exactly at `addr`, or null. */
function vmaStartingAt(mm: MmStruct, addr: number): Vma | null {
  const next = mm.findVma(addr);
  return next !== null && next.start === addr ? next : null;
}

/**
 * `vma_merge_new_range` for a new private anonymous mapping `[start, end)` with `flags` and
 * linear page offset `pgoff` (the caller made sure the range is free): extends the previous VMA,
 * the next one, or both into one, as Linux does, and returns the merged VMA; null when no
 * neighbour can take the range (the caller then creates a VMA).
 */
export function vmaMergeNewRange(
  mm: MmStruct,
  start: number,
  end: number,
  flags: number,
  pgoff: number,
): Vma | null {
  if ((flags & VM_SPECIAL) !== 0) return null;
  const pglen = (end - start) / PAGE_SIZE;
  const prev = vmaEndingAt(mm, start);
  const next = vmaStartingAt(mm, end);
  // can_vma_merge_left / can_vma_merge_after: prev continues into the range.
  const left =
    prev !== null &&
    isMergeableVma(prev, flags) &&
    isMergeableAnonVma(null, prev) &&
    prev.pgoff + prev.size / PAGE_SIZE === pgoff;
  // can_vma_merge_right / can_vma_merge_before: the range continues into next; with prev too,
  // prev and next must have compatible anon_vmas (are_anon_vmas_compatible).
  const right =
    next !== null &&
    isMergeableVma(next, flags) &&
    isMergeableAnonVma(null, next) &&
    next.pgoff === pgoff + pglen &&
    (!left || prev!.anonVma === null || next.anonVma === null || prev!.anonVma === next.anonVma);
  if (left && right) {
    // vma_expand over next: prev takes next's anon_vma if it had none (dup_anon_vma).
    const p = prev!;
    const n = next!;
    const newEnd = n.end;
    if (p.anonVma === null && n.anonVma !== null) {
      p.anonVma = n.anonVma;
      p.anonVmaFromParent = n.anonVmaFromParent;
      n.anonVma.vmas.add(p);
    }
    vmaRemove(n);
    p.end = newEnd;
    return p;
  }
  if (left) {
    prev!.end = end;
    return prev;
  }
  if (right) {
    next!.start = start;
    next!.pgoff = pgoff;
    return next;
  }
  return null;
}
