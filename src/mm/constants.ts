/**
 * Constants of the modelled machine (x86-64, 4-level paging, 4 KiB pages) and of the system-call
 * ABI, with Linux's values.
 * @module
 */

/** log2 of the base page size. */
export const PAGE_SHIFT = 12;
/** Base page size in bytes. */
export const PAGE_SIZE = 4096;
/** Bytes mapped by one PMD leaf (THP, hugetlb). */
export const PMD_SIZE = 2 * 1024 * 1024;
/** Bytes mapped by one PUD leaf. */
export const PUD_SIZE = 1024 * 1024 * 1024;
/** Folio order of a PMD mapping. */
export const HPAGE_PMD_ORDER = 9;
/** Base pages per PMD mapping. */
export const HPAGE_PMD_NR = 512;
/** Folio order of a PUD mapping. */
export const HPAGE_PUD_ORDER = 18;
/** Entries per page-table page at every level. */
export const PTRS_PER_TABLE = 512;
/** End of the user address space (exclusive), as on x86-64 with 4-level paging. */
export const TASK_SIZE = 2 ** 47 - PAGE_SIZE;
/** Where top-down mmap placement starts. */
export const MMAP_BASE = 0x7f00_0000_0000;
/** Lowest address mmap hands out (vm.mmap_min_addr). */
export const MMAP_MIN_ADDR = 0x10000;
/** The kernel's ULONG_MAX as a JavaScript number (2^64 − 1 rounds to 2^64 in a double). */
export const ULONG_MAX = 2 ** 64 - 1;

/** No access. */
export const PROT_NONE = 0;
/** Readable. */
export const PROT_READ = 1;
/** Writable. */
export const PROT_WRITE = 2;
/** Executable. */
export const PROT_EXEC = 4;

/** Share changes with other mappers. */
export const MAP_SHARED = 0x01;
/** Copy-on-write private mapping. */
export const MAP_PRIVATE = 0x02;
/** Place exactly at `addr`, replacing what is there. */
export const MAP_FIXED = 0x10;
/** Not backed by a file. */
export const MAP_ANONYMOUS = 0x20;
/** Do not reserve (for hugetlb: no huge-page reservation at mmap). */
export const MAP_NORESERVE = 0x4000;
/** Prefault the whole mapping. */
export const MAP_POPULATE = 0x8000;
/** Back with pages from the hugetlb pool. */
export const MAP_HUGETLB = 0x40000;
/** The log2 of a MAP_HUGETLB page size sits in the mmap flags from this bit (0: the default size). */
export const MAP_HUGE_SHIFT = 26;
/** Mask of the size log2 after shifting by {@link MAP_HUGE_SHIFT}. */
export const MAP_HUGE_MASK = 0x3f;
/** MAP_HUGETLB with 2 MiB pages. */
export const MAP_HUGE_2MB = 21 << MAP_HUGE_SHIFT;
/** MAP_HUGETLB with 1 GiB pages (PUD-mapped). */
export const MAP_HUGE_1GB = 30 << MAP_HUGE_SHIFT;
/** Like MAP_FIXED but fail with EEXIST instead of replacing. */
export const MAP_FIXED_NOREPLACE = 0x100000;

/** Drop the pages of the range. */
export const MADV_DONTNEED = 4;
/** Pages may be freed lazily if not written again. */
export const MADV_FREE = 8;
/** Do not inherit the range across fork (VM_DONTCOPY). */
export const MADV_DONTFORK = 10;
/** Undo MADV_DONTFORK. */
export const MADV_DOFORK = 11;
/** Allow THP. */
export const MADV_HUGEPAGE = 14;
/** Forbid THP. */
export const MADV_NOHUGEPAGE = 15;
/** Reclaim the pages now (to swap for anonymous memory). */
export const MADV_PAGEOUT = 21;
/** Collapse the range into THPs now. */
export const MADV_COLLAPSE = 25;

/** mremap may move the mapping. */
export const MREMAP_MAYMOVE = 1;
/** mremap moves to `newAddr`. */
export const MREMAP_FIXED = 2;
/** mremap leaves the old range mapped (and empty). */
export const MREMAP_DONTUNMAP = 4;

