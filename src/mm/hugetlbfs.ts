/**
 * hugetlbfs files (fs/hugetlbfs/inode.c, mm/hugetlb.c): the file `memfd_create(MFD_HUGETLB)`
 * makes, its page cache of hugetlb folios of its size, 2 MiB or 1 GiB (filled by `fallocate`), and the reservations of
 * its mappings — a private mapping reserves one huge page per huge page it maps (its copies on
 * write use them), a shared one the huge pages the file does not hold yet.
 * @module
 */
import { ENOMEM, ENOSPC } from '../sim/errno.ts';
import { VM_MAYSHARE, VM_NORESERVE } from './constants.ts';
import type { SimFile } from './file.ts';
import { hstateOrder, hugetlbReservePages } from './hugetlb.ts';
import type { Kernel } from './kernel.ts';
import type { Vma } from './vma.ts';

/** `MFD_CLOEXEC` (accepted; hmmsim has no exec). */
export const MFD_CLOEXEC = 1;
/** `MFD_ALLOW_SEALING` (accepted; seals are not modelled). */
export const MFD_ALLOW_SEALING = 2;
/** `MFD_HUGETLB`: memfd_create a hugetlbfs file. */
export const MFD_HUGETLB = 4;
/** `MFD_HUGE_SHIFT`: the huge page size's log2 sits in the flags from this bit. */
export const MFD_HUGE_SHIFT = 26;

/**
 * The page cache folio of huge page `idx` of a hugetlbfs file (`filemap_lock_hugetlb_folio`),
 * allocating and adding one if there is none (`alloc_hugetlb_folio` + `hugetlb_add_to_page_cache`):
 * an index a shared mapping reserved uses its reservation, any other needs a free page no
 * reservation holds. The cache holds the folio's one reference. 0 when no page can be had.
 */
export function hugetlbfsGetFolio(k: Kernel, file: SimFile, idx: number): number {
  const cached = file.pages.get(idx);
  if (cached !== undefined) return cached;
  const reserved = file.hugetlbReserved.has(idx);
  const h = hstateOrder(k, file.hugetlbOrder);
  const head = h.alloc(reserved);
  if (head === 0) return 0;
  // A reservation the page consumed is not given back when the page is freed (it stays cached
  // until the file goes away, and the inode's reserve map has accounted it).
  h.clearRestoreReserve(head);
  file.hugetlbReserved.delete(idx);
  const pm = k.pm;
  const nr = h.pagesPerHugePage;
  for (let i = 0; i < nr; i++) {
    pm.mapping[head + i] = file.id;
    pm.index[head + i] = idx * nr + i;
  }
  file.pages.set(idx, head);
  return head;
}

/**
 * `hugetlbfs_fallocate`'s allocation: every huge page of `[offset, offset + len)` (rounded out to
 * huge pages) is put in the page cache, zeroed (the caller grows the file unless
 * FALLOC_FL_KEEP_SIZE). -ENOSPC when the pool has no page for one (the pages added before it stay).
 */
export function hugetlbfsAllocate(k: Kernel, file: SimFile, offset: number, len: number): number {
  const size = hstateOrder(k, file.hugetlbOrder).size;
  const first = Math.floor(offset / size);
  const end = Math.ceil((offset + len) / size);
  for (let idx = first; idx < end; idx++) if (hugetlbfsGetFolio(k, file, idx) === 0) return -ENOSPC;
  return 0;
}

/**
 * `hugetlb_reserve_pages` from `hugetlbfs_file_mmap`: a private mapping reserves each of its huge
 * pages (and owns a reserve map); a shared one reserves the huge pages of its range the file does
 * not hold or have reserved yet (the inode's reserve map); MAP_NORESERVE reserves nothing. 0, or -ENOMEM when the pool's free
 * pages cannot cover them.
 */
export function hugetlbfsReservePages(k: Kernel, vma: Vma, file: SimFile): number {
  const h = hstateOrder(k, file.hugetlbOrder);
  if ((vma.flags & VM_MAYSHARE) === 0) return hugetlbReservePages(h, vma);
  if ((vma.flags & VM_NORESERVE) !== 0) return 0;
  const first = vma.pgoff / h.pagesPerHugePage;
  const missing: number[] = [];
  for (let idx = first; idx < first + vma.size / h.size; idx++)
    if (!file.pages.has(idx) && !file.hugetlbReserved.has(idx)) missing.push(idx);
  if (!h.reserve(missing.length)) return -ENOMEM;
  for (const idx of missing) file.hugetlbReserved.add(idx);
  return 0;
}
