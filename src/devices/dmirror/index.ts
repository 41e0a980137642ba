/**
 * dmirror, the kernel's HMM test driver (lib/test_hmm.c) as a simulated device: it mirrors a
 * process's address space through `hmmRangeFault` and an interval notifier, reads, writes and
 * snapshots it on command, migrates it to and from its own ZONE_DEVICE memory (device-private
 * or device-coherent), and takes device-exclusive access to it.
 * @module
 */
export { DEVMEM_CHUNK_PAGES, DEVMEM_CHUNK_SIZE, DEVMEM_CHUNKS_RESERVE, DmirrorChunk } from './chunk.ts';
export type { HmmDmirrorCmd } from './cmd.ts';
export {
  checkDmirrorCosts,
  DEFAULT_DMIRROR_COSTS,
  DMIRROR_ALLOC_NS,
  DMIRROR_COPY_PAGE_NS,
  type DmirrorCosts,
} from './cost.ts';
export { DMIRROR_NDEVICES, DmirrorDevice } from './device.ts';
export { dmirrorDevmemOps } from './devmem-ops.ts';
export { DMIRROR_FAULT_BATCH } from './fault.ts';
export { DMIRROR_NOTIFIER_LENGTH, DmirrorFile } from './file.ts';
export { DmirrorInterval } from './interval.ts';
export { dmirrorMinOps } from './invalidate.ts';
export { DMIRROR_MIGRATE_BATCH } from './migrate-to-device.ts';
export { dmirrorVmOps } from './mmap.ts';
export { type DmirrorPt, DPT_XA_TAG_ATOMIC, DPT_XA_TAG_READ, DPT_XA_TAG_WRITE } from './pt.ts';
export { dmirrorMrnOps } from './snapshot.ts';
export * from './uapi.ts';
