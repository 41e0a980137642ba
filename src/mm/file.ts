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
  /**
   * A hugetlbfs file (`memfd_create(MFD_HUGETLB)`): its page cache holds hugetlb folios (2 MiB or 1 GiB),
   * keyed by huge-page index, and its mappings are VM_HUGETLB.
   */
  readonly hugetlb: boolean;
  /** hugetlbfs: the order of its huge page size (9: 2 MiB, 18: 1 GiB). */
  readonly hugetlbOrder: number;
  /**
   * hugetlbfs: huge-page indices a shared mapping reserved (the inode's reserve map) whose page
   * is not in the page cache yet; the file gives them back to the pool when it goes away.
   */
  readonly hugetlbReserved = new Set<number>();
  /** Page cache: file page index → pfn (0 = not cached); huge-page index for hugetlbfs. */
  readonly pages = new Map<number, number>();
  /** VMAs mapping this file (rmap). */
  readonly mappings = new Set<Vma>();
  /** Open file descriptors and mappings referring to it; the file is freed at zero. */
  refs = 0;

  /**
   * @param id mapping id; @param size bytes; @param shmem tmpfs/shared-anonymous; @param hugetlb
   * hugetlbfs; @param hugetlbOrder its huge page order
   */
  constructor(id: number, size: number, shmem: boolean, hugetlb = false, hugetlbOrder = 9) {
    this.id = id;
    this.size = size;
    this.shmem = shmem;
    this.hugetlb = hugetlb;
    this.hugetlbOrder = hugetlbOrder;
  }
}
