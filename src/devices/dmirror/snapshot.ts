/**
 * SNAPSHOT, the device reading the CPU page tables without faulting (`dmirror_snapshot`,
 * `dmirror_range_snapshot`, `dmirror_snapshot_invalidate` and `dmirror_mkentry` in
 * lib/test_hmm.c): one protection byte per page, taken batch by batch under a temporary interval
 * notifier that covers exactly the batch.
 * @module
 */
import {
  HI_ERROR,
  HI_ORDER_SHIFT,
  HI_VALID,
  HI_WRITE,
  HMM_RANGE_DEFAULT_TIMEOUT,
} from '../../hmm/hmm-pfn.ts';
import type { HmmRange } from '../../hmm/hmm-range.ts';
import { hmmRangeFault } from '../../hmm/hmm-range-fault.ts';
import { HPAGE_PMD_ORDER, HPAGE_PUD_ORDER, PAGE_SIZE } from '../../mm/constants.ts';
import { mmgetNotZero, mmput } from '../../mm/exit.ts';
import { mmapReadLock, mmapReadUnlock } from '../../mm/mmap-lock.ts';
import type { MmuNotifierRange } from '../../mm/mmu-notifier.ts';
import { ZERO_PFN } from '../../mm/physmem.ts';
import {
  type MmuIntervalNotifier,
  type MmuIntervalNotifierOps,
  mmuIntervalNotifierInsert,
  mmuIntervalNotifierRemove,
  mmuIntervalReadBegin,
  mmuIntervalReadRetry,
  mmuIntervalSetSeq,
} from '../../notifier/interval-notifier.ts';
import { NSEC_PER_MSEC } from '../../sim/clock.ts';
import { EBUSY, EFAULT, EINVAL } from '../../sim/errno.ts';
import type { HmmDmirrorCmd } from './cmd.ts';
import { dmirrorFaultBatch } from './fault.ts';
import type { DmirrorFile } from './file.ts';
import { DmirrorInterval, dmirrorOfNotifier } from './interval.ts';
import {
  HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL,
  HMM_DMIRROR_PROT_DEV_COHERENT_REMOTE,
  HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL,
  HMM_DMIRROR_PROT_DEV_PRIVATE_REMOTE,
  HMM_DMIRROR_PROT_ERROR,
  HMM_DMIRROR_PROT_NONE,
  HMM_DMIRROR_PROT_PMD,
  HMM_DMIRROR_PROT_PUD,
  HMM_DMIRROR_PROT_READ,
  HMM_DMIRROR_PROT_WRITE,
  HMM_DMIRROR_PROT_ZERO,
} from './uapi.ts';

/**
 * `dmirror_mkentry`: the protection byte of one hmm_pfns word, given as its 32-bit halves. The
 * page's type comes from its dev_pagemap (device-private or device-coherent, local when the
 * pagemap's owner is this file's device) or from being the zero page.
 */
export function dmirrorMkentry(dmirror: DmirrorFile, lo: number, hi: number): number {
  if ((hi & HI_ERROR) !== 0) return HMM_DMIRROR_PROT_ERROR;
  if ((hi & HI_VALID) === 0) return HMM_DMIRROR_PROT_NONE;
  const pfn = lo + (hi & 0x1f_ffff) * 2 ** 32;
  const pgmap = dmirror.process.kernel.pgmapOf(pfn);
  let perm: number;
  if (pgmap?.isPrivate) {
    perm =
      pgmap.owner === dmirror.mdevice
        ? HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL
        : HMM_DMIRROR_PROT_DEV_PRIVATE_REMOTE;
  } else if (pgmap !== null) {
    // The only other ZONE_DEVICE type modelled is MEMORY_DEVICE_COHERENT.
    perm =
      pgmap.owner === dmirror.mdevice
        ? HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL
        : HMM_DMIRROR_PROT_DEV_COHERENT_REMOTE;
  } else if (pfn === ZERO_PFN) {
    // is_zero_pfn: the 4 KiB zero page only; the huge zero folio reads as an ordinary page.
    perm = HMM_DMIRROR_PROT_ZERO;
  } else perm = HMM_DMIRROR_PROT_NONE;
  perm |= (hi & HI_WRITE) !== 0 ? HMM_DMIRROR_PROT_WRITE : HMM_DMIRROR_PROT_READ;
  const order = (hi >>> HI_ORDER_SHIFT) & 0x1f;
  if (order === HPAGE_PMD_ORDER) perm |= HMM_DMIRROR_PROT_PMD;
  else if (order === HPAGE_PUD_ORDER) perm |= HMM_DMIRROR_PROT_PUD;
  return perm;
}

/**
 * `dmirror_snapshot_invalidate`: any invalidation of the batch voids the whole snapshot, so the
 * callback only stores the sequence number (under the mutex, or gives up when it may not sleep).
 */
