/**
 * fallocate(2) modes on shmem (tmpfs, memfd) and hugetlbfs files (fs/open.c `vfs_fallocate`,
 * mm/shmem.c `shmem_fallocate`, fs/hugetlbfs/inode.c `hugetlbfs_fallocate`): the checks of the
 * mode, allocation with or without FALLOC_FL_KEEP_SIZE, and FALLOC_FL_PUNCH_HOLE, which unmaps
 * the hole's pages from every mapping of the file (`unmap_mapping_range`,
 * `hugetlb_vmdelete_list`) and drops them from the page cache, zeroing the partial pages at its
 * edges.
 * @module
 */
import { EOPNOTSUPP } from '../sim/errno.ts';
import { PAGE_SIZE, VM_SHARED } from './constants.ts';
import type { SimFile } from './file.ts';
import { hstateOrder } from './hugetlb.ts';
import type { Kernel } from './kernel.ts';
import {
  MMU_NOTIFY_CLEAR,
  mmuNotifierInvalidateRangeEnd,
  mmuNotifierInvalidateRangeStart,
  mmuNotifierRangeInit,
} from './mmu-notifier.ts';
import { PG_file } from './page-flags.ts';
import { findEntry } from './page-table.ts';
import { PTE_KIND_MASK, PTE_PRESENT } from './pte.ts';
import type { Vma } from './vma.ts';
import { zapPte, zapVmaRange } from './zap.ts';

/** Allocate without changing the file size. */
export const FALLOC_FL_KEEP_SIZE = 0x01;
/** Deallocate the range (needs FALLOC_FL_KEEP_SIZE). */
export const FALLOC_FL_PUNCH_HOLE = 0x02;
/** Reserved (no filesystem implements it; vfs_fallocate refuses it). */
export const FALLOC_FL_NO_HIDE_STALE = 0x04;
/** Remove a range, shifting the rest of the file down. */
export const FALLOC_FL_COLLAPSE_RANGE = 0x08;
/** Zero a range. */
export const FALLOC_FL_ZERO_RANGE = 0x10;
/** Insert a hole, shifting the rest of the file up. */
export const FALLOC_FL_INSERT_RANGE = 0x20;
/** Unshare shared blocks of a range. */
export const FALLOC_FL_UNSHARE_RANGE = 0x40;
/** The mode bits (FALLOC_FL_ALLOCATE_RANGE is none of them); FALLOC_FL_KEEP_SIZE is a flag. */
const FALLOC_FL_MODE_MASK =
  FALLOC_FL_PUNCH_HOLE |
  FALLOC_FL_COLLAPSE_RANGE |
  FALLOC_FL_ZERO_RANGE |
  FALLOC_FL_INSERT_RANGE |
  FALLOC_FL_UNSHARE_RANGE;

/**
 * What `vfs_fallocate` says of `mode` before any filesystem sees it, then what shmem and
 * hugetlbfs accept: 0 for 0, KEEP_SIZE and PUNCH_HOLE | KEEP_SIZE, else -EOPNOTSUPP. Modes are
 * exclusive (two mode bits, or an unknown bit such as NO_HIDE_STALE: -EOPNOTSUPP), PUNCH_HOLE
 * needs KEEP_SIZE, COLLAPSE_RANGE and INSERT_RANGE refuse it, and shmem and hugetlbfs implement
 * no mode but allocation and PUNCH_HOLE.
 */
export function fallocateModeCheck(mode: number): number {
  if ((mode & ~(FALLOC_FL_MODE_MASK | FALLOC_FL_KEEP_SIZE)) !== 0) return -EOPNOTSUPP;
  const keep = (mode & FALLOC_FL_KEEP_SIZE) !== 0;
  switch (mode & FALLOC_FL_MODE_MASK) {
    case 0:
    case FALLOC_FL_UNSHARE_RANGE:
    case FALLOC_FL_ZERO_RANGE:
      break;
    case FALLOC_FL_PUNCH_HOLE:
      if (!keep) return -EOPNOTSUPP;
      break;
    case FALLOC_FL_COLLAPSE_RANGE:
    case FALLOC_FL_INSERT_RANGE:
      if (keep) return -EOPNOTSUPP;
      break;
    default:
      return -EOPNOTSUPP;
  }
  // shmem_fallocate / hugetlbfs_fallocate.
  if ((mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE)) !== 0) return -EOPNOTSUPP;
  return 0;
}

/**
 * `unmap_mapping_range` over file page indices `[first, end)`: every VMA mapping part of it gets
 * a CLEAR invalidation over that part and loses its entries there. With `evenCows` false (shmem)
 * a private mapping keeps its copy-on-write copies (anonymous pages) and loses only the file's
 * pages; hugetlbfs (`hugetlb_vmdelete_list`) unmaps everything.
 */
