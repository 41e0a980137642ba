/**
 * The device fault path of dmirror (`dmirror_fault`, `dmirror_range_fault` and `dmirror_do_fault`
 * in lib/test_hmm.c): the documented `hmm_range_fault` caller pattern, in batches of 32 pages,
 * committing what it got to the device page table under the file's mutex.
 * @module
 */
import {
  HI_WRITE,
  HMM_PFN_REQ_FAULT,
  HMM_PFN_REQ_WRITE,
  HMM_RANGE_DEFAULT_TIMEOUT,
} from '../../hmm/hmm-pfn.ts';
import type { HmmRange } from '../../hmm/hmm-range.ts';
import { hmmRangeFault } from '../../hmm/hmm-range-fault.ts';
import { hmmRangeFaultUnlockedTimeout } from '../../hmm/hmm-range-fault-unlocked.ts';
import { PAGE_SIZE, VM_WRITE } from '../../mm/constants.ts';
import { mmgetNotZero, mmput } from '../../mm/exit.ts';
import type { Kernel } from '../../mm/kernel.ts';
import { mmapReadLock, mmapReadUnlock } from '../../mm/mmap-lock.ts';
import { mmuIntervalReadBegin, mmuIntervalReadRetry } from '../../notifier/interval-notifier.ts';
import { NSEC_PER_MSEC } from '../../sim/clock.ts';
import { EBUSY, EFAULT } from '../../sim/errno.ts';
import { dmirrorBackingPage } from './devmem-alloc.ts';
import type { DmirrorFile } from './file.ts';
import { dmirrorMigrateLock } from './mutant-locks.ts';
import { DPT_XA_TAG_READ, DPT_XA_TAG_WRITE, xaTagPointer } from './pt.ts';

/**
 * Pages per `hmm_range_fault` call (the size of the driver's on-stack pfn array): 32 in mainline
 * since "lib/test_hmm: reduce stack usage" (Arnd Bergmann), 64 in 6.12.
 */
export const DMIRROR_FAULT_BATCH = 32;

/** The fault and snapshot window of the machine's kernel version ({@link DMIRROR_FAULT_BATCH}). */
export function dmirrorFaultBatch(k: Kernel): number {
  return k.kernelVersion === '6.12' ? 64 : DMIRROR_FAULT_BATCH;
}

/** The pfn held in word `i` of a range's array, read through its 32-bit halves. */
export function hmmWordPfn(w32: Uint32Array, i: number): number {
  return w32[2 * i]! + (w32[2 * i + 1]! & 0x1f_ffff) * 2 ** 32;
}

/**
 * `dmirror_do_fault`: stores every page of a successful walk in the device page table, writable
 * when the CPU maps it writable. A write request answered without the write bit is refused with
 * -EFAULT (the kernel also warns). Called with the file's mutex held.
 */
export function dmirrorDoFault(dmirror: DmirrorFile, range: HmmRange): number {
  const pfns = range.hmmPfns;
  const w32 = new Uint32Array(pfns.buffer, pfns.byteOffset, pfns.length * 2);
  const wantWrite = (range.defaultFlags & HMM_PFN_REQ_WRITE) !== 0n;
  const first = range.start / PAGE_SIZE;
  const n = (range.end - range.start) / PAGE_SIZE;
  const k = dmirror.mdevice.kernel;
  const writeFromVma = dmirror.mdevice.quirks.writeFromVmaFlags;
  for (let i = 0; i < n; i++) {
    const hi = w32[2 * i + 1]!;
    // hmm_range_fault guarantees VALID (and no ERROR) for every requested page on success.
    let tag = DPT_XA_TAG_READ;
    if ((hi & HI_WRITE) !== 0) tag = DPT_XA_TAG_WRITE;
    else if (wantWrite) return -EFAULT;
    // Failpoint D11 (docs/mutants.md): write permission taken from the VMA (VM_WRITE), not
    // HMM_PFN_WRITE.
    if (writeFromVma && (range.notifier.mm!.vmaLookup((first + i) * PAGE_SIZE)?.flags ?? 0) & VM_WRITE)
      tag = DPT_XA_TAG_WRITE;
    // A device-private page of this device is reported, not faulted: the device reaches its data
    // through the backing page (BACKING_PAGE), as MIGRATE_TO_DEV maps it.
    dmirror.pt.set(first + i, xaTagPointer(dmirrorBackingPage(k, hmmWordPfn(w32, i)), tag));
  }
  const o = k.observer;
  if (o?.mirrorUpdate) o.mirrorUpdate(dmirror);
  return 0;
}

