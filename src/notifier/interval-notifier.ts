/**
 * Interval notifiers (`struct mmu_interval_notifier`, mm/mmu_notifier.c): a driver subscribes to
 * invalidations of one VA interval of an mm and uses the collision-retry protocol
 * (`mmuIntervalReadBegin` / `mmuIntervalReadRetry`, with `mmuIntervalSetSeq` in its callback) to
 * know whether what it read from the CPU page tables is still current.
 * @module
 */
import { ULONG_MAX } from '../mm/constants.ts';
import { mmdrop, mmgrab } from '../mm/exit.ts';
import { MmStruct } from '../mm/mm-struct.ts';
import type { MmuNotifierRange } from '../mm/mmu-notifier.ts';
import { EOVERFLOW } from '../sim/errno.ts';
import { UsageError } from '../sim/errors.ts';
import { IntervalTreeNode } from './interval-tree.ts';
import { MmuNotifierSubscriptions } from './subscriptions.ts';

/** `struct mmu_interval_notifier_ops`: what the mm calls on a subscription. */
export interface MmuIntervalNotifierOps {
  /**
   * An invalidation overlapping the subscription's interval starts. `range` is the initiator's,
   * not clipped; `curSeq` is the epoch's sequence number, to store with {@link mmuIntervalSetSeq}
   * under the driver's lock. Return true when done (device translations of the range gone); return
   * false only when `range` is not blockable and the callback would have to sleep.
   */
  invalidate?(sub: MmuIntervalNotifier, range: MmuNotifierRange, curSeq: number): boolean | Promise<boolean>;
  /**
   * The first pass of a two-pass notifier (`invalidate_start`, used by xe's userptr): start the
   * invalidation (e.g. signal the device) and return a {@link MmuIntervalNotifierFinish} to be
   * called back in `invalidateFinish` once every subscription's first pass has run; or return a
   * boolean, as {@link invalidate}, having done the whole job (no finish pass). Used instead of
   * `invalidate` when present.
   */
  invalidateStart?(
    sub: MmuIntervalNotifier,
    range: MmuNotifierRange,
    curSeq: number,
  ): boolean | MmuIntervalNotifierFinish | Promise<boolean | MmuIntervalNotifierFinish>;
  /** The finish pass (`invalidate_finish`) for a `finish` the first pass returned: wait for the device. */
  invalidateFinish?(finish: MmuIntervalNotifierFinish): void | Promise<void>;
}

/**
 * `struct mmu_interval_notifier_finish`: what a two-pass notifier's first pass hands the core for
 * its finish pass. A driver typically extends it with the state the finish pass needs (embedded in
 * a per-notifier structure: no allocation in the callback). `notifier` is set by the core.
 */
export interface MmuIntervalNotifierFinish {
  /** The subscription whose finish pass this is (set by the core before the finish pass). */
  notifier: MmuIntervalNotifier | null;
}

/** Where a subscription is in its life (not a kernel field: it lets misuse throw). */
export type MmuIntervalNotifierState = 'idle' | 'inserted' | 'removing';

/**
 * One interval subscription (`struct mmu_interval_notifier`). Create it empty, then register it
 * with {@link mmuIntervalNotifierInsert}; after {@link mmuIntervalNotifierRemove} it may be
 * inserted again.
 */
export class MmuIntervalNotifier {
  /** `interval_tree`: the node linking this subscription into its mm's tree. */
  readonly intervalTree: IntervalTreeNode<MmuIntervalNotifier>;
  /** `mm`: the address space it subscribes to; null until the first insertion. */
  mm: MmStruct | null = null;
  /** `ops`: the callbacks; null until the first insertion. */
  ops: MmuIntervalNotifierOps | null = null;
  /**
   * `invalidate_seq`: odd once inserted; the last epoch's sequence number the driver stored (or
   * the insertion's initial value).
   */
  invalidateSeq = 0;
  /** Registration state (hmmsim's own, for misuse checks). */
  state: MmuIntervalNotifierState = 'idle';

  /** An unregistered subscription. */
  constructor() {
    this.intervalTree = new IntervalTreeNode<MmuIntervalNotifier>(this);
  }

  /** First address of the interval. */
  get start(): number {
    return this.intervalTree.start;
  }

  /** Last address of the interval (inclusive). */
  get last(): number {
    return this.intervalTree.last;
  }

