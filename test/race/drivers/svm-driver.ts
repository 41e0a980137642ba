/**
 * A small SVM driver written only against hmmsim's public API (src/index.ts), the way a driver
 * writer outside the project would: one interval notifier over a range, a device page table
 * (virtual page → pfn and access), one notifier lock taken by the invalidate callback and around
 * the commit, the documented `hmm_range_fault` retry loop bounded by `HMM_RANGE_DEFAULT_TIMEOUT`
 * (a `RetryDeadline`),
 * device page-table writes and device accesses that pass preemption points, and the device-mirror
 * contract (registered, commits and accesses reported).
 *
 * Each {@link SvmMistake} switches on one mistake taken from real drivers; null is the correct
 * driver. test/race/custom-drivers.test.ts explores each against the same races.
 */
import {
  condResched,
  DEVICE_ACCESS_WRITE,
  type DeviceMirror,
  deviceMirrorRegister,
  deviceMirrorUnregister,
  deviceMirrorUpdated,
  deviceRead,
  deviceWrite,
  EBUSY,
  EFAULT,
  ENODEV,
  HMM_PFN_ERROR,
  HMM_PFN_REQ_FAULT,
  HMM_PFN_REQ_WRITE,
  HMM_PFN_VALID,
  HMM_PFN_WRITE,
  type HmmRange,
  hmmPfnToPfn,
  hmmRangeFault,
  type Machine,
  type MmStruct,
  MmuIntervalNotifier,
  type MmuNotifierRange,
  Mutex,
  mmapReadLock,
  mmapReadUnlock,
  mmgetNotZero,
  mmput,
  mmuIntervalCheckRetry,
  mmuIntervalNotifierInsert,
  mmuIntervalNotifierRemove,
  mmuIntervalReadBegin,
  mmuIntervalReadRetry,
  mmuIntervalSetSeq,
  mmuNotifierRangeBlockable,
  ndelay,
  PAGE_SIZE,
  RetryDeadline,
} from '../../../src/index.ts';

/** One mistake of a real driver, or null for the correct driver. */
export type SvmMistake =
  /** `mmu_interval_read_retry` checked under a lock the invalidate callback does not take. */
  | 'wrong lock'
  /** The invalidate callback queues the device TLB flush for later instead of finishing it. */
  | 'deferred flush'
  /** `mmu_interval_read_begin` once, before the retry loop: the sequence is never refreshed. */
  | 'stale seq'
  /** The commit checks the lockless `mmu_interval_check_retry` and takes no lock. */
  | 'lockless check'
  /** A snapshot word with HMM_PFN_ERROR (or without HMM_PFN_VALID) mapped as if it named a page. */
  | 'error as mapping'
  /** Teardown removes the notifier before emptying the device page table. */
  | 'teardown order'
  | null;

/** Virtual ns a device page-table write costs (a register write and its posting read). */
const DEVICE_PTE_WRITE_NS = 100;
/** Virtual ns of a device TLB invalidation. */
const DEVICE_TLB_FLUSH_NS = 500;

/** The driver's state for one mirrored range of one process. */
export class SvmDriver implements DeviceMirror {
  readonly name: string;
  readonly mm: MmStruct;
  readonly machine: Machine;
  readonly mistake: SvmMistake;
  /** The notifier lock: the invalidate callback and the commit hold it. */
  readonly notifierLock: Mutex;
  /** A second driver lock (the device page-table lock of the 'wrong lock' driver). */
  readonly ptLock: Mutex;
  /** Serialises device faults against teardown (held across a whole populate). */
  readonly faultLock: Mutex;
  /** The device page table: virtual page → pfn × 4 + access bits. */
  readonly table = new Map<number, number>();
  readonly notifier = new MmuIntervalNotifier();
  /** Pages whose device translation an invalidation asked to drop ('deferred flush' keeps them). */
  readonly pendingFlush: number[] = [];
  /** Set by teardown: no commit may happen any more. */
  dead = false;
  readonly reportsUpdates = true;

  constructor(machine: Machine, mm: MmStruct, mistake: SvmMistake) {
    this.machine = machine;
    this.mm = mm;
    this.mistake = mistake;
    this.name = `svm-driver${mistake === null ? '' : ` (${mistake})`}`;
    this.notifierLock = new Mutex(machine.sched, 'svm notifier lock');
    this.ptLock = new Mutex(machine.sched, 'svm page-table lock');
    this.faultLock = new Mutex(machine.sched, 'svm fault lock');
  }