export function dmirrorSnapshotInvalidate(
  mni: MmuIntervalNotifier,
  range: MmuNotifierRange,
  curSeq: number,
): boolean | Promise<boolean> {
  const dmirror = dmirrorOfNotifier(mni);
  if (!range.blockable) {
    if (!dmirror.mutex.trylock()) return false;
    mmuIntervalSetSeq(mni, curSeq);
    dmirror.mutex.unlock();
    return true;
  }
  return dmirror.mutex.lock().then(() => {
    mmuIntervalSetSeq(mni, curSeq);
    dmirror.mutex.unlock();
    return true;
  });
}

/** `dmirror_mrn_ops`: the operations of the temporary snapshot notifiers. */
export const dmirrorMrnOps: MmuIntervalNotifierOps = { invalidate: dmirrorSnapshotInvalidate };

/**
 * `dmirror_range_snapshot`: one batch. A temporary notifier covering exactly the batch detects
 * invalidations even where other subscriptions overlap; the walk retries under the usual
 * `HMM_RANGE_DEFAULT_TIMEOUT` deadline and the bytes are made while the mutex still holds the
 * result stable. The notifier is removed on every path.
 */
export async function dmirrorRangeSnapshot(
  dmirror: DmirrorFile,
  range: HmmRange,
  perm: Uint8Array,
): Promise<number> {
  const mm = dmirror.notifier.mm!;
  const clock = mm.kernel.sched.clock;
  const timeout = clock.now + HMM_RANGE_DEFAULT_TIMEOUT * NSEC_PER_MSEC;
  const notifier = new DmirrorInterval(dmirror);
  range.notifier = notifier;
  let ret = await mmuIntervalNotifierInsert(
    notifier,
    mm,
    range.start,
    range.end - range.start,
    dmirrorMrnOps,
  );
  if (ret !== 0) return ret;
  try {
    for (;;) {
      if (clock.now > timeout) return -EBUSY;
      range.notifierSeq = await mmuIntervalReadBegin(notifier);
      await mmapReadLock(mm);
      try {
        ret = await hmmRangeFault(range);
      } finally {
        mmapReadUnlock(mm);
      }
      if (ret !== 0) {
        if (ret === -EBUSY) continue;
        return ret;
      }
      await dmirror.mutex.lock();
      if (mmuIntervalReadRetry(notifier, range.notifierSeq)) {
        dmirror.mutex.unlock();
        continue;
      }
      break;
    }
    const pfns = range.hmmPfns;
    const w32 = new Uint32Array(pfns.buffer, pfns.byteOffset, pfns.length * 2);
    const n = (range.end - range.start) / PAGE_SIZE;
    for (let i = 0; i < n; i++) perm[i] = dmirrorMkentry(dmirror, w32[2 * i]!, w32[2 * i + 1]!);
    dmirror.mutex.unlock();
    return 0;
  } finally {
    await mmuIntervalNotifierRemove(notifier);
  }
}

/**
 * `dmirror_snapshot`: the protection byte of each of `cmd.npages` pages at `cmd.addr`, without
 * faulting anything. On success `cmd.ptr` holds the bytes and `cmd.cpages` the page count.
 * -EINVAL when the mirrored mm has gone.
 */
export async function dmirrorSnapshot(dmirror: DmirrorFile, cmd: HmmDmirrorCmd): Promise<number> {
  const mm = dmirror.notifier.mm!;
  const start = cmd.addr;
  const end = start + cmd.npages * PAGE_SIZE;
  const range: HmmRange = {
    notifier: dmirror.notifier,
    notifierSeq: 0,
    start: 0,
    end: 0,
    hmmPfns: new BigUint64Array(dmirrorFaultBatch(dmirror.mdevice.kernel)),
    defaultFlags: 0n,
    pfnFlagsMask: 0n,
    devPrivateOwner: dmirror.mdevice,
  };
  if (!mmgetNotZero(mm)) return -EINVAL;
  let ret = 0;
  try {
    // The user buffer: one byte per page; a size no buffer can have fails like copy_to_user.
    let uptr: Uint8Array;
    try {
      uptr = new Uint8Array(cmd.npages);
    } catch {
      return -EFAULT;
    }
    const perm = new Uint8Array(range.hmmPfns.length);
    for (let addr = start; addr < end; addr = range.end) {
      range.start = addr;
      range.end = Math.min(addr + range.hmmPfns.length * PAGE_SIZE, end);
      ret = await dmirrorRangeSnapshot(dmirror, range, perm);
      if (ret !== 0) break;
      const n = (range.end - range.start) / PAGE_SIZE;
      uptr.set(perm.subarray(0, n), cmd.cpages);
      cmd.cpages += n;
    }
    if (ret === 0) cmd.ptr = uptr;
  } finally {
    await mmput(mm);
  }
  return ret;
}
