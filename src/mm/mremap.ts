/**
 * mremap (mm/mremap.c): shrink, grow in place, move (MAYMOVE, FIXED), and DONTUNMAP. Moving
 * carries the page-table entries to the new address (whole PMDs when both sides are aligned,
 * otherwise the THP is split first), announcing UNMAP over the old range.
 * @module
 */
import { EFAULT, EINVAL, ENOMEM } from '../sim/errno.ts';
import {
  HPAGE_PMD_NR,
  MREMAP_DONTUNMAP,
  MREMAP_FIXED,
  MREMAP_MAYMOVE,
  PAGE_SIZE,
  PMD_SIZE,
  PTRS_PER_TABLE,
  TASK_SIZE,
  VM_DONTEXPAND,
  VM_MAYSHARE,
  VM_PFNMAP,
  VM_SHARED,
} from './constants.ts';
import { splitHugePmd } from './huge-memory.ts';
import { clearVmaResvHugePages, hstateVma, hugetlbVmOpOpen } from './hugetlb.ts';
import type { MmStruct } from './mm-struct.ts';
import { doMunmap, pageAlign } from './mmap.ts';
import {
  MMU_NOTIFY_UNMAP,
  mmuNotifierInvalidateRangeEnd,
  mmuNotifierInvalidateRangeStart,
  mmuNotifierRangeInit,
} from './mmu-notifier.ts';
import { ensureEntry, findEntry } from './page-table.ts';
import { collectPmds } from './pgwalk.ts';
import { PTE_KIND_MASK, PTE_LEAF, PTE_TABLE } from './pte.ts';
import type { Vma } from './vma.ts';
import { mergeAttrsOf, vmaMergeRange } from './vma-merge.ts';
import { isolateRange, vmaDup } from './vma-ops.ts';

/**
 * `sys_mremap` with the mmap write lock held. Returns the new address or -errno. The checks and
 * their order are mainline's (`check_mremap_params`, `align_hugetlb`, `remap_is_valid`): shrinking
 * or keeping the size in place never looks past the first VMA; growing or moving needs the old
 * range inside one VMA (-EFAULT).
 */
export async function doMremap(
  mm: MmStruct,
  oldAddr: number,
  oldSize: number,
  newSize: number,
  flags: number,
  newAddr: number,
): Promise<number> {
  if (
    !Number.isInteger(oldAddr) ||
    !Number.isInteger(oldSize) ||
    !Number.isInteger(newSize) ||
    !Number.isInteger(flags) ||
    !Number.isInteger(newAddr)
  )
    return -EINVAL;
  if (oldAddr < 0 || oldSize < 0 || newSize < 0 || newAddr < 0) return -EINVAL;
  if ((flags & ~(MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP)) !== 0) return -EINVAL;
  if (oldAddr % PAGE_SIZE !== 0) return -EINVAL;
  if (pageAlign(newSize) === 0) return -EINVAL;
  // FIXED and DONTUNMAP imply a move to a new address (vrm_implies_new_addr).
  const moveTo = (flags & (MREMAP_FIXED | MREMAP_DONTUNMAP)) !== 0;
  if (moveTo) {
    if (newAddr % PAGE_SIZE !== 0) return -EINVAL;
    if ((flags & MREMAP_MAYMOVE) === 0) return -EINVAL;
    if ((flags & MREMAP_DONTUNMAP) !== 0 && oldSize !== newSize) return -EINVAL;
  }
  oldSize = pageAlign(oldSize);
  newSize = pageAlign(newSize);
  let vma = mm.vmaLookup(oldAddr);
  if (vma === null) return -EFAULT;
  if (vma.isHugetlb) {
    // align_hugetlb: lengths round up to the huge page size; a hugetlb mapping never grows.
    const size = hstateVma(vma).size;
    oldSize = Math.ceil(oldSize / size) * size;
    newSize = Math.ceil(newSize / size) * size;
    if (oldAddr % size !== 0 || newAddr % size !== 0) return -EINVAL;
    if (newSize > oldSize) return -EINVAL;
  }
  const dontUnmap = (flags & MREMAP_DONTUNMAP) !== 0;

  if (moveTo) {
    // mremap_to
    if (newSize > TASK_SIZE || newAddr > TASK_SIZE - newSize) return -EINVAL;
    if (newAddr < oldAddr + oldSize && oldAddr < newAddr + newSize) return -EINVAL; // overlap
    if ((flags & MREMAP_FIXED) !== 0) {
      const r = await doMunmap(mm, newAddr, newAddr + newSize);
      if (r < 0) return r;
      vma = mm.vmaLookup(oldAddr);
      if (vma === null) return -EFAULT;
    }
    if (newSize < oldSize) {
      const r = await doMunmap(mm, oldAddr + newSize, oldAddr + oldSize);
      if (r < 0) return r;
      vma = mm.vmaLookup(oldAddr);
      if (vma === null) return -EFAULT;
      oldSize = newSize;
    }
    const r = remapIsValid(vma, oldAddr, oldSize, newSize, dontUnmap);
    if (r < 0) return r;
    const target =
      (flags & MREMAP_FIXED) !== 0
        ? newAddr
        : mm.getUnmappedArea(newSize, vma.isHugetlb ? hstateVma(vma).size : PAGE_SIZE);
    if (target < 0) return -ENOMEM;
    return moveVma(mm, oldAddr, oldSize, target, newSize, dontUnmap);
  }

  // mremap_at
  if (newSize === oldSize) return oldAddr;
  if (newSize < oldSize) {
    const r = await doMunmap(mm, oldAddr + newSize, oldAddr + oldSize);
    return r < 0 ? r : oldAddr;
  }
  const r = remapIsValid(vma, oldAddr, oldSize, newSize, false);
  if (r < 0) return r;
  // Grow in place when the VMA ends at the old range and the space after it is free. A file's
  // size (a shmem object's too) does not change: pages beyond its end fault with SIGBUS.
  const delta = newSize - oldSize;
  if (oldAddr + oldSize === vma.end && vma.end + delta <= TASK_SIZE && mm.isFree(vma.end, vma.end + delta)) {
    vmaMergeExtend(vma, delta);
    return oldAddr;
  }
  if ((flags & MREMAP_MAYMOVE) === 0) return -ENOMEM;
  const target = mm.getUnmappedArea(newSize, vma.isHugetlb ? hstateVma(vma).size : PAGE_SIZE);
  if (target < 0) return -ENOMEM;
  return moveVma(mm, oldAddr, oldSize, target, newSize, false);
}

