/**
 * The page cache (mm/filemap.c, mm/shmem.c): finding or creating the cached page of a file.
 * @module
 */
import type { SimFile } from './file.ts';
import type { Kernel } from './kernel.ts';
import { PG_file, PG_lru, PG_swapbacked } from './page-flags.ts';

/**
 * Returns the pfn caching page `pgidx` of `file`, creating a zero-filled one (holding the page
 * cache's own reference) if needed; 0 when memory is exhausted.
 */
export function getFilePage(k: Kernel, file: SimFile, pgidx: number): number {
  const cached = file.pages.get(pgidx);
  if (cached !== undefined) return cached;
  const pfn = k.pm.allocPages(0);
  if (pfn === 0) return 0;
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
}
