/**
 * What the mm tells secondary MMUs (include/linux/mmu_notifier.h): the events, the range record,
 * and the hook through which `src/notifier` receives them. The mm calls the hook when one is
 * installed on the `MmStruct`, like the kernel's `mm->notifier_subscriptions`; `src/mm` never
 * imports `src/notifier`.
 * @module
 */
import type { MmStruct } from './mm-struct.ts';
import type { MmObserver } from './observer.ts';

/** munmap, or mremap moving the range away. */
export const MMU_NOTIFY_UNMAP = 0;
/** PTEs cleared or replaced (madvise, COW break, reclaim, migration, THP split …). */
export const MMU_NOTIFY_CLEAR = 1;
/** Protection change derivable from the VMA (mprotect). */
export const MMU_NOTIFY_PROTECTION_VMA = 2;
/** Per-page protection change (fork write-protect). */
export const MMU_NOTIFY_PROTECTION_PAGE = 3;
/** Soft-dirty clearing. */
export const MMU_NOTIFY_SOFT_DIRTY = 4;
/** The mm is being torn down. */
export const MMU_NOTIFY_RELEASE = 5;
/** migrate_vma collect / insert, with the pgmap owner. */
export const MMU_NOTIFY_MIGRATE = 6;
/** Device-exclusive conversion or revocation. */
export const MMU_NOTIFY_EXCLUSIVE = 7;

/** Names of the events, indexed by value. */
export const MMU_NOTIFY_EVENT_NAMES: readonly string[] = [
  'UNMAP',
  'CLEAR',
  'PROTECTION_VMA',
  'PROTECTION_PAGE',
  'SOFT_DIRTY',
  'RELEASE',
  'MIGRATE',
  'EXCLUSIVE',
];

/** `struct mmu_notifier_range`: one invalidation. `end` is exclusive and not clipped to any interval. */
export interface MmuNotifierRange {
  /** The address space. */
  mm: MmStruct;
  /** First address. */
  start: number;
  /** End address (exclusive). */
  end: number;
  /** One of MMU_NOTIFY_*. */
  event: number;
  /** pgmap owner (MIGRATE) or requester (EXCLUSIVE); null otherwise. */
  owner: unknown;
  /** True when callbacks may sleep (MMU_NOTIFIER_RANGE_BLOCKABLE). */
  blockable: boolean;
}

/**
 * The per-mm subscription record as the mm sees it: installed by `src/notifier` on the first
 * subscription (`mm.notifierSubscriptions`).
 */
export interface MmNotifierSubscriptions {
  /**
   * `mmu_notifier_invalidate_range_start`: calls every overlapping subscription. Returns 0, or
   * -EAGAIN when a non-blockable range met a callback that could not proceed (the end has then
   * already been run and the initiator must not call it).
   */
  invalidateRangeStart(range: MmuNotifierRange): Promise<number>;
  /** `mmu_notifier_invalidate_range_end`. */
  invalidateRangeEnd(range: MmuNotifierRange): void;
  /** `mmu_notifier_release`: RELEASE to every subscription before the mm's pages go. */
  release(mm: MmStruct): Promise<void>;
}

/** Builds a range record (`mmu_notifier_range_init`). */
export function mmuNotifierRangeInit(
  mm: MmStruct,
  event: number,
  start: number,
  end: number,
  owner: unknown = null,
  blockable = true,
): MmuNotifierRange {
  return { mm, start, end, event, owner, blockable };
}

/**
 * `mmu_notifier_invalidate_range_start`: tells every overlapping subscription that the range is
 * about to change. Resolves to 0, or -EAGAIN for a non-blockable range that a callback refused
 * (the end has then already run; the initiator must not call it).
 */
export function mmuNotifierInvalidateRangeStart(range: MmuNotifierRange): Promise<number> {
  const k = range.mm.kernel;
  if (k.bus.on)
    k.bus.emit({ type: 'invalidate_start', time: k.sched.clock.now, thread: k.sched.current.name, range });
  const o = k.observer;
  if (o?.invalidateStart) o.invalidateStart(range);
  const subs = range.mm.notifierSubscriptions;
  if (subs === null) return RESOLVED_ZERO;
  const ret = subs.invalidateRangeStart(range);
  // A refused non-blockable start has already ended the range: tell the observer it is over.
  if (o?.invalidateEnd && !range.blockable) return ret.then((r) => observeFailedStart(o, range, r));
  return ret;
}

function observeFailedStart(o: MmObserver, range: MmuNotifierRange, ret: number): number {
  if (ret !== 0) o.invalidateEnd!(range);
  return ret;
}

/** One shared settled promise for invalidations on an mm without subscriptions. */
const RESOLVED_ZERO: Promise<number> = Promise.resolve(0);

/** `mmu_notifier_invalidate_range_end`: the change is complete. */
export function mmuNotifierInvalidateRangeEnd(range: MmuNotifierRange): void {
  const k = range.mm.kernel;
  const subs = range.mm.notifierSubscriptions;
  if (subs !== null) subs.invalidateRangeEnd(range);
  const o = k.observer;
  if (o?.invalidateEnd) o.invalidateEnd(range);
  if (k.bus.on)
    k.bus.emit({ type: 'invalidate_end', time: k.sched.clock.now, thread: k.sched.current.name, range });
}

/** `mmu_notifier_release`: called once when the address space is torn down, before its pages go. */
export async function mmuNotifierRelease(mm: MmStruct): Promise<void> {
  const subs = mm.notifierSubscriptions;
  if (subs !== null) await subs.release(mm);
}