/** remap_is_valid: can `[oldAddr, oldAddr + oldSize)` of `vma` be moved or resized to `newSize`? */
function remapIsValid(
  vma: Vma,
  oldAddr: number,
  oldSize: number,
  newSize: number,
  dontUnmap: boolean,
): number {
  if (oldSize === 0 && (vma.flags & (VM_SHARED | VM_MAYSHARE)) === 0) return -EINVAL; // duplicating a private mapping
  if (dontUnmap && (vma.flags & (VM_DONTEXPAND | VM_PFNMAP)) !== 0) return -EINVAL;
  if (oldAddr + oldSize > vma.end) return -EFAULT; // across VMA boundaries
  if (oldSize === 0) return -EINVAL; // duplicating a shared mapping (old_len 0) is not modelled
  if (newSize === oldSize) return 0;
  if ((vma.flags & (VM_DONTEXPAND | VM_PFNMAP)) !== 0) return -EFAULT;
  return 0;
}

/** move_vma: moves `[oldAddr, oldAddr+oldSize)` to `newAddr`, growing to `newSize`. */
async function moveVma(
  mm: MmStruct,
  oldAddr: number,
  oldSize: number,
  newAddr: number,
  newSize: number,
  dontUnmap: boolean,
): Promise<number> {
  const isolated = await isolateRange(mm, oldAddr, oldAddr + oldSize);
  if (typeof isolated === 'number') return isolated;
  const old = isolated[0]!;
  copyVma(old, newAddr, newSize);
  await movePageTables(old, oldAddr, newAddr, oldSize);
  // The reservations went with the new VMA: the old one must not give them back when unmapped.
  if (old.isHugetlb) clearVmaResvHugePages(old);
  if (dontUnmap) {
    // The old VMA stays, empty, and forgets its anonymous pages' family.
    if (old.anonVma !== null) {
      old.anonVma.vmas.delete(old);
      old.anonVma = null;
      old.anonVmaFromParent = false;
    }
    return newAddr;
  }
  const r = await doMunmap(mm, oldAddr, oldAddr + oldSize);
  if (r < 0) return r;
  return newAddr;
}

/**
 * `vma_merge_extend` (mremap growing `vma` in place by `delta` bytes): the extension is merged
 * into `vma` and, when the VMA after it now starts where it ends and is compatible
 * (`vma_merge_new_range` with `vma` as prev), into that one too: one VMA, as /proc/pid/maps shows.
 * Anonymous VMAs only (file, shared and hugetlb ones are not merged here: docs/semantics.md).
 */
function vmaMergeExtend(vma: Vma, delta: number): void {
  const end = vma.end;
  const pgoff = vma.pgoff + vma.size / PAGE_SIZE;
  if (!vma.isAnonymous || vmaMergeRange(vma.mm, end, end + delta, mergeAttrsOf(vma), pgoff, vma) === null)
    vma.end = end + delta;
}

