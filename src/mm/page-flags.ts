/**
 * Bits of the per-frame `flags` word (PG_* in include/linux/page-flags.h, the subset modelled).
 * @module
 */

/** Page lock bit (folio_lock). */
export const PG_locked = 1 << 0;
/** Contents differ from backing store. */
export const PG_dirty = 1 << 1;
/** On an LRU list (reclaimable). */
export const PG_lru = 1 << 2;
/** Anonymous page (mapping is an anon_vma). */
export const PG_anon = 1 << 3;
/** Anonymous page known to be mapped by one process only (PageAnonExclusive). */
export const PG_anon_exclusive = 1 << 4;
/** Holds non-zero contents in the content store (otherwise it reads as zeros). */
export const PG_hasdata = 1 << 5;
/** Reserved: never allocated or freed (the zero pages). */
export const PG_reserved = 1 << 6;
/** Page of a hugetlb folio. */
export const PG_hugetlb = 1 << 7;
/** Lazily freeable (MADV_FREE), dropped by reclaim while clean. */
export const PG_lazyfree = 1 << 8;
/** Allocated (not on the free lists). */
export const PG_allocated = 1 << 9;
/** Page-cache page of a file. */
export const PG_file = 1 << 10;
/** ZONE_DEVICE page. */
export const PG_zone_device = 1 << 11;
/** Head of a large folio. */
export const PG_head = 1 << 12;
/** Page-cache page of a shmem (tmpfs / shared anonymous) file. */
export const PG_swapbacked = 1 << 13;
/**
 * Head of a large anonymous folio on the deferred-split queue because some of its pages are no
 * longer mapped (`PG_partially_mapped`, set by `deferred_split_folio(folio, true)`).
 */
export const PG_partially_mapped = 1 << 14;
