/**
 * `hmm_range_fault_unlocked_timeout(range, timeout)`: the entry point of the 2026 lock-drop
 * series ("mm/hmm: Add mmap lock-drop support for userfaultfd-backed mappings", v8 of 10 July
 * 2026 with its fixups of 14 July; see docs/semantics.md). The caller does not hold the mmap
 * lock; the helper takes it, lets faults drop it (userfaultfd), and retries -EBUSY itself with a
 * fresh `range.notifierSeq`.
 * @module
 */
import type { MmStruct } from '../mm/mm-struct.ts';
import { mmuIntervalReadBegin } from '../notifier/interval-notifier.ts';
import { EBUSY, EINTR } from '../sim/errno.ts';
import { UsageError } from '../sim/errors.ts';
import type { HmmRange } from './hmm-range.ts';
import { type HmmLocked, hmmRangeFaultLocked } from './hmm-range-fault.ts';

/** Nanoseconds per jiffy: hmmsim counts jiffies at HZ = 1000, so a jiffy is a millisecond. */
export const NSEC_PER_JIFFY = 1_000_000;

/**
 * `hmm_range_fault_unlocked_timeout`: faults in and describes `range` like `hmmRangeFault`,
 * without the caller holding the mmap lock. Each attempt refreshes `range.notifierSeq`
 * (`mmu_interval_read_begin`), takes the mmap read lock and walks with FAULT_FLAG_ALLOW_RETRY |
 * FAULT_FLAG_KILLABLE; a fault that dropped the lock, or an invalidation (-EBUSY), starts another
 * attempt. `timeout` is in jiffies (milliseconds of virtual time here): 0 retries for ever;
 * otherwise -EBUSY once an attempt would start after the deadline, which is restarted only when
 * a fault dropped the lock (the fault handler made progress). -EINTR when a fatal signal is
 * pending for the calling thread. Otherwise the result of `hmmRangeFault` (0, -EFAULT, -EPERM,
 * -ENOMEM…). On 0 the caller still checks `mmuIntervalReadRetry(range.notifier,
 * range.notifierSeq)` under its update lock before using the pfns.
 */
export async function hmmRangeFaultUnlockedTimeout(range: HmmRange, timeout: number): Promise<number> {
  if (!Number.isSafeInteger(timeout) || timeout < 0)
    throw new UsageError(
      'hmmRangeFaultUnlockedTimeout(timeout)',
      `must be a non-negative integer (jiffies), got ${String(timeout)}`,
    );
  const mm = range?.notifier?.mm as MmStruct | null | undefined;
  if (mm === null || mm === undefined)
    throw new UsageError('hmmRangeFaultUnlockedTimeout(range)', 'range.notifier must be inserted in an mm');
  if (mm.mmapLock.heldByCurrent())
    throw new UsageError(
      'hmmRangeFaultUnlockedTimeout',
      `the caller must not hold the mmap lock of mm ${mm.id}`,
    );
  const sched = mm.kernel.sched;
  const clock = sched.clock;
  let deadline = 0;
  const locked: HmmLocked = { value: false };
  let ret: number;
  do {
    if (sched.current.fatalSignalPending) return -EINTR;
    if (timeout !== 0) {
      // A dropped lock means the fault handler made progress: restart the budget. Ordinary
      // -EBUSY retries keep the deadline.
      if (!locked.value) deadline = clock.now + timeout * NSEC_PER_JIFFY;
      const o = mm.kernel.observer;
      if (clock.now > deadline) {
        if (o?.retryTimeout) o.retryTimeout('hmm_range_fault_unlocked_timeout');
        return -EBUSY;
      }
      if (o?.retryAttempt)
        o.retryAttempt(
          'hmm_range_fault_unlocked_timeout',
          deadline - timeout * NSEC_PER_JIFFY,
          timeout * NSEC_PER_JIFFY,
        );
    }
    range.notifierSeq = await mmuIntervalReadBegin(range.notifier);
    await mm.mmapLock.downRead(); // mmap_read_lock_killable: -EINTR only while waiting
    locked.value = true;
    ret = await hmmRangeFaultLocked(range, locked);
    if (locked.value) mm.mmapLock.upRead();
  } while (ret === -EBUSY);
  return ret;
}
