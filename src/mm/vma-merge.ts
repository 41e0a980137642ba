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
 * What `vma_merge_new_range` compares of the range being placed (the `vma_merge_struct`'s
 * fields): its flags, file and vm_ops, userfaultfd context and anon_vma. A new mapping has none of
 * these but flags; mremap places a range that has an existing VMA's ({@link mergeAttrsOf}).
 */
export interface MergeAttrs {
  readonly flags: number;
  readonly file: Vma['file'];
  readonly vmOps: Vma['vmOps'];
  readonly uffd: Vma['uffd'];
  readonly anonVma: Vma['anonVma'];
  /** The anon_vma chain holds a parent's anon_vmas (a fork child's VMA). */
  readonly anonVmaFromParent: boolean;
}

/** The merge attributes of a new private anonymous mapping with `flags`. */
const newAnonAttrs = (flags: number): MergeAttrs => ({
  flags,
  file: null,
  vmOps: null,
  uffd: null,
  anonVma: null,
  anonVmaFromParent: false,
});

/** The merge attributes of a range of `vma` (mremap's `VMG_VMA_STATE`). */
export const mergeAttrsOf = (vma: Vma): MergeAttrs => ({
  flags: vma.flags,
  file: vma.file,
  vmOps: vma.vmOps,
  uffd: vma.uffd,
  anonVma: vma.anonVma,
  anonVmaFromParent: vma.anonVmaFromParent,
});

/**
 * `is_mergeable_anon_vma` for a target VMA `tgt` that would absorb a range with `src`'s anon_vma.
 * The same anon_vma (or none on both sides) always merges. A faulted `tgt` takes an unfaulted
 * range unless its anon_vma chain holds its parents' (a fork child's VMA). An unfaulted `tgt`
 * never takes a faulted range in 6.12 (its empty chain is not singular); mainline (879bca0a2c4f,
 * v6.16) lets it, taking the range's anon_vma, unless that came from a parent.
 */
function isMergeableAnonVma(mm: MmStruct, src: MergeAttrs, tgt: Vma): boolean {
  if (src.anonVma === tgt.anonVma) return true;
  if (src.anonVma === null) return !tgt.anonVmaFromParent;
  if (tgt.anonVma !== null) return false;
  return mm.kernel.kernelVersion !== '6.12' && !src.anonVmaFromParent;
}

/**
 * The attributes `is_mergeable_vma` compares: flags (VM_SOFTDIRTY is not modelled), file and its
 * vm_ops, userfaultfd context. Memory policies and anon names are not modelled, so they are
 * always equal. hugetlb VMAs never merge here (a simplification, see docs/semantics.md).
 */
function isMergeableVma(vma: Vma, src: MergeAttrs): boolean {
  return (
    vma.flags === src.flags &&
    vma.file === src.file &&
    vma.vmOps === src.vmOps &&
    vma.uffd === src.uffd &&
    !vma.isHugetlb
  );
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

/** `tgt` shares `anon` from now on (`dup_anon_vma`, or taking the placed range's anon_vma). */
function takeAnonVma(tgt: Vma, anon: Vma['anonVma'], fromParent: boolean): void {
  if (tgt.anonVma !== null || anon === null) return;
  tgt.anonVma = anon;
  tgt.anonVmaFromParent = fromParent;
  anon.vmas.add(tgt);
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
  return vmaMergeRange(mm, start, end, newAnonAttrs(flags), pgoff, vmaEndingAt(mm, start));
}

/**
 * `vma_merge_new_range` for the free range `[start, end)` described by `src` at page offset
 * `pgoff`, with `prev` the VMA that may continue into it (null: none may): `prev` extends over it
 * (`can_vma_merge_left`), the next VMA starting at `end` extends down over it
 * (`can_vma_merge_right`), or both become one when their own anon_vmas are compatible and the
 * next has no close operation (`can_merge_remove_vma`). Returns the merged VMA, or null.
 */
export function vmaMergeRange(
  mm: MmStruct,
  start: number,
  end: number,
  src: MergeAttrs,
  pgoff: number,
  prev: Vma | null,
): Vma | null {
  if ((src.flags & VM_SPECIAL) !== 0) return null;
  const pglen = (end - start) / PAGE_SIZE;
  const next = vmaStartingAt(mm, end);
  // can_vma_merge_left / can_vma_merge_after: prev continues into the range.
  const left =
    prev !== null &&
    prev.end === start &&
    isMergeableVma(prev, src) &&
    isMergeableAnonVma(mm, src, prev) &&
    prev.pgoff + prev.size / PAGE_SIZE === pgoff;
  // can_vma_merge_right / can_vma_merge_before: the range continues into next; with prev too,
  // prev and next must have compatible anon_vmas (are_anon_vmas_compatible).
  const right =
    next !== null &&
    isMergeableVma(next, src) &&
    isMergeableAnonVma(mm, src, next) &&
    next.pgoff === pgoff + pglen &&
    (!left || prev!.anonVma === null || next.anonVma === null || prev!.anonVma === next.anonVma);
  if (left && right && next!.vmOps?.close === undefined) {
    // vma_expand over next: prev takes next's anon_vma if it had none (dup_anon_vma).
    const p = prev!;
    const n = next!;
    const newEnd = n.end;
    takeAnonVma(p, n.anonVma, n.anonVmaFromParent);
    takeAnonVma(p, src.anonVma, src.anonVmaFromParent);
    vmaRemove(n);
    p.end = newEnd;
    return p;
  }
  if (left) {
    takeAnonVma(prev!, src.anonVma, src.anonVmaFromParent);
    prev!.end = end;
    return prev;
  }
  if (right) {
    takeAnonVma(next!, src.anonVma, src.anonVmaFromParent);
    next!.start = start;
    next!.pgoff = pgoff;
    return next;
  }
  return null;
}
