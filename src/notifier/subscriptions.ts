/**
 * The per-mm notifier record (`struct mmu_notifier_subscriptions` in mm/mmu_notifier.c) and the
 * invalidation side of the interval-notifier sequence protocol: `invalidateRangeStart`,
 * `invalidateRangeEnd` and `release`, which the mm calls through `mm.notifierSubscriptions`.
 *
 * The record's sequence number `invalidateSeq` is even while no invalidation hits a subscription
 * and odd during an "invalidation epoch" (while the tree is frozen). Only interval subscriptions
 * are modelled; the kernel's classic `struct mmu_notifier` list is not.
 * @module
 */

import { ULONG_MAX } from '../mm/constants.ts';
import type { MmStruct } from '../mm/mm-struct.ts';
import {
  MMU_NOTIFY_RELEASE,
  type MmNotifierSubscriptions,
  type MmuNotifierRange,
  mmuNotifierRangeInit,
} from '../mm/mmu-notifier.ts';
import { EAGAIN } from '../sim/errno.ts';
import { UsageError } from '../sim/errors.ts';
import { WaitQueue } from '../sim/wait-queue.ts';
import type { MmuIntervalNotifier, MmuIntervalNotifierFinish } from './interval-notifier.ts';
import { IntervalTree, type IntervalTreeNode } from './interval-tree.ts';

/** `mmu_notifier_range_blockable`: true when the range's callbacks may sleep. */
export function mmuNotifierRangeBlockable(range: MmuNotifierRange): boolean {
  return range.blockable;
}

/** What `invalidateRangeStart` returns when nothing is hit: shared, so the common path allocates nothing. */
const RESOLVED_ZERO: Promise<number> = Promise.resolve(0);

/** Label of the preemption point before each interval callback. */
const INVALIDATE_POINT = 'mmu_notifier invalidate callback';

/**
 * The notifier record of one mm, installed on `mm.notifierSubscriptions` by the first interval
 * insertion. Fields are public for the interval-notifier functions, tests and traces; change them
 * only through those functions.
 */
export class MmuNotifierSubscriptions implements MmNotifierSubscriptions {
  /** The address space this record belongs to. */
  readonly mm: MmStruct;
  /** `invalidate_seq`: even when idle, odd while an invalidation epoch is open. Starts at 2. */
  invalidateSeq = 2;
  /** `active_invalidate_ranges`: invalidations between their start and their end. */
  activeInvalidateRanges = 0;
  /** `itree`: the interval subscriptions, by start address. Frozen while `invalidateSeq` is odd. */
  readonly itree = new IntervalTree<MmuIntervalNotifier>();
  /**
   * `deferred_list`: subscriptions whose insertion into (not in the tree) or removal from (in the
   * tree) `itree` waits for the end of the current epoch. Index 0 is the list head: entries are
   * added at the head, as `hlist_add_head` does, and applied from the head.
   */
  readonly deferredList: MmuIntervalNotifier[] = [];
  /** `wq`: `mmuIntervalReadBegin` and `mmuIntervalNotifierRemove` sleep here until the epoch ends. */
  readonly wq: WaitQueue;
  /** Kernel warnings (`WARN_ON`) raised on this record, oldest first. They never throw. */
  readonly warnings: string[] = [];

  /** @param mm the address space; the record starts idle (`invalidateSeq` 2, empty tree). */
  constructor(mm: MmStruct) {
    this.mm = mm;
    this.wq = new WaitQueue(mm.kernel.sched, `mmu notifier subscriptions of mm ${mm.id}`);
  }

  /** `mn_itree_is_invalidating`: true while an epoch is open (`invalidateSeq` odd). */
  isInvalidating(): boolean {
    return this.invalidateSeq % 2 === 1;
  }

  /**
   * `mmu_notifier_invalidate_range_start` for interval subscriptions (`mn_itree_invalidate`):
   * counts the range as active, opens (or joins) an epoch if it overlaps a subscription, and calls
   * every overlapping subscription's `invalidate` in start order with the epoch's odd sequence
   * number. Resolves to 0, or -EAGAIN when a non-blockable range met a callback that returned
   * false; the end has then already run and the initiator must not call it.
   */
  invalidateRangeStart(range: MmuNotifierRange): Promise<number> {
    const first = this.invStartRange(range);
    // Nothing hit: no epoch, no callback, no allocation.
    if (first === null) return RESOLVED_ZERO;
    return this.itreeInvalidate(first, range, this.invalidateSeq);
  }

