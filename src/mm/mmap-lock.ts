/**
 * The mmap lock API (include/linux/mmap_lock.h).
 * @module
 */
import type { MmStruct } from './mm-struct.ts';

/** `mmap_read_lock`. */
export function mmapReadLock(mm: MmStruct): Promise<void> {
  return mm.mmapLock.downRead();
}

/** `mmap_read_trylock`. */
export function mmapReadTrylock(mm: MmStruct): boolean {
  return mm.mmapLock.downReadTrylock();
}

/** `mmap_read_unlock`. */
export function mmapReadUnlock(mm: MmStruct): void {
  mm.mmapLock.upRead();
}

/** `mmap_write_lock`. */
export function mmapWriteLock(mm: MmStruct): Promise<void> {
  return mm.mmapLock.downWrite();
}

/** `mmap_write_unlock`. */
export function mmapWriteUnlock(mm: MmStruct): void {
  mm.mmapLock.upWrite();
}

/** `mmap_assert_locked`: true when the current thread holds the mmap lock (read or write). */
export function mmapLockedByCurrent(mm: MmStruct): boolean {
  return mm.mmapLock.heldByCurrent();
}
