/**
 * The dmirror device's user ABI (lib/test_hmm_uapi.h): the snapshot protection bytes, the FLAGS
 * bits, the device memory types and the result record every command returns.
 * @module
 */

/** Snapshot byte: the pfn had HMM_PFN_ERROR (hole, unreadable VMA, VM_IO/VM_PFNMAP, special PTE). */
export const HMM_DMIRROR_PROT_ERROR = 0xff;
/** Snapshot byte: not valid (unpopulated, swap or migration entry, foreign device-private page). */
export const HMM_DMIRROR_PROT_NONE = 0x00;
/** Snapshot bit: valid, not writable. */
export const HMM_DMIRROR_PROT_READ = 0x01;
/** Snapshot bit: valid and writable. */
export const HMM_DMIRROR_PROT_WRITE = 0x02;
/** Snapshot bit: the CPU maps the page at PMD level. */
export const HMM_DMIRROR_PROT_PMD = 0x04;
/** Snapshot bit: the CPU maps the page at PUD level. */
export const HMM_DMIRROR_PROT_PUD = 0x08;
/** Snapshot type: the shared zero page. */
export const HMM_DMIRROR_PROT_ZERO = 0x10;
/** Snapshot type: a device-private page of the snapshotting device. */
export const HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL = 0x20;
/** Snapshot type: a device-private page of another device (defined, never produced: hmm reports those as not valid). */
export const HMM_DMIRROR_PROT_DEV_PRIVATE_REMOTE = 0x30;
/** Snapshot type: a device-coherent page of the snapshotting device. */
export const HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL = 0x40;
/** Snapshot type: a device-coherent page of another device. */
export const HMM_DMIRROR_PROT_DEV_COHERENT_REMOTE = 0x50;

/** FLAGS bit: the next device-memory allocation of a migration fails (one-shot fault injection). */
export const HMM_DMIRROR_FLAG_FAIL_ALLOC = 1;

/** Device memory type of minors 0 and 1 (`MEMORY_DEVICE_PRIVATE`). 0 is reserved for "never set". */
export const HMM_DMIRROR_MEMORY_DEVICE_PRIVATE = 1;
/** Device memory type of minors 2 and 3 (`MEMORY_DEVICE_COHERENT`). */
export const HMM_DMIRROR_MEMORY_DEVICE_COHERENT = 2;

/**
 * What a dmirror command returns (`struct hmm_dmirror_cmd` as userspace reads it back): `ret` is 0
 * or a negative errno; `cpages` (pages processed) and `faults` (device fault passes) are only
 * meaningful when `ret` is 0, because the kernel copies the struct back only on success.
 */
export interface DmirrorResult {
  /** 0, or a negative errno. */
  ret: number;
  /** Pages copied or processed (valid only when `ret` is 0). */
  cpages: number;
  /** Device fault passes (valid only when `ret` is 0). */
  faults: number;
}

/** The result of a command that copies page contents back (READ, MIGRATE_TO_DEV, EXCLUSIVE). */
export interface DmirrorDataResult extends DmirrorResult {
  /** What the driver copied to the user buffer, one page after another; nothing valid on error. */
  data: Uint8Array;
}

/** The result of SNAPSHOT. */
export interface DmirrorSnapshotResult extends DmirrorResult {
  /** One `HMM_DMIRROR_PROT_*` byte per page; nothing valid on error. */
  prot: Uint8Array;
}
