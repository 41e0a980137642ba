/**
 * Locks that exist only in mutated variants of dmirror (race-explorer mutants, see
 * `src/explore/mutants/driver.ts`). The real lib/test_hmm.c has none of them.
 * @module
 */
import { Mutex } from '../../sim/mutex.ts';
import type { DmirrorDevice } from './device.ts';

const MIGRATE_LOCK = 'dmirror driver migrate lock';

/**
 * M9's driver-private lock (one for the whole driver on a machine, like a driver-wide SVM lock):
 * held by the device fault path across `hmm_range_fault` and taken by `migrate_to_ram`. Made on
 * first use, kept on the kernel (`kernel.mutantLocks`).
 */
export function dmirrorMigrateLock(mdevice: DmirrorDevice): Mutex {
  const k = mdevice.kernel;
  let lock = k.mutantLocks.get(MIGRATE_LOCK);
  if (lock === undefined) {
    lock = new Mutex(k.sched, MIGRATE_LOCK);
    k.mutantLocks.set(MIGRATE_LOCK, lock);
  }
  return lock;
}