  /** True while it is in its mm's interval tree (receives callbacks); false while its insertion is deferred. */
  get inTree(): boolean {
    return this.intervalTree.inTree;
  }
}

/** 2^64 − 1 exactly, for the insertion overflow check. */
const U64_MAX = (1n << 64n) - 1n;

/**
 * `mmu_interval_notifier_insert`: subscribes `sub` to invalidations of `[start, start + length)`
 * in `mm`. The first insertion on an mm creates its subscription record under the mmap lock taken
 * for writing, so the caller must not hold the mmap lock (use
 * {@link mmuIntervalNotifierInsertLocked} then). The mm must be alive (`mmUsers > 0`); an `mm_count`
 * reference is taken, dropped by {@link mmuIntervalNotifierRemove}.
 *
 * Resolves to 0, or -EOVERFLOW when `length` is 0 or the interval's last byte would pass
 * 2^64 − 1. During an open invalidation epoch the subscription is not in the tree yet when this
 * returns: its insertion is applied at the epoch's end and its sequence number makes
 * `mmuIntervalReadBegin` wait until then.
 *
 * Addresses are numbers; `ULONG_MAX` (which rounds to 2^64 as a double) stands for 2^64 − 1.
 */
export async function mmuIntervalNotifierInsert(
  sub: MmuIntervalNotifier,
  mm: MmStruct,
  start: number,
  length: number,
  ops: MmuIntervalNotifierOps,
): Promise<number> {
  checkArgs('mmuIntervalNotifierInsert', sub, mm, start, length, ops);
  // might_lock(&mm->mmap_lock): lockdep would flag the recursion even when the record exists.
  if (mm.mmapLock.heldByCurrent()) {
    throw new UsageError(
      'mmuIntervalNotifierInsert',
      'called with the mmap lock held (it may take it for writing); use mmuIntervalNotifierInsertLocked',
    );
  }
  let subs = mm.notifierSubscriptions;
  if (subs === null) {
    // mmu_notifier_register(NULL, mm): the record is created under the mmap write lock.
    await mm.mmapLock.downWrite();
    try {
      subs = registerLocked(mm);
    } finally {
      mm.mmapLock.upWrite();
    }
  }
  return intervalNotifierInsert(sub, mm, asOwnSubscriptions(subs), start, length, ops);
}

/**
 * `mmu_interval_notifier_insert_locked`: {@link mmuIntervalNotifierInsert} for a caller that
 * already holds `mm`'s mmap lock for writing (checked: a {@link UsageError} otherwise).
 */
export async function mmuIntervalNotifierInsertLocked(
  sub: MmuIntervalNotifier,
  mm: MmStruct,
  start: number,
  length: number,
  ops: MmuIntervalNotifierOps,
): Promise<number> {
  checkArgs('mmuIntervalNotifierInsertLocked', sub, mm, start, length, ops);
  // mmap_assert_write_locked(mm)
  if (!mm.mmapLock.writeHeldByCurrent()) {
    throw new UsageError('mmuIntervalNotifierInsertLocked', 'the caller must hold the mmap lock for writing');
  }
  const subs = mm.notifierSubscriptions ?? registerLocked(mm);
  return intervalNotifierInsert(sub, mm, asOwnSubscriptions(subs), start, length, ops);
}

/**
 * `mmu_interval_notifier_remove`: unsubscribes `sub`. During an open epoch the removal from the
 * tree is deferred and this sleeps until the epoch ends (a still-deferred insertion is simply
 * dropped, without waiting). Drops the `mm_count` reference taken by the insertion. Once it
 * resolves, no callback of `sub` runs or will run. Must not be called from a callback.
 */
