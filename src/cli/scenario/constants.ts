/**
 * The scenario format's names for protections, mmap flags and madvise advice, as the kernel's
 * numbers. One table for every consumer: the simulator's step runner and the kernel oracle's
 * runner program must turn a scenario into the same system calls.
 * @module
 */
import {
  MADV_COLLAPSE,
  MADV_DONTNEED,
  MADV_FREE,
  MADV_HUGEPAGE,
  MADV_NOHUGEPAGE,
  MADV_PAGEOUT,
  MAP_ANONYMOUS,
  MAP_HUGETLB,
  MAP_POPULATE,
  MAP_PRIVATE,
  MAP_SHARED,
  PROT_EXEC,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
} from '../../mm/constants.ts';
import type { MadviseAdvice, MmapFlag, MmapProt } from './types.ts';

/** `PROT_*` of each protection name. */
export const PROT_BITS: Readonly<Record<MmapProt, number>> = {
  read: PROT_READ,
  write: PROT_WRITE,
  exec: PROT_EXEC,
  none: PROT_NONE,
};

/** `MAP_*` of each flag name. */
export const MAP_FLAG_BITS: Readonly<Record<MmapFlag, number>> = {
  private: MAP_PRIVATE,
  shared: MAP_SHARED,
  anonymous: MAP_ANONYMOUS,
  populate: MAP_POPULATE,
  hugetlb: MAP_HUGETLB,
};

/** `MADV_*` of each advice name. */
export const MADVISE_ADVICE: Readonly<Record<MadviseAdvice, number>> = {
  dontneed: MADV_DONTNEED,
  free: MADV_FREE,
  hugepage: MADV_HUGEPAGE,
  nohugepage: MADV_NOHUGEPAGE,
  pageout: MADV_PAGEOUT,
  collapse: MADV_COLLAPSE,
};

/** The protection bits of a list of names. */
export const protOf = (list: readonly MmapProt[]): number => list.reduce((p, n) => p | PROT_BITS[n], 0);

/** The mmap flag bits of a list of names. */
export const mapFlagsOf = (list: readonly MmapFlag[]): number =>
  list.reduce((f, n) => f | MAP_FLAG_BITS[n], 0);