  /**
   * `mmu_notifier_invalidate_range_end` for interval subscriptions (`mn_itree_inv_end`): when the
   * last active range ends an open epoch, makes `invalidateSeq` even, applies the deferred
   * insertions and removals, and wakes every sleeper.
   */
  invalidateRangeEnd(_range: MmuNotifierRange): void {
    this.invEnd();
  }

  /**
   * `mmu_notifier_release` for interval subscriptions (`mn_itree_release`): one epoch in which
   * every subscription in the tree receives a blockable MMU_NOTIFY_RELEASE over `[0, ULONG_MAX)`.
   * A callback returning false is a kernel warning. Subscriptions stay registered.
   */
  async release(mm: MmStruct): Promise<void> {
    const range = mmuNotifierRangeInit(mm, MMU_NOTIFY_RELEASE, 0, ULONG_MAX, null, true);
    const sched = this.mm.kernel.sched;
    const last = range.end - 1;
    let node = this.invStartRange(range);
    const cur = this.invalidateSeq;
    for (; node !== null; node = this.itree.iterNext(node, range.start, last)) {
      const p = sched.point(INVALIDATE_POINT);
      if (p) await p;
      const sub = node.value;
      let ret = callInvalidate(sub, range, cur);
      if (typeof ret !== 'boolean') ret = await ret;
      if (!ret) this.warn('mn_itree_release: an invalidate callback returned false for MMU_NOTIFY_RELEASE');
    }
    this.invEnd();
  }

  /** Records a kernel warning (`WARN_ON`) and emits it on the machine's event bus. */
  warn(message: string): void {
    const text = `WARNING: ${message} (mm ${this.mm.id})`;
    this.warnings.push(text);
    const k = this.mm.kernel;
    if (k.bus.on) {
      k.bus.emit({
        type: 'instant',
        time: k.sched.clock.now,
        thread: k.sched.current.name,
        name: 'WARN',
        args: { message: text },
      });
    }
  }

  /**
   * `mn_itree_inv_start_range`: one more active range; if some subscription overlaps it, the
   * sequence number becomes odd. Returns the first overlapping subscription's node, or null.
   * The caller reads the epoch's sequence number from `invalidateSeq` right after.
   */
  private invStartRange(range: MmuNotifierRange): IntervalTreeNode<MmuIntervalNotifier> | null {
    this.activeInvalidateRanges++;
    const node = this.itree.iterFirst(range.start, range.end - 1);
    if (node !== null && this.invalidateSeq % 2 === 0) this.invalidateSeq += 1;
    return node;
  }

  /** `mn_itree_invalidate` from the first hit on. */
  private async itreeInvalidate(
    first: IntervalTreeNode<MmuIntervalNotifier>,
    range: MmuNotifierRange,
    cur: number,
  ): Promise<number> {
    const sched = this.mm.kernel.sched;
    const last = range.end - 1;
    // Finish passes of two-pass notifiers, run once every first pass has (null until one asks).
    let finishes: MmuIntervalNotifierFinish[] | null = null;
    for (
      let node: typeof first | null = first;
      node !== null;
      node = this.itree.iterNext(node, range.start, last)
    ) {
      // The kernel may be preempted between the locked section and each callback.
      const p = sched.point(INVALIDATE_POINT);
      if (p) await p;
      const sub = node.value;
      // non_block_start(): a callback of a non-blockable range must not sleep or reschedule.
      const steps = sched.current.steps;
      const switches = sched.switches;
      let ret =
        sub.ops!.invalidateStart !== undefined
          ? callInvalidateStart(sub, range, cur)
          : callInvalidate(sub, range, cur);
      if (typeof ret !== 'boolean' && !isFinish(ret)) ret = await ret;
      if (!range.blockable && (sched.current.steps !== steps || sched.switches !== switches))
        this.nonBlockSlept();
      if (ret === true) continue;
      if (ret !== false) {
        ret.notifier = sub;
        if (finishes === null) finishes = [];
        finishes.push(ret);
        continue;
      }
      if (range.blockable) {
        this.warn('mn_itree_invalidate: an invalidate callback returned false for a blockable range');
        continue;
      }
      // The first passes already started are finished; then -EAGAIN. A non-blocking initiator
      // that gets -EAGAIN must not call the end: run it here.
      if (finishes !== null) await this.finishPasses(finishes, range);
      this.invEnd();
      return -EAGAIN;
    }
    if (finishes !== null) await this.finishPasses(finishes, range);
    return 0;
  }