  forEachTranslation(visit: (vpn: number, pfn: number, access: number) => void): void {
    for (const [vpn, e] of this.table) visit(vpn, Math.floor(e / 4), e % 4);
  }
}

/** Registers the driver's notifier over `[start, start + length)` and its device mirror. */
export async function svmRegister(d: SvmDriver, start: number, length: number): Promise<void> {
  const ret = await mmuIntervalNotifierInsert(d.notifier, d.mm, start, length, {
    invalidate: (mni, range, curSeq) => svmInvalidate(d, mni, range, curSeq),
  });
  if (ret !== 0) throw new Error(`mmu_interval_notifier_insert: ${ret}`);
  deviceMirrorRegister(d.machine, d);
}

/** Drops the device translations of `range` (a TLB flush of the device). */
function zapRange(d: SvmDriver, range: MmuNotifierRange): void {
  let zapped = false;
  for (const vpn of [...d.table.keys()]) {
    const addr = vpn * PAGE_SIZE;
    if (addr < range.start || addr >= range.end) continue;
    if (d.mistake === 'deferred flush') d.pendingFlush.push(vpn);
    else d.table.delete(vpn);
    zapped = true;
  }
  if (zapped && d.mistake !== 'deferred flush') deviceMirrorUpdated(d.machine, d);
}

/** The invalidate callback: under the notifier lock, set the sequence and zap the range. */
function svmInvalidate(
  d: SvmDriver,
  mni: MmuIntervalNotifier,
  range: MmuNotifierRange,
  curSeq: number,
): boolean | Promise<boolean> {
  if (!mmuNotifierRangeBlockable(range)) {
    if (!d.notifierLock.trylock()) return false;
    mmuIntervalSetSeq(mni, curSeq);
    zapRange(d, range);
    d.notifierLock.unlock();
    return true;
  }
  return (async () => {
    await d.notifierLock.lock();
    mmuIntervalSetSeq(mni, curSeq);
    zapRange(d, range);
    d.notifierLock.unlock();
    return true;
  })();
}

/** Flushes what a 'deferred flush' driver queued (it does so before its next commit). */
async function flushPending(d: SvmDriver): Promise<void> {
  if (d.pendingFlush.length === 0) return;
  await ndelay(d.machine, DEVICE_TLB_FLUSH_NS, 'svm device TLB flush');
  for (const vpn of d.pendingFlush.splice(0)) d.table.delete(vpn);
  deviceMirrorUpdated(d.machine, d);
}

/**
 * Mirrors `[start, end)` into the device page table, faulting (`fault`) for writing (`write`) or
 * taking a snapshot (`fault` false). 0, or -EFAULT / -EPERM from hmm_range_fault, or -EBUSY when
 * the range kept changing for HMM_RANGE_DEFAULT_TIMEOUT ms, or -ENODEV once torn down. Holds the
 * fault lock throughout, so teardown waits for it.
 */
export async function svmPopulate(
  d: SvmDriver,
  start: number,
  end: number,
  write: boolean,
  fault = true,
): Promise<number> {
  const npages = (end - start) / PAGE_SIZE;
  const range: HmmRange = {
    notifier: d.notifier,
    notifierSeq: 0,
    start,
    end,
    hmmPfns: new BigUint64Array(npages),
    defaultFlags: fault ? HMM_PFN_REQ_FAULT | (write ? HMM_PFN_REQ_WRITE : 0n) : 0n,
    pfnFlagsMask: 0n,
    devPrivateOwner: d,
  };
  await d.faultLock.lock();
  try {
    if (d.dead) return -ENODEV;
    return await populateLocked(d, range);
  } finally {
    d.faultLock.unlock();
  }
}