async function unmapMappingRange(
  k: Kernel,
  file: SimFile,
  first: number,
  end: number,
  evenCows: boolean,
): Promise<void> {
  for (const vma of [...file.mappings]) {
    const pages = vma.size / PAGE_SIZE;
    const from = Math.max(first, vma.pgoff);
    const to = Math.min(end, vma.pgoff + pages);
    if (from >= to) continue;
    const a = vma.start + (from - vma.pgoff) * PAGE_SIZE;
    const b = vma.start + (to - vma.pgoff) * PAGE_SIZE;
    const range = mmuNotifierRangeInit(vma.mm, MMU_NOTIFY_CLEAR, a, b);
    await mmuNotifierInvalidateRangeStart(range);
    // The callbacks may have slept: the VMA may be gone (the kernel holds i_mmap_rwsem instead).
    if (vma.mm.vmas.includes(vma)) {
      if (evenCows || (vma.flags & VM_SHARED) !== 0) await zapVmaRange(vma, a, b);
      else zapFilePages(k, vma, file, a, b);
    }
    mmuNotifierInvalidateRangeEnd(range);
  }
}

/** Clears the entries of `vma` in `[a, b)` that map a page of `file`'s page cache. */
function zapFilePages(k: Kernel, vma: Vma, file: SimFile, a: number, b: number): void {
  const pm = k.pm;
  let present = 0;
  for (let addr = a; addr < b; addr += PAGE_SIZE) {
    const off = findEntry(k.pt, vma.mm.pgd, addr / PAGE_SIZE, 1);
    if (off < 0) continue;
    const lo = k.pt.words[off]!;
    if ((lo & PTE_KIND_MASK) !== PTE_PRESENT) continue;
    const pfn = k.pt.words[off + 1]!;
    if (pm.isZeroPfn(pfn) || (pm.flags[pfn]! & PG_file) === 0 || pm.mapping[pfn] !== file.id) continue;
    zapPte(vma.mm, off);
    present++;
  }
  if (present > 0) k.chargeTlbShootdown();
}

/** Zeroes bytes `[from, to)` of `file` where its page cache holds them (unit: pages of `unit` bytes). */
function zeroCached(k: Kernel, file: SimFile, from: number, to: number, unit: number): void {
  for (let pos = from; pos < to; ) {
    const idx = Math.floor(pos / unit);
    const stop = Math.min(to, (idx + 1) * unit);
    const head = file.pages.get(idx);
    if (head !== undefined) {
      for (let p = pos; p < stop; ) {
        const sub = Math.floor((p - idx * unit) / PAGE_SIZE);
        const off = p % PAGE_SIZE;
        const n = Math.min(PAGE_SIZE - off, stop - p);
        k.pm.fillBytes(head + sub, off, 0, n);
        p += n;
      }
    }
    pos = stop;
  }
}

/**
 * FALLOC_FL_PUNCH_HOLE on `file` over `[offset, offset + len)`: shmem (`shmem_fallocate`) unmaps
 * the whole pages of the hole from every mapping (not private copies), drops them from the page
 * cache and zeroes the partial pages at its edges (`shmem_truncate_range`); hugetlbfs
 * (`hugetlbfs_punch_hole`) does the same with huge pages, unmapping private copies too. A page
 * still referenced elsewhere (a pin) lives on outside the cache. Reservations of a shared
 * hugetlb mapping for indices that never had a page are kept, as `remove_inode_hugepages` only
 * visits pages in the cache.
 */
export async function punchHole(k: Kernel, file: SimFile, offset: number, len: number): Promise<void> {
  const unit = file.hugetlb ? hstateOrder(k, file.hugetlbOrder).size : PAGE_SIZE;
  const end = offset + len;
  const holeStart = Math.ceil(offset / unit) * unit;
  const holeEnd = Math.max(holeStart, Math.floor(end / unit) * unit);
  if (holeEnd > holeStart)
    await unmapMappingRange(k, file, holeStart / PAGE_SIZE, holeEnd / PAGE_SIZE, file.hugetlb);
  zeroCached(k, file, offset, Math.min(end, holeStart), unit);
  if (end > holeEnd) zeroCached(k, file, Math.max(holeEnd, offset), end, unit);
  for (let idx = holeStart / unit; idx < holeEnd / unit; idx++) {
    const head = file.pages.get(idx);
    if (head === undefined) continue;
    file.pages.delete(idx);
    k.putPage(head);
  }
}