export async function mmuIntervalNotifierRemove(sub: MmuIntervalNotifier): Promise<void> {
  if (!(sub instanceof MmuIntervalNotifier)) {
    throw new UsageError('mmuIntervalNotifierRemove(sub)', 'must be an MmuIntervalNotifier');
  }
  if (sub.state !== 'inserted') {
    throw new UsageError('mmuIntervalNotifierRemove(sub)', `the subscription is ${sub.state}, not inserted`);
  }
  const mm = sub.mm!;
  const subs = asOwnSubscriptions(mm.notifierSubscriptions);
  const node = sub.intervalTree;
  let seq = 0;
  if (subs.isInvalidating()) {
    if (!node.inTree) {
      // Inserted during this epoch and still deferred: just take it off the deferred list.
      const i = subs.deferredList.indexOf(sub);
      if (i >= 0) subs.deferredList.splice(i, 1);
    } else {
      subs.deferredList.unshift(sub);
      seq = subs.invalidateSeq;
    }
  } else if (!node.inTree) {
    subs.warn('mmu_interval_notifier_remove: the subscription is not in the interval tree');
  } else {
    subs.itree.remove(node);
  }
  if (seq !== 0) {
    sub.state = 'removing';
    await subs.wq.waitEvent(() => subs.invalidateSeq !== seq);
  }
  sub.state = 'idle';
  // Pairs with the mmgrab of the insertion; the last structure reference frees the mm.
  mmdrop(mm);
}

/**
 * `mmu_interval_read_begin`: opens a read-side critical section for `sub`'s interval and returns
 * the sequence number to pass to {@link mmuIntervalReadRetry}. If an epoch that already hit `sub`
 * (or during which it was inserted) is still open, sleeps until it ends. Never loops: the value
 * returned may already be stale. The caller must not hold any lock an invalidation callback takes.
 */
export async function mmuIntervalReadBegin(sub: MmuIntervalNotifier): Promise<number> {
  const subs = subscriptionsOf(sub, 'mmuIntervalReadBegin');
  const seq = sub.invalidateSeq;
  if (seq === subs.invalidateSeq) await subs.wq.waitEvent(() => subs.invalidateSeq !== seq);
  return seq;
}

/**
 * `mmu_interval_read_retry`: true when an invalidation hit `sub` since `seq` was returned by
 * {@link mmuIntervalReadBegin}; the caller must then discard what it read and retry. Call it under
 * the same driver lock the callback holds around {@link mmuIntervalSetSeq}.
 */
export function mmuIntervalReadRetry(sub: MmuIntervalNotifier, seq: number): boolean {
  return sub.invalidateSeq !== seq;
}

/**
 * `mmu_interval_check_retry`: the same test without the driver lock, as often as wanted. True is
 * final (a later {@link mmuIntervalReadRetry} will be true); false is only a hint.
 */
export function mmuIntervalCheckRetry(sub: MmuIntervalNotifier, seq: number): boolean {
  return sub.invalidateSeq !== seq;
}

/**
 * `mmu_interval_set_seq`: stores the epoch's `curSeq` (the callback's third argument) in `sub`.
 * Call it from the invalidate callback, under the driver lock, whenever the callback returns true.
 */
export function mmuIntervalSetSeq(sub: MmuIntervalNotifier, curSeq: number): void {
  const mm = sub.mm;
  const o = mm !== null ? mm.kernel.observer : null;
  if (o?.kernelAssert) checkSetSeq(o.kernelAssert.bind(o), sub, curSeq);
  sub.invalidateSeq = curSeq;
}

/**
 * What the kernel takes for granted when `mmu_interval_set_seq` runs (checked for an observer):
 * it is inside an invalidate callback, so the mm's invalidation epoch is open (`invalidate_seq`
 * odd) and `curSeq` is that epoch's number.
 */
function checkSetSeq(kernelAssert: (what: string) => void, sub: MmuIntervalNotifier, curSeq: number): void {
  const subs = sub.mm!.notifierSubscriptions as MmuNotifierSubscriptions | null;
  if (subs === null || !subs.isInvalidating())
    kernelAssert(
      `mmu_interval_set_seq(${curSeq}) outside an invalidate callback: no invalidation epoch is open on mm ${sub.mm!.id}`,
    );
  else if (subs.invalidateSeq !== curSeq)
    kernelAssert(
      `mmu_interval_set_seq(${curSeq}) outside an invalidate callback: the open epoch of mm ${sub.mm!.id} is ${subs.invalidateSeq}`,
    );
}

/** `__mmu_notifier_register(NULL, mm)` with the mmap write lock held: installs the record once. */
function registerLocked(mm: MmStruct): MmuNotifierSubscriptions {
  // BUG_ON(mm_users <= 0)
  if (mm.mmUsers <= 0)
    throw new UsageError('mmuIntervalNotifierInsert(mm)', 'the mm has no users left (mm_users is 0)');
  const existing = mm.notifierSubscriptions;
  if (existing !== null) return asOwnSubscriptions(existing);
  const subs = new MmuNotifierSubscriptions(mm);
  mm.notifierSubscriptions = subs;
  return subs;
}