  /** The second pass: every recorded finish, in the order of the first passes. */
  private async finishPasses(finishes: MmuIntervalNotifierFinish[], range: MmuNotifierRange): Promise<void> {
    const sched = this.mm.kernel.sched;
    for (const f of finishes) {
      const p = sched.point(INVALIDATE_POINT);
      if (p) await p;
      const steps = sched.current.steps;
      const switches = sched.switches;
      chargeNotifierCallback(range);
      const r = f.notifier!.ops!.invalidateFinish!(f);
      if (r !== undefined) await r;
      if (!range.blockable && (sched.current.steps !== steps || sched.switches !== switches))
        this.nonBlockSlept();
    }
  }

  /**
   * A callback of a non-blockable range passed a point where it could sleep (`non_block_end` with
   * CONFIG_DEBUG_ATOMIC_SLEEP: "sleeping function called from invalid context"): a kernel
   * assertion, and a warning on the record.
   */
  private nonBlockSlept(): void {
    const what =
      'BUG: sleeping function called from invalid context: an interval notifier callback slept or rescheduled during a non-blockable invalidation';
    this.warn(what);
    this.mm.kernel.observer?.kernelAssert?.(what);
  }

  /** `mn_itree_inv_end`. */
  private invEnd(): void {
    if (this.activeInvalidateRanges <= 0) {
      // The kernel cannot get here (mm_take_all_locks keeps registration out of open ranges); a
      // range ended twice, or ended after -EAGAIN, would underflow its counter.
      this.warn('mn_itree_inv_end: invalidate_range_end without a matching invalidate_range_start');
      return;
    }
    if (--this.activeInvalidateRanges > 0 || !this.isInvalidating()) return;
    this.invalidateSeq += 1;
    const deferred = this.deferredList;
    for (let i = 0; i < deferred.length; i++) {
      const node = deferred[i]!.intervalTree;
      if (node.inTree) this.itree.remove(node);
      else this.itree.insert(node);
    }
    deferred.length = 0;
    this.wq.wakeUpAll();
  }
}

/** True for what a first pass returns to ask for a finish pass. */
function isFinish(v: unknown): v is MmuIntervalNotifierFinish {
  return (
    typeof v === 'object' &&
    v !== null &&
    'notifier' in v &&
    typeof (v as { then?: unknown }).then !== 'function'
  );
}

/** One interval-notifier callback (a single pass, a first pass or a finish): counted and charged. */
function chargeNotifierCallback(range: MmuNotifierRange): void {
  const k = range.mm.kernel;
  k.work.notifierCallbacks++;
  k.sched.clock.advance(k.costs.notifierCallbackNs);
}

/** Calls `sub.ops.invalidateStart`; the result is a boolean or a finish (checked). */
function callInvalidateStart(
  sub: MmuIntervalNotifier,
  range: MmuNotifierRange,
  cur: number,
): boolean | MmuIntervalNotifierFinish | Promise<boolean | MmuIntervalNotifierFinish> {
  chargeNotifierCallback(range);
  const ret = sub.ops!.invalidateStart!(sub, range, cur);
  if (typeof ret === 'boolean' || isFinish(ret)) return ret;
  return Promise.resolve(ret).then(checkStartResult);
}

function checkStartResult(ret: unknown): boolean | MmuIntervalNotifierFinish {
  if (typeof ret === 'boolean' || isFinish(ret)) return ret;
  throw new UsageError(
    'MmuIntervalNotifierOps.invalidateStart',
    `must return a boolean or an MmuIntervalNotifierFinish, got ${String(ret)}`,
  );
}

/** Calls `sub.ops.invalidate`, awaiting it when it returns a promise, and checks the result is a boolean. */
function callInvalidate(
  sub: MmuIntervalNotifier,
  range: MmuNotifierRange,
  cur: number,
): boolean | Promise<boolean> {
  chargeNotifierCallback(range);
  const ret = sub.ops!.invalidate!(sub, range, cur);
  if (typeof ret === 'boolean') return ret;
  return Promise.resolve(ret).then(checkBoolean);
}

function checkBoolean(ret: unknown): boolean {
  if (typeof ret !== 'boolean') {
    throw new UsageError('MmuIntervalNotifierOps.invalidate', `must return a boolean, got ${String(ret)}`);
  }
  return ret;
}