/** VMA flags (include/linux/mm.h), the subset hmmsim models. */
export const VM_READ = 0x1;
/** @see VM_READ */
export const VM_WRITE = 0x2;
/** @see VM_READ */
export const VM_EXEC = 0x4;
/** @see VM_READ */
export const VM_SHARED = 0x8;
/** @see VM_READ */
export const VM_MAYREAD = 0x10;
/** @see VM_READ */
export const VM_MAYWRITE = 0x20;
/** @see VM_READ */
export const VM_MAYEXEC = 0x40;
/** @see VM_READ */
export const VM_MAYSHARE = 0x80;
/** Page ranges with no struct page: raw PFN mapping. */
export const VM_PFNMAP = 0x400;
/** Memory-mapped I/O. */
export const VM_IO = 0x4000;
/** Do not expand with mremap. */
export const VM_DONTEXPAND = 0x40000;
/** Not copied into a forked child (MADV_DONTFORK). */
export const VM_DONTCOPY = 0x20000;
/** Charged to the overcommit accounting (a private writable mapping: `accountable_mapping`). */
export const VM_ACCOUNT = 0x100000;
/** Mapped with MAP_NORESERVE: no accounting or huge-page reservation. */
export const VM_NORESERVE = 0x200000;
/** hugetlb mapping. */
export const VM_HUGETLB = 0x400000;
/** Mixed struct-page and raw-PFN mapping (drivers inserting pages). */
export const VM_MIXEDMAP = 0x10000000;
/** MADV_HUGEPAGE given. */
export const VM_HUGEPAGE = 0x20000000;
/** MADV_NOHUGEPAGE given. */
export const VM_NOHUGEPAGE = 0x40000000;
/** VMAs whose pages are not normal memory for the generic code. */
export const VM_SPECIAL = VM_IO | VM_DONTEXPAND | VM_PFNMAP | VM_MIXEDMAP;

/** Missing-page faults of the VMA go to its userfaultfd. */
export const VM_UFFD_MISSING = 0x200;

/** Page-fault flags (FAULT_FLAG_*). */
export const FAULT_FLAG_WRITE = 0x1;
/** The fault may drop the mmap lock and return VM_FAULT_RETRY (userfaultfd, page-lock waits). */
export const FAULT_FLAG_ALLOW_RETRY = 0x4;
/** The fault's waits may be ended by a fatal signal. */
export const FAULT_FLAG_KILLABLE = 0x10;
/** The fault is a retry after VM_FAULT_RETRY. */
export const FAULT_FLAG_TRIED = 0x20;
/** @see FAULT_FLAG_WRITE */
export const FAULT_FLAG_REMOTE = 0x80;
/**
 * Unshare a COW-shared anonymous page (or replace a page-cache/zero page of a COW mapping) with an
 * exclusive copy, without making it writable: GUP's answer to -EMLINK from `gup_must_unshare`.
 */
export const FAULT_FLAG_UNSHARE = 0x400;

/** handle_mm_fault results (VM_FAULT_*). 0 = handled. */
export const VM_FAULT_OOM = 0x1;
/** @see VM_FAULT_OOM */
export const VM_FAULT_SIGBUS = 0x2;
/** @see VM_FAULT_OOM */
export const VM_FAULT_HWPOISON = 0x10;
/** @see VM_FAULT_OOM */
export const VM_FAULT_SIGSEGV = 0x40;
/** The fault must be retried (the entry changed, or a page lock was contended). */
export const VM_FAULT_RETRY = 0x400;
/** handle_mm_fault completed the fault and dropped the mmap lock. */
export const VM_FAULT_COMPLETED = 0x4000;
/** Any result that is an error. */
export const VM_FAULT_ERROR = VM_FAULT_OOM | VM_FAULT_SIGBUS | VM_FAULT_SIGSEGV | VM_FAULT_HWPOISON;

/** rss counter indices (MM_*). */
export const MM_FILEPAGES = 0;
/** @see MM_FILEPAGES */
export const MM_ANONPAGES = 1;
/** @see MM_FILEPAGES */
export const MM_SWAPENTS = 2;
/** @see MM_FILEPAGES */
export const MM_SHMEMPAGES = 3;
/** Number of rss counters. */
export const NR_MM_COUNTERS = 4;
