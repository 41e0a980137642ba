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
  MAP_HUGE_1GB,
  MAP_HUGE_2MB,
  MAP_HUGETLB,
  MAP_POPULATE,
  MAP_PRIVATE,
  MAP_SHARED,
  MREMAP_DONTUNMAP,
  MREMAP_FIXED,
  MREMAP_MAYMOVE,
  PROT_EXEC,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
} from '../../mm/constants.ts';
import {
  FALLOC_FL_COLLAPSE_RANGE,
  FALLOC_FL_INSERT_RANGE,
  FALLOC_FL_KEEP_SIZE,
  FALLOC_FL_NO_HIDE_STALE,
  FALLOC_FL_PUNCH_HOLE,
  FALLOC_FL_UNSHARE_RANGE,
  FALLOC_FL_ZERO_RANGE,
} from '../../mm/fallocate.ts';
import type {
  FallocateMode,
  MadviseAdvice,
  MmapFlag,
  MmapProt,
  MremapFlag,
  RangeFields,
  ScenarioDoc,
} from './types.ts';

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
  huge2MB: MAP_HUGE_2MB,
  huge1GB: MAP_HUGE_1GB,
};

/** `FALLOC_FL_*` of each fallocate mode name. */
export const FALLOC_MODE_BITS: Readonly<Record<FallocateMode, number>> = {
  keepSize: FALLOC_FL_KEEP_SIZE,
  punchHole: FALLOC_FL_PUNCH_HOLE,
  noHideStale: FALLOC_FL_NO_HIDE_STALE,
  collapseRange: FALLOC_FL_COLLAPSE_RANGE,
  zeroRange: FALLOC_FL_ZERO_RANGE,
  insertRange: FALLOC_FL_INSERT_RANGE,
  unshareRange: FALLOC_FL_UNSHARE_RANGE,
};

/** The fallocate mode bits of a list of names. */
export const fallocateModeOf = (list: readonly FallocateMode[]): number =>
  list.reduce((f, n) => f | FALLOC_MODE_BITS[n], 0);

/** `MREMAP_*` of each mremap flag name. */
export const MREMAP_FLAG_BITS: Readonly<Record<MremapFlag, number>> = {
  maymove: MREMAP_MAYMOVE,
  fixed: MREMAP_FIXED,
  dontunmap: MREMAP_DONTUNMAP,
};

/** The mremap flag bits of a list of names. */
export const mremapFlagsOf = (list: readonly MremapFlag[]): number =>
  list.reduce((f, n) => f | MREMAP_FLAG_BITS[n], 0);

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

/**
 * The dmirror commands of scenario steps: the command's name in the uapi (`HMM_DMIRROR_<name>`)
 * and its number in the kernel runner's program (`kernel/runner/hmmsim-runner.c`; none for a
 * command 6.12's test_hmm lacks).
 */
export const DMIRROR_COMMANDS = {
  deviceRead: { uapi: 'READ', runner: 0 },
  deviceWrite: { uapi: 'WRITE', runner: 1 },
  migrateToDev: { uapi: 'MIGRATE_TO_DEV', runner: 2 },
  migrateToSys: { uapi: 'MIGRATE_TO_SYS', runner: 3 },
  snapshot: { uapi: 'SNAPSHOT', runner: 4 },
  exclusive: { uapi: 'EXCLUSIVE', runner: 5 },
  checkExclusive: { uapi: 'CHECK_EXCLUSIVE', runner: 6 },
  release: { uapi: 'RELEASE', runner: 7 },
  setFlags: { uapi: 'FLAGS', runner: undefined },
} as const;

/** The pages a range step names in a mapping of `total` pages: from `page` (0), `pages` (the rest). */
export function stepRange(f: RangeFields, total: number): { readonly page: number; readonly pages: number } {
  const page = f.page ?? 0;
  return { page, pages: f.pages ?? total - page };
}

/**
 * The process a step acts as: the one it names, else the one that mapped its mapping, else the
 * scenario's first process.
 */
export function actingProcess(doc: ScenarioDoc, named: string | undefined, mapper?: string): string {
  return named ?? mapper ?? doc.processes[0]!;
}
