/**
 * MMU notifiers for secondary MMUs (mm/mmu_notifier.c): interval subscriptions, the per-mm record
 * with its sequence-number state machine, and the interval tree they live in.
 * @module
 */

export {
  MmuIntervalNotifier,
  type MmuIntervalNotifierFinish,
  type MmuIntervalNotifierOps,
  type MmuIntervalNotifierState,
  mmuIntervalCheckRetry,
  mmuIntervalNotifierInsert,
  mmuIntervalNotifierInsertLocked,
  mmuIntervalNotifierRemove,
  mmuIntervalReadBegin,
  mmuIntervalReadRetry,
  mmuIntervalSetSeq,
} from './interval-notifier.ts';
export { IntervalTree, IntervalTreeNode } from './interval-tree.ts';
export { MmuNotifierSubscriptions, mmuNotifierRangeBlockable } from './subscriptions.ts';