/**
 * `dmirror_range_fault`: the retry loop of the documented caller pattern for one batch. Gives up
 * with -EBUSY once `HMM_RANGE_DEFAULT_TIMEOUT` ms of virtual time have passed; any other error of
 * `hmmRangeFault` is returned as is.
 */
export async function dmirrorRangeFault(dmirror: DmirrorFile, range: HmmRange): Promise<number> {
  // Failpoint M9 (docs/mutants.md): a driver-private lock held across the device fault, also
  // taken by migrate_to_ram (devmem-fault.ts).
  if (dmirror.mdevice.quirks.driverLockAcrossFault) {
    const lock = dmirrorMigrateLock(dmirror.mdevice);
    await lock.lock();
    try {
      return await rangeFault(dmirror, range);
    } finally {
      lock.unlock();
    }
  }
  return rangeFault(dmirror, range);
}

/**
 * The retry loop of {@link dmirrorRangeFault}, hmm.rst's: read the sequence, walk under the mmap
 * lock (again on -EBUSY), and commit under the mutex unless an invalidation came in between. The
 * failpoints of dmirror's driver-side mutants (`./quirks.ts`) each sit in a statement of their own.
 */
async function rangeFault(dmirror: DmirrorFile, range: HmmRange): Promise<number> {
  const mm = range.notifier.mm!;
  const k = mm.kernel;
  const quirks = dmirror.mdevice.quirks;
  const clock = k.sched.clock;
  const startedAt = clock.now;
  // Failpoint L1 (docs/mutants.md): the deadline forgotten.
  const timeout = quirks.retryWithoutDeadline
    ? Infinity
    : startedAt + HMM_RANGE_DEFAULT_TIMEOUT * NSEC_PER_MSEC;
  // Failpoint D1 (docs/mutants.md): mmu_interval_read_begin hoisted out of the loop, the
  // sequence never refreshed.
  const readBeginOnce = quirks.readBeginHoisted;
  if (readBeginOnce) range.notifierSeq = await mmuIntervalReadBegin(range.notifier);
  for (;;) {
    // time_after(jiffies, timeout)
    if (clock.now > timeout) {
      const o = k.observer;
      if (o?.retryTimeout) o.retryTimeout(`dmirror_range_fault [${range.start}, ${range.end})`);
      return -EBUSY;
    }
    const ob = k.observer;
    if (ob?.retryAttempt)
      ob.retryAttempt(
        `dmirror_range_fault [0x${range.start.toString(16)}, 0x${range.end.toString(16)})`,
        startedAt,
        HMM_RANGE_DEFAULT_TIMEOUT * NSEC_PER_MSEC,
      );
    if (!readBeginOnce) range.notifierSeq = await mmuIntervalReadBegin(range.notifier);
    await mmapReadLock(mm);
    let ret: number;
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
    // Failpoint D2 (docs/mutants.md): device PTEs committed without mmu_interval_read_retry.
    if (quirks.commitWithoutReadRetry) break;
    if (mmuIntervalReadRetry(range.notifier, range.notifierSeq)) {
      dmirror.mutex.unlock();
      continue;
    }
    break;
  }
  // Failpoint D6 (docs/mutants.md): the pages of the hmm pfns used after the notifier lock is
  // dropped; the kernel may be preempted right after mutex_unlock.
  if (quirks.pagesUsedAfterUnlock) {
    dmirror.mutex.unlock();
    await k.sched.yield('dmirror_do_fault after mutex_unlock');
    return dmirrorDoFault(dmirror, range);
  }
  const ret = dmirrorDoFault(dmirror, range);
  dmirror.mutex.unlock();
  return ret;
}