/** `__mmu_interval_notifier_insert`: the overflow check, the mm_count reference, and the three cases. */
function intervalNotifierInsert(
  sub: MmuIntervalNotifier,
  mm: MmStruct,
  subs: MmuNotifierSubscriptions,
  start: number,
  length: number,
  ops: MmuIntervalNotifierOps,
): number {
  if (length === 0 || toU64(start) + toU64(length) - 1n > U64_MAX) return -EOVERFLOW;
  // The kernel WARNs and fails with -EINVAL; here a dead mm is a usage error.
  if (mm.mmUsers <= 0)
    throw new UsageError('mmuIntervalNotifierInsert(mm)', 'the mm has no users left (mm_users is 0)');
  // Pairs with the mmdrop in mmuIntervalNotifierRemove.
  mmgrab(mm);
  sub.mm = mm;
  sub.ops = ops;
  sub.state = 'inserted';
  const node = sub.intervalTree;
  node.start = start;
  // Inclusive last address; above 2^53 it is rounded like every address there.
  node.last = start + (length - 1);
  if (subs.activeInvalidateRanges > 0) {
    if (subs.isInvalidating()) {
      // The tree is frozen: insert at the end of the epoch (deterministic, no retry loop).
      subs.deferredList.unshift(sub);
    } else {
      // Running invalidations may cover the new interval: assume they do.
      subs.invalidateSeq += 1;
      subs.itree.insert(node);
    }
    sub.invalidateSeq = subs.invalidateSeq;
  } else {
    if (subs.isInvalidating())
      subs.warn('mmu_interval_notifier_insert: odd sequence number with no active range');
    // Odd and different from the idle (even) value, so read_begin does not wait.
    sub.invalidateSeq = subs.invalidateSeq - 1;
    subs.itree.insert(node);
  }
  return 0;
}

/** A number taken as an unsigned long; ULONG_MAX (2^64 as a double) means 2^64 − 1. */
function toU64(x: number): bigint {
  return x >= ULONG_MAX ? U64_MAX : BigInt(x);
}

function checkArgs(
  fn: string,
  sub: unknown,
  mm: unknown,
  start: unknown,
  length: unknown,
  ops: MmuIntervalNotifierOps,
): void {
  if (!(sub instanceof MmuIntervalNotifier))
    throw new UsageError(`${fn}(sub)`, 'must be an MmuIntervalNotifier');
  if (sub.state !== 'idle') throw new UsageError(`${fn}(sub)`, `the subscription is already ${sub.state}`);
  if (!(mm instanceof MmStruct)) throw new UsageError(`${fn}(mm)`, 'must be an MmStruct');
  checkUnsignedLong(`${fn}(start)`, start);
  checkUnsignedLong(`${fn}(length)`, length);
  if (
    typeof ops !== 'object' ||
    ops === null ||
    (typeof ops.invalidate !== 'function' &&
      (typeof ops.invalidateStart !== 'function' || typeof ops.invalidateFinish !== 'function'))
  ) {
    throw new UsageError(
      `${fn}(ops)`,
      'must be an object with an invalidate function, or invalidateStart and invalidateFinish',
    );
  }
}

function checkUnsignedLong(what: string, v: unknown): void {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > ULONG_MAX) {
    throw new UsageError(what, `must be an integer between 0 and ULONG_MAX, got ${String(v)}`);
  }
}

function asOwnSubscriptions(subs: unknown): MmuNotifierSubscriptions {
  if (!(subs instanceof MmuNotifierSubscriptions)) {
    throw new UsageError('mm.notifierSubscriptions', 'is not the interval-notifier record of src/notifier');
  }
  return subs;
}

function subscriptionsOf(sub: MmuIntervalNotifier, fn: string): MmuNotifierSubscriptions {
  if (!(sub instanceof MmuIntervalNotifier))
    throw new UsageError(`${fn}(sub)`, 'must be an MmuIntervalNotifier');
  if (sub.mm === null) throw new UsageError(`${fn}(sub)`, 'the subscription was never inserted');
  return asOwnSubscriptions(sub.mm.notifierSubscriptions);
}