/** {@link svmPopulate} once the fault lock is held. */
async function populateLocked(d: SvmDriver, range: HmmRange): Promise<number> {
  const mm = d.mm;
  if (!mmgetNotZero(mm)) return -EFAULT;
  const deadline = new RetryDeadline(
    d.machine,
    `${d.name} populate [0x${range.start.toString(16)}, 0x${range.end.toString(16)})`,
  );
  if (d.mistake === 'stale seq') range.notifierSeq = await mmuIntervalReadBegin(d.notifier);
  const commitLock = d.mistake === 'wrong lock' ? d.ptLock : d.notifierLock;
  let ret = 0;
  for (;;) {
    if (deadline.expired()) {
      ret = -EBUSY;
      break;
    }
    if (d.mistake !== 'stale seq') range.notifierSeq = await mmuIntervalReadBegin(d.notifier);
    await mmapReadLock(mm);
    ret = await hmmRangeFault(range);
    mmapReadUnlock(mm);
    if (ret === -EBUSY) continue;
    if (ret !== 0) break;

    if (d.mistake === 'lockless check') {
      if (mmuIntervalCheckRetry(d.notifier, range.notifierSeq)) continue;
      await commit(d, range);
      break;
    }
    await commitLock.lock();
    if (mmuIntervalReadRetry(d.notifier, range.notifierSeq)) {
      commitLock.unlock();
      // The driver waits a little for the invalidation to finish (time passes: the deadline can expire).
      await ndelay(d.machine, DEVICE_TLB_FLUSH_NS, 'svm retry backoff');
      continue;
    }
    await commit(d, range);
    commitLock.unlock();
    break;
  }
  await mmput(mm);
  return ret;
}

/** Writes the device page table from the range's words, one device page-table write each. */
async function commit(d: SvmDriver, range: HmmRange): Promise<void> {
  if (d.mistake === 'deferred flush') await flushPending(d);
  const first = range.start / PAGE_SIZE;
  for (let i = 0; i < range.hmmPfns.length; i++) {
    const w = range.hmmPfns[i]!;
    const usable =
      d.mistake === 'error as mapping' ? w !== 0n : (w & HMM_PFN_VALID) !== 0n && (w & HMM_PFN_ERROR) === 0n;
    if (!usable) continue;
    const access = (w & HMM_PFN_WRITE) !== 0n ? DEVICE_ACCESS_WRITE : 0;
    // A device page-table write: the hardware sees it now; another CPU may run meanwhile.
    await ndelay(d.machine, DEVICE_PTE_WRITE_NS, 'svm device page-table write');
    d.table.set(first + i, hmmPfnToPfn(w) * 4 + access);
    deviceMirrorUpdated(d.machine, d);
  }
}

/**
 * The device reads 4 bytes at `addr` through its page table; null when it has no translation.
 * The preemption point comes first: the device's translation lookup and its access are one step
 * (an invalidation waits for the device TLB flush, so it cannot come between them).
 */
export async function svmDeviceLoad32(d: SvmDriver, addr: number): Promise<number | null> {
  await condResched(d.machine, 'svm device DMA read');
  const e = d.table.get(Math.floor(addr / PAGE_SIZE));
  if (e === undefined) return null;
  const bytes = new Uint8Array(4);
  deviceRead(d.machine, d, addr, Math.floor(e / 4), bytes);
  return new DataView(bytes.buffer).getUint32(0, true);
}

/** The device writes 4 bytes at `addr` through a writable translation; false when it has none. */
export async function svmDeviceStore32(d: SvmDriver, addr: number, value: number): Promise<boolean> {
  await condResched(d.machine, 'svm device DMA write');
  const e = d.table.get(Math.floor(addr / PAGE_SIZE));
  if (e === undefined || ((e % 4) & DEVICE_ACCESS_WRITE) === 0) return false;
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, value, true);
  deviceWrite(d.machine, d, addr, Math.floor(e / 4), bytes);
  return true;
}

/**
 * Teardown: wait for the fault in flight and stop new ones (dead, under the fault lock), empty
 * the device page table under the notifier lock, remove the notifier, unregister the mirror. The
 * 'teardown order' driver removes the notifier first and then waits for the device to go idle
 * before emptying its table: in that window the CPU can change the mappings without telling it.
 */
export async function svmTeardown(d: SvmDriver): Promise<void> {
  await d.faultLock.lock();
  d.dead = true;
  d.faultLock.unlock();
  if (d.mistake === 'teardown order') {
    await mmuIntervalNotifierRemove(d.notifier);
    await ndelay(d.machine, DEVICE_TLB_FLUSH_NS, 'svm wait for the device to go idle');
  }
  await d.notifierLock.lock();
  d.table.clear();
  d.pendingFlush.length = 0;
  deviceMirrorUpdated(d.machine, d);
  d.notifierLock.unlock();
  if (d.mistake !== 'teardown order') await mmuIntervalNotifierRemove(d.notifier);
  deviceMirrorUnregister(d.machine, d);
}
