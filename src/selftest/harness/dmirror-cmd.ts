/**
 * `hmm_dmirror_cmd` of the kernel's HMM self-tests: the test driver's ioctls as the tests issue
 * them, on an `HmmBuffer`.
 * @module
 */
import type { DmirrorFile } from '../../devices/dmirror/index.ts';
import { EINTR } from '../../sim/errno.ts';
import type { HmmBuffer } from './buffer.ts';

/** The ioctl requests used by the ported tests. */
export type HmmDmirrorRequest =
  | 'HMM_DMIRROR_READ'
  | 'HMM_DMIRROR_WRITE'
  | 'HMM_DMIRROR_MIGRATE_TO_DEV'
  | 'HMM_DMIRROR_MIGRATE_TO_SYS'
  | 'HMM_DMIRROR_SNAPSHOT'
  | 'HMM_DMIRROR_EXCLUSIVE'
  | 'HMM_DMIRROR_CHECK_EXCLUSIVE'
  | 'HMM_DMIRROR_RELEASE'
  | 'HMM_DMIRROR_FLAGS'
  | 'HMM_DMIRROR_READ_UNLOCKED';
/** `HMM_DMIRROR_READ`. */
export const HMM_DMIRROR_READ: HmmDmirrorRequest = 'HMM_DMIRROR_READ';
/** `HMM_DMIRROR_WRITE`. */
export const HMM_DMIRROR_WRITE: HmmDmirrorRequest = 'HMM_DMIRROR_WRITE';
/** `HMM_DMIRROR_MIGRATE_TO_DEV`. */
export const HMM_DMIRROR_MIGRATE_TO_DEV: HmmDmirrorRequest = 'HMM_DMIRROR_MIGRATE_TO_DEV';
/** `HMM_DMIRROR_MIGRATE_TO_SYS`. */
export const HMM_DMIRROR_MIGRATE_TO_SYS: HmmDmirrorRequest = 'HMM_DMIRROR_MIGRATE_TO_SYS';
/** `HMM_DMIRROR_SNAPSHOT`. */
export const HMM_DMIRROR_SNAPSHOT: HmmDmirrorRequest = 'HMM_DMIRROR_SNAPSHOT';
/** `HMM_DMIRROR_EXCLUSIVE`. */
export const HMM_DMIRROR_EXCLUSIVE: HmmDmirrorRequest = 'HMM_DMIRROR_EXCLUSIVE';
/** `HMM_DMIRROR_CHECK_EXCLUSIVE`. */
export const HMM_DMIRROR_CHECK_EXCLUSIVE: HmmDmirrorRequest = 'HMM_DMIRROR_CHECK_EXCLUSIVE';
/** `HMM_DMIRROR_RELEASE`. */
export const HMM_DMIRROR_RELEASE: HmmDmirrorRequest = 'HMM_DMIRROR_RELEASE';
/** `HMM_DMIRROR_FLAGS`. */
export const HMM_DMIRROR_FLAGS: HmmDmirrorRequest = 'HMM_DMIRROR_FLAGS';
/** `HMM_DMIRROR_READ_UNLOCKED` (0x09, the 2026 lock-drop series). */
export const HMM_DMIRROR_READ_UNLOCKED: HmmDmirrorRequest = 'HMM_DMIRROR_READ_UNLOCKED';

/**
 * `hmm_dmirror_cmd`: issues `request` with addr = `buffer.ptr`, ptr = `buffer.mirror`, npages,
 * retrying on EINTR. Returns 0 or -errno; only on success are cpages/faults copied into the buffer
 * and what the device copied out (READ data, SNAPSHOT bytes) written to the mirror, as the kernel
 * copies nothing back on error.
 */
export async function hmmDmirrorCmd(
  fd: DmirrorFile,
  request: HmmDmirrorRequest,
  buffer: HmmBuffer,
  npages: number,
): Promise<number> {
  const addr = buffer.ptr;
  for (;;) {
    let r: { ret: number; cpages: number; faults: number; data?: Uint8Array; prot?: Uint8Array };
    switch (request) {
      case 'HMM_DMIRROR_READ':
        r = await fd.read(addr, npages);
        break;
      case 'HMM_DMIRROR_WRITE':
        r = await fd.write(addr, npages, buffer.mirror);
        break;
      case 'HMM_DMIRROR_MIGRATE_TO_DEV':
        r = await fd.migrateToDev(addr, npages);
        break;
      case 'HMM_DMIRROR_MIGRATE_TO_SYS':
        r = await fd.migrateToSys(addr, npages);
        break;
      case 'HMM_DMIRROR_SNAPSHOT':
        r = await fd.snapshot(addr, npages);
        break;
      case 'HMM_DMIRROR_EXCLUSIVE':
        r = await fd.exclusive(addr, npages);
        break;
      case 'HMM_DMIRROR_CHECK_EXCLUSIVE':
        r = await fd.checkExclusive(addr, npages);
        break;
      case 'HMM_DMIRROR_RELEASE':
        r = await fd.release(addr, npages);
        break;
      case 'HMM_DMIRROR_FLAGS':
        r = await fd.setFlags(npages);
        break;
      case 'HMM_DMIRROR_READ_UNLOCKED':
        r = await fd.readUnlocked(addr, npages);
        break;
    }
    if (r.ret === 0) {
      const out = r.data ?? r.prot;
      // snapshot's 7-byte mirror receives MIGRATE_TO_DEV's page of read-back: in C the copy runs
      // past the malloc'd buffer into the heap; here the part that fits is kept.
      if (out !== undefined)
        buffer.mirror.set(out.length > buffer.mirror.length ? out.subarray(0, buffer.mirror.length) : out);
      buffer.cpages = r.cpages;
      buffer.faults = r.faults;
      return 0;
    }
    if (r.ret === -EINTR) continue;
    return r.ret;
  }
}

/** `hmm_migrate_sys_to_dev`. */
export function hmmMigrateSysToDev(fd: DmirrorFile, buffer: HmmBuffer, npages: number): Promise<number> {
  return hmmDmirrorCmd(fd, HMM_DMIRROR_MIGRATE_TO_DEV, buffer, npages);
}

/** `hmm_migrate_dev_to_sys`. */
export function hmmMigrateDevToSys(fd: DmirrorFile, buffer: HmmBuffer, npages: number): Promise<number> {
  return hmmDmirrorCmd(fd, HMM_DMIRROR_MIGRATE_TO_SYS, buffer, npages);
}
