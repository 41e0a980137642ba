/**
 * The memory manager: physical memory, page tables, VMAs, faults, system calls.
 * @module
 */
export * from './constants.ts';
export type { MmEvent } from './events.ts';
export { mmdrop, mmget, mmgetNotZero, mmgrab, mmput } from './exit.ts';
export { faultStats, handleMmFault } from './fault.ts';
export type { FileOperations, OpenFile } from './fdtable.ts';
export { SimFile } from './file.ts';
export {
  checkVmaFlags,
  FOLL_FORCE,
  FOLL_GET,
  FOLL_LONGTERM,
  FOLL_PIN,
  FOLL_WRITE,
  folioMaybeDmaPinned,
  GUP_PIN_COUNTING_BIAS,
  getUserPages,
  gupMustUnshare,
  putUserPage,
  unpinUserPage,
} from './gup.ts';
export {
  DEFAULT_MEMORY,
  type DevPagemapHooks,
  KERNEL_VERSIONS,
  Kernel,
  type KernelOptions,
  type KernelVersion,
  type ThpMode,
} from './kernel.ts';
export {
  MEMCG_ANON,
  MEMCG_FILE,
  MEMCG_SHMEM,
  MemCgroup,
  type MemCgroupEvents,
  type MemCgroupOptions,
  type MemCgroupStat,
  MemcgState,
} from './memcontrol.ts';
export { MmStruct } from './mm-struct.ts';
export {
  mmapLockedByCurrent,
  mmapReadLock,
  mmapReadTrylock,
  mmapReadUnlock,
  mmapWriteLock,
  mmapWriteUnlock,
} from './mmap-lock.ts';
export * from './mmu-notifier.ts';
export { PageTablePool } from './page-table.ts';
export { FRAME_METADATA_BYTES, HUGE_ZERO_PFN, PhysMem, ZERO_PFN } from './physmem.ts';
export { Process } from './process.ts';
export { AccessSignal, BusError, FatalSignalKill, OutOfMemoryKill, SegmentationFault } from './signals.ts';
export {
  UFFD_API,
  UFFD_EVENT_PAGEFAULT,
  UFFD_PAGEFAULT_FLAG_WRITE,
  UFFDIO_COPY_MODE_DONTWAKE,
  UFFDIO_REGISTER_MODE_MISSING,
  UFFDIO_REGISTER_MODE_WP,
  type UffdMsg,
  Userfaultfd,
} from './userfaultfd.ts';
export { Vma, type VmOperations } from './vma.ts';
