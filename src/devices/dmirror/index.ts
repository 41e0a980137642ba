/**
 * dmirror, the kernel's HMM test driver (lib/test_hmm.c) as a simulated device: it mirrors a
 * process's address space through `hmmRangeFault` and an interval notifier, and reads, writes
 * and snapshots it on command.
 * @module
 */
export type { HmmDmirrorCmd } from './cmd.ts';
export { DMIRROR_NDEVICES, DmirrorDevice } from './device.ts';
export { DMIRROR_FAULT_BATCH } from './fault.ts';
export { DMIRROR_NOTIFIER_LENGTH, DmirrorFile } from './file.ts';
export { DmirrorInterval } from './interval.ts';
export { dmirrorMinOps } from './invalidate.ts';
export { dmirrorVmOps } from './mmap.ts';
export { type DmirrorPt, DPT_XA_TAG_ATOMIC, DPT_XA_TAG_READ, DPT_XA_TAG_WRITE } from './pt.ts';
export { dmirrorMrnOps } from './snapshot.ts';
export * from './uapi.ts';
