/**
 * The page cache (mm/filemap.c, mm/shmem.c): finding or creating the cached page of a file, and
 * reading and writing a file through it (pread/pwrite).
 * @module
 */
import { ENOMEM } from '../sim/errno.ts';
import { PAGE_SIZE } from './constants.ts';
import type { SimFile } from './file.ts';
import { hstateOrder } from './hugetlb.ts';
import type { Kernel } from './kernel.ts';
import { MEMCG_FILE, MEMCG_SHMEM, memCgroupCharge } from './memcontrol.ts';
import type { MmStruct } from './mm-struct.ts';
import { PG_dirty, PG_file, PG_lru, PG_swapbacked } from './page-flags.ts';

/**
 * Returns the pfn caching page `pgidx` of `file`, creating a zero-filled one (holding the page
 * cache's own reference, charged to the memory cgroup of `mm`, the mm of the task bringing it in)
 * if needed; 0 when memory is exhausted or the charge failed.
 */
export function getFilePage(k: Kernel, file: SimFile, pgidx: number, mm: MmStruct | null = null): number {
  const cached = file.pages.get(pgidx);
  if (cached !== undefined) return cached;
  const pfn = k.pm.allocPages(0);
  if (pfn === 0) return 0;
  if (mm?.memcg && memCgroupCharge(k, mm, pfn, file.shmem ? MEMCG_SHMEM : MEMCG_FILE, true) !== 0) {
    k.pm.freePages(pfn);
    return 0;
  }
  k.pm.flags[pfn]! |= PG_file | PG_lru | (file.shmem ? PG_swapbacked : 0);
  k.pm.mapping[pfn] = file.id;
  k.pm.index[pfn] = pgidx;
  file.pages.set(pgidx, pfn);
  return pfn;
}

/** Drops every cached page of `file` (the file's last reference went away). */
export function truncateInodePages(k: Kernel, file: SimFile): void {
  for (const pfn of file.pages.values()) k.putPage(pfn);
  file.pages.clear();
  // hugetlbfs (hugetlb_unreserve_pages at evict): reservations no page consumed go back.
  hstateOrder(k, file.hugetlbOrder).unreserve(file.hugetlbReserved.size);
  file.hugetlbReserved.clear();
}

/**
 * `filemap_read` for pread(2): copies the file from byte `pos` into `dst`, up to the end of the
 * file; returns the bytes copied. A page never cached was never written, so it reads as zeros.
 */
export function filemapRead(k: Kernel, file: SimFile, pos: number, dst: Uint8Array): number {
  if (pos >= file.size) return 0;
  const count = Math.min(dst.length, file.size - pos);
  for (let done = 0; done < count; ) {
    const p = pos + done;
    const pgidx = Math.floor(p / PAGE_SIZE);
    const off = p - pgidx * PAGE_SIZE;
    const n = Math.min(PAGE_SIZE - off, count - done);
    const pfn = file.pages.get(pgidx);
    if (pfn === undefined) dst.fill(0, done, done + n);
    else k.pm.readBytes(pfn, off, dst, done, n);
    done += n;
  }
  return count;
}

/**
 * `generic_perform_write` for pwrite(2): copies `src` into the page cache from byte `pos`,
 * creating the pages it needs (dirty), and extends the file past its end. Returns the bytes
 * written, or -ENOMEM when not even the first page could be had.
 */
export function filemapWrite(
  k: Kernel,
  file: SimFile,
  pos: number,
  src: Uint8Array,
  mm: MmStruct | null = null,
): number {
  let done = 0;
  while (done < src.length) {
    const p = pos + done;
    const pgidx = Math.floor(p / PAGE_SIZE);
    const off = p - pgidx * PAGE_SIZE;
    const n = Math.min(PAGE_SIZE - off, src.length - done);
    const pfn = getFilePage(k, file, pgidx, mm);
    if (pfn === 0) break;
    k.pm.writeBytes(pfn, off, src, done, n);
    k.pm.flags[pfn]! |= PG_dirty;
    done += n;
  }
  if (done === 0 && src.length > 0) return -ENOMEM;
  if (pos + done > file.size) file.size = pos + done;
  return done;
}