/**
 * `copy_vma`: the VMA of a move's destination `[newAddr, newAddr + newSize)` for the range
 * `old`. The range keeps `old`'s page offset, so rmap finds the moved pages — unless `old` is
 * anonymous and was never faulted (no anon_vma): then the offset follows the new address, which
 * lets it merge where it lands. A compatible neighbour at the destination takes the range
 * (`vma_merge_new_range`; anonymous ranges only); otherwise a copy of `old` is made, sharing its
 * backing and anon family. Returns the VMA that now covers the destination.
 */
function copyVma(old: Vma, newAddr: number, newSize: number): Vma {
  const mm = old.mm;
  const pgoff = old.isAnonymous && old.anonVma === null ? newAddr / PAGE_SIZE : old.pgoff;
  if (old.isAnonymous) {
    const prev = newAddr >= PAGE_SIZE ? mm.findVma(newAddr - PAGE_SIZE) : null;
    const merged = vmaMergeRange(mm, newAddr, newAddr + newSize, mergeAttrsOf(old), pgoff, prev);
    if (merged !== null) return merged;
  }
  const moved = vmaDup(old, mm, newAddr, newAddr + newSize, pgoff);
  if (old.isHugetlb) hugetlbVmOpOpen(old, moved);
  return moved;
}

/** move_page_tables: entries move with their accounting untouched (same mm). */
async function movePageTables(old: Vma, oldAddr: number, newAddr: number, len: number): Promise<void> {
  const mm = old.mm;
  const k = mm.kernel;
  const range = mmuNotifierRangeInit(mm, MMU_NOTIFY_UNMAP, oldAddr, oldAddr + len);
  await mmuNotifierInvalidateRangeStart(range);
  const sameOffset = (oldAddr - newAddr) % PMD_SIZE === 0;
  const oldVpn = oldAddr / PAGE_SIZE;
  const newVpn = newAddr / PAGE_SIZE;
  const npages = len / PAGE_SIZE;
  if (!old.isHugetlb) {
    // Huge PMDs that cannot move whole are split first.
    for (const pmd of chunksOf(k, mm, oldVpn, oldVpn + npages)) {
      const whole = pmd.from % HPAGE_PMD_NR === 0 && pmd.to - pmd.from === HPAGE_PMD_NR;
      if (!sameOffset || !whole)
        await splitHugePmd(mm, Math.floor(pmd.from / HPAGE_PMD_NR) * HPAGE_PMD_NR * PAGE_SIZE);
    }
  }
  const w = () => k.pt.words;
  for (const pmd of chunksOf(k, mm, oldVpn, oldVpn + npages)) {
    const lo = w()[pmd.off]!;
    const dstVpn = newVpn + (pmd.from - oldVpn);
    if ((lo & PTE_LEAF) !== 0) {
      // move_hugetlb_page_tables moves a 1 GiB page's PUD leaf as a PUD leaf.
      const dst = ensureEntry(k.pt, mm.pgd, dstVpn, old.isHugetlb ? hstateVma(old).level : 2);
      w()[dst] = lo;
      w()[dst + 1] = w()[pmd.off + 1]!;
      w()[pmd.off] = 0;
      w()[pmd.off + 1] = 0;
      continue;
    }
    if ((lo & PTE_KIND_MASK) !== PTE_TABLE) continue;
    const t = w()[pmd.off + 1]!;
    for (let v = pmd.from; v < pmd.to; v++) {
      const src = (t * PTRS_PER_TABLE + (v % PTRS_PER_TABLE)) * 2;
      if (w()[src] === 0) continue;
      const dst = ensureEntry(k.pt, mm.pgd, newVpn + (v - oldVpn), 1);
      w()[dst] = w()[src]!;
      w()[dst + 1] = w()[src + 1]!;
      w()[src] = 0;
      w()[src + 1] = 0;
    }
  }
  mmuNotifierInvalidateRangeEnd(range);
}

function chunksOf(
  k: MmStruct['kernel'],
  mm: MmStruct,
  fromVpn: number,
  toVpn: number,
): { off: number; from: number; to: number }[] {
  const flat = collectPmds(k.pt, mm.pgd, fromVpn, toVpn);
  const out: { off: number; from: number; to: number }[] = [];
  for (let i = 0; i < flat.length; i += 3) out.push({ off: flat[i]!, from: flat[i + 1]!, to: flat[i + 2]! });
  return out;
}

/** @internal exported for tests: whether a PMD entry at `vpn` is a huge leaf. */
export function isHugeLeafAt(mm: MmStruct, vpn: number): boolean {
  const off = findEntry(mm.kernel.pt, mm.pgd, vpn, 2);
  return off >= 0 && (mm.kernel.pt.words[off]! & PTE_LEAF) !== 0;
}
