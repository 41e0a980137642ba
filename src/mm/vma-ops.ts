/**
 * Creating, splitting and removing VMAs (mm/vma.c): the parts of mmap, munmap, mprotect and
 * mremap that change the VMA list.
 * @module
 */
import { EINVAL } from '../sim/errno.ts';
import { kernelBug } from '../sim/errors.ts';
import { PAGE_SIZE, PMD_SIZE } from './constants.ts';
import type { SimFile } from './file.ts';
import { truncateInodePages } from './filemap.ts';
import { splitHugePmd } from './huge-memory.ts';
import { hstateVma, hugetlbVmOpClose, hugetlbVmOpOpen } from './hugetlb.ts';
import type { MmStruct } from './mm-struct.ts';
import { Vma, type VmOperations } from './vma.ts';

/** Creates a VMA, links it into `mm`, its file's mappings and its anon family. */
export function vmaCreate(
  mm: MmStruct,
  start: number,
  end: number,
  flags: number,
  pgoff: number,
  file: SimFile | null,
  vmOps: VmOperations | null,
): Vma {
  const vma = new Vma(mm, start, end, flags, pgoff, file, vmOps);
  if (file !== null) {
    file.refs++;
    file.mappings.add(vma);
  }
  mm.insertVma(vma);
  return vma;
}

/** A copy of `vma` over another range of (possibly another) mm, sharing its backing and anon family. */
export function vmaDup(src: Vma, mm: MmStruct, start: number, end: number, pgoff: number): Vma {
  const vma = vmaCreate(mm, start, end, src.flags, pgoff, src.file, src.vmOps);
  vma.uffd = src.uffd;
  vma.hugetlbOrder = src.hugetlbOrder;
  if (src.anonVma !== null) {
    vma.anonVma = src.anonVma;
    vma.anonVmaFromParent = src.anonVmaFromParent;
    src.anonVma.vmas.add(vma);
  }
  return vma;
}

/** Unlinks a VMA that no longer maps anything; drops its file reference. */
export function vmaRemove(vma: Vma): void {
  const mm = vma.mm;
  mm.removeVma(vma);
  if (vma.anonVma !== null) vma.anonVma.vmas.delete(vma);
  vma.vmOps?.close?.(vma);
  if (vma.isHugetlb) hugetlbVmOpClose(hstateVma(vma), vma);
  const file = vma.file;
  if (file !== null) {
    file.mappings.delete(vma);
    fileRelease(mm, file);
  }
}

/** Drops one reference to `file`; its page cache goes with the last one. */
export function fileRelease(mm: MmStruct, file: SimFile): void {
  if (--file.refs === 0) truncateInodePages(mm.kernel, file);
}

/**
 * `__split_vma`: splits `vma` at `addr` (page aligned, strictly inside). `vma` keeps the lower
 * part; the new upper VMA is returned. A THP straddling `addr` is split first (CLEAR), like
 * `vma_adjust_trans_huge`. Returns -EINVAL when the split is not allowed (unaligned hugetlb, a
 * driver refusing).
 */
export async function splitVma(vma: Vma, addr: number): Promise<Vma | number> {
  if (addr <= vma.start || addr >= vma.end) kernelBug(`splitVma: 0x${addr.toString(16)} not inside the VMA`);
  if (vma.isHugetlb && addr % hstateVma(vma).size !== 0) return -EINVAL;
  if (vma.vmOps?.maySplit && !vma.vmOps.maySplit(vma, addr)) return -EINVAL;
  if (!vma.isHugetlb && addr % PMD_SIZE !== 0)
    await splitHugePmd(vma.mm, Math.floor(addr / PMD_SIZE) * PMD_SIZE);
  // Shrink first so the new VMA is inserted after the original in address order.
  const end = vma.end;
  vma.end = addr;
  const upper = vmaDup(vma, vma.mm, addr, end, vma.pgoff + (addr - vma.start) / PAGE_SIZE);
  if (vma.isHugetlb) hugetlbVmOpOpen(vma, upper);
  return upper;
}