/** The `struct hmm_range` of dmirror's fault helpers: one window at a time, for reading or writing. */
function dmirrorFaultRange(dmirror: DmirrorFile, write: boolean): HmmRange {
  return {
    notifier: dmirror.notifier,
    notifierSeq: 0,
    start: 0,
    end: 0,
    hmmPfns: new BigUint64Array(dmirrorFaultBatch(dmirror.mdevice.kernel)),
    pfnFlagsMask: 0n,
    defaultFlags: HMM_PFN_REQ_FAULT | (write ? HMM_PFN_REQ_WRITE : 0n),
    devPrivateOwner: dmirror.mdevice,
  };
}

/**
 * `dmirror_fault`: faults `[start, end)` of the mirrored mm into the device page table, one window
 * ({@link dmirrorFaultBatch}) at a time, for reading or for writing. Device-private pages of this device are reported, not
 * faulted. If the mm has already gone, it quietly does nothing and returns 0 (as the kernel does;
 * READ and WRITE then loop, see docs).
 */
export async function dmirrorFault(
  dmirror: DmirrorFile,
  start: number,
  end: number,
  write: boolean,
): Promise<number> {
  return faultInBatches(dmirror, start, end, write, 0, (range) => dmirrorRangeFault(dmirror, range));
}

/**
 * The batch loop of `dmirror_fault` and `dmirror_fault_unlocked`: holds the mirrored mm alive
 * while faulting `[start, end)` 32 pages at a time with `faultBatch`, and stops at the first
 * error. Returns `gone` when the mm has already gone.
 */
async function faultInBatches(
  dmirror: DmirrorFile,
  start: number,
  end: number,
  write: boolean,
  gone: number,
  faultBatch: (range: HmmRange) => Promise<number>,
): Promise<number> {
  const mm = dmirror.notifier.mm!;
  const range = dmirrorFaultRange(dmirror, write);
  if (!mmgetNotZero(mm)) return gone;
  let ret = 0;
  try {
    for (let addr = start; addr < end; addr = range.end) {
      range.start = addr;
      range.end = Math.min(addr + range.hmmPfns.length * PAGE_SIZE, end);
      ret = await faultBatch(range);
      if (ret !== 0) break;
    }
  } finally {
    await mmput(mm);
  }
  return ret;
}

/**
 * `dmirror_range_fault_unlocked` (the lock-drop series' test_hmm.c): one
 * `hmm_range_fault_unlocked_timeout` — the mmap lock is taken, dropped and retried inside it —
 * then the usual `mmu_interval_read_retry` under the mutex before committing.
 */
async function dmirrorRangeFaultUnlocked(
  dmirror: DmirrorFile,
  range: HmmRange,
  timeout: number,
): Promise<number> {
  for (;;) {
    const ret = await hmmRangeFaultUnlockedTimeout(range, timeout);
    if (ret !== 0) return ret;
    await dmirror.mutex.lock();
    if (mmuIntervalReadRetry(range.notifier, range.notifierSeq)) {
      dmirror.mutex.unlock();
      continue;
    }
    break;
  }
  const ret = dmirrorDoFault(dmirror, range);
  dmirror.mutex.unlock();
  return ret;
}

/**
 * `dmirror_fault_unlocked`: {@link dmirrorFault} through `hmm_range_fault_unlocked_timeout`
 * (`timeout` jiffies; 0 = for ever). Unlike the locked helper it fails with -EFAULT when the
 * mirrored mm has gone (series v3).
 */
export async function dmirrorFaultUnlocked(
  dmirror: DmirrorFile,
  start: number,
  end: number,
  write: boolean,
  timeout: number,
): Promise<number> {
  return faultInBatches(dmirror, start, end, write, -EFAULT, (range) =>
    dmirrorRangeFaultUnlocked(dmirror, range, timeout),
  );
}
