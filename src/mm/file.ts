/**
 * Files and the page cache: an unnamed temporary file (`O_TMPFILE`), or the shmem file behind a
 * shared anonymous mapping. Its page cache is shared by every mapper; a cached page holds one
 * reference of its own. Pages stay cached until the file goes away (no writeback or eviction).
 * @module
 */
import type { Vma } from './vma.ts';

/** A file with a page cache. */
export class SimFile {
  /** Mapping id stored in `PhysMem.mapping` of its pages. */
  readonly id: number;
  /** Size in bytes. */
  size: number;
  /** True for shmem (tmpfs, shared anonymous): its pages count as MM_SHMEMPAGES. */
  readonly shmem: boolean;
  /** Page cache: file page index → pfn (0 = not cached). */
  readonly pages = new Map<number, number>();
  /** VMAs mapping this file (rmap). */
  readonly mappings = new Set<Vma>();
  /** Open file descriptors and mappings referring to it; the file is freed at zero. */
  refs = 0;

  /** @param id mapping id; @param size bytes; @param shmem tmpfs/shared-anonymous */
  constructor(id: number, size: number, shmem: boolean) {
    this.id = id;
    this.size = size;
    this.shmem = shmem;
  }
}