/**
 * Splits the VMAs at `start` and `end` so that VMAs intersecting `[start, end)` lie wholly inside
 * it; returns them, or -errno.
 */
export async function isolateRange(mm: MmStruct, start: number, end: number): Promise<Vma[] | number> {
  let vmas = mm.vmasIn(start, end);
  if (vmas.length === 0) return vmas;
  const first = vmas[0]!;
  if (first.start < start) {
    const r = await splitVma(first, start);
    if (typeof r === 'number') return r;
  }
  vmas = mm.vmasIn(start, end);
  const last = vmas[vmas.length - 1]!;
  if (last.end > end) {
    const r = await splitVma(last, end);
    if (typeof r === 'number') return r;
  }
  return mm.vmasIn(start, end);
}

/**
 * `vma_merge_existing_range` after a flag change (`vma_modify_flags`), for anonymous VMAs only:
 * `vma` absorbs its neighbours when they now have the same flags, compatible anon_vmas (see
 * {@link anonVmasMergeable}), the same userfaultfd context, and page offsets that continue each
 * other, so a range split by one madvise() and restored by another is one VMA again. When both
 * neighbours qualify, their own anon_vmas must also be compatible (`can_vma_merge_right`), else
 * only the previous one merges. Returns the VMA that remains.
 */
export function vmaMergeAnonNeighbours(vma: Vma): Vma {
  const mm = vma.mm;
  const fits = (a: Vma, b: Vma, tgt: Vma): boolean =>
    a.end === b.start &&
    a.isAnonymous &&
    b.isAnonymous &&
    !a.isHugetlb &&
    a.flags === b.flags &&
    a.uffd === b.uffd &&
    anonVmasMergeable(vma, tgt) &&
    a.pgoff + (a.end - a.start) / PAGE_SIZE === b.pgoff;
  const i = mm.vmas.indexOf(vma);
  const next = mm.vmas[i + 1];
  const prev = i > 0 ? mm.vmas[i - 1] : undefined;
  const left = prev !== undefined && fits(prev, vma, prev);
  const right =
    next !== undefined &&
    fits(vma, next, next) &&
    (!left || prev.anonVma === null || next.anonVma === null || prev.anonVma === next.anonVma);
  if (right) absorb(vma, next);
  if (!left) return vma;
  absorb(prev, vma);
  return prev;
}

/**
 * `is_mergeable_anon_vma` for the VMA `src` whose flags changed and the neighbour `tgt` it would
 * merge with. The same anon_vma (or none on both sides) always merges. With one side faulted:
 * Linux 6.12 requires `tgt` to be the faulted one, with a singular anon_vma chain (not a fork
 * child's VMA), so a faulted VMA never merges into an unfaulted neighbour; mainline (879bca0a2c4f,
 * "mm/vma: fix incorrectly disallowed anonymous VMA merges", v6.16) merges either way as long as
 * the faulted side has no anon_vmas cloned from a parent (`vma_had_uncowed_parents`).
 */
function anonVmasMergeable(src: Vma, tgt: Vma): boolean {
  if (src.anonVma === tgt.anonVma) return true;
  if (src.anonVma !== null && tgt.anonVma !== null) return false;
  if (src.mm.kernel.kernelVersion === '6.12') return tgt.anonVma !== null && !tgt.anonVmaFromParent;
  return !(src.anonVma !== null ? src : tgt).anonVmaFromParent;
}

/** `a` takes over `b`'s range (right after its own) and `b` goes. */
function absorb(a: Vma, b: Vma): void {
  if (a.anonVma === null && b.anonVma !== null) {
    a.anonVma = b.anonVma;
    b.anonVma.vmas.add(a);
  }
  const end = b.end;
  vmaRemove(b);
  a.end = end;
}
