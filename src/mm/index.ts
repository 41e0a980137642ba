/**
 * The memory manager: physical memory, page tables, VMAs, faults, system calls.
 * @module
 */
export * from './constants.ts';
export {
  checkKernelCosts,
  DEFAULT_KERNEL_COSTS,
  KERNEL_COST_NAMES,
  type KernelCostHooks,
  type KernelWorkCounts,
  newKernelWork,
} from './costs.ts';
export {
  DEVICE_ACCESS_ATOMIC,
  DEVICE_ACCESS_WRITE,
  type DeviceMirror,
  deviceMirrorAccess,
  deviceMirrorRegister,
  deviceMirrorUnregister,
  deviceMirrorUpdated,
  deviceRead,
  deviceWrite,
} from './device-mirror.ts';
export type { MmEvent } from './events.ts';
export { mmdrop, mmget, mmgetNotZero, mmgrab, mmput } from './exit.ts';
export { handleMmFault } from './fault.ts';
export type { FileOperations, OpenFile } from './fdtable.ts';
export { SimFile } from './file.ts';
export { folioGet, folioPut, folioRefCount, getPage, putPage } from './folio-ref.ts';
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
export { MFD_ALLOW_SEALING, MFD_CLOEXEC, MFD_HUGE_SHIFT, MFD_HUGETLB } from './hugetlbfs.ts';
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
export { MTHP_MIN_ORDER, type ThpSizeMode, ThpSizeSettings } from './mthp.ts';
export {
  lockPage as folioLock,
  pageLocked as folioTestLocked,
  trylockPage as folioTrylock,
  unlockPage as folioUnlock,
  waitOnPageLocked as folioWaitLocked,
} from './page-lock.ts';
export { PageTablePool } from './page-table.ts';
export { FRAME_METADATA_BYTES, HUGE_ZERO_PFN, PhysMem, ZERO_PFN } from './physmem.ts';
export { PIPE_DEF_BUFFERS, Pipe } from './pipe.ts';
export { Process } from './process.ts';
export { condResched, msleep, ndelay, udelay } from './resched.ts';
export { AccessSignal, BusError, FatalSignalKill, OutOfMemoryKill, SegmentationFault } from './signals.ts';
export {
  type FaultStats,
  type HmmStats,
  type KernelStats,
  type MigrateStats,
  newKernelStats,
} from './stats.ts';
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
