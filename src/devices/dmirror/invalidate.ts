/**
 * The invalidation callback of an open dmirror file's main notifier (`dmirror_interval_invalidate`
 * and `dmirror_do_update` in lib/test_hmm.c): every CPU page-table change in the mirrored mm drops
 * the device's translations of the range, under the file's mutex, with the sequence number
 * advanced so that a concurrent device fault retries.
 * @module
 */
import { PAGE_SIZE } from '../../mm/constants.ts';
import { MMU_NOTIFY_MIGRATE, type MmuNotifierRange } from '../../mm/mmu-notifier.ts';
import {
  type MmuIntervalNotifier,
  type MmuIntervalNotifierOps,
  mmuIntervalSetSeq,
} from '../../notifier/interval-notifier.ts';
import type { DmirrorFile } from './file.ts';
import { dmirrorOfNotifier } from './interval.ts';
import { dmirrorPtEraseRange } from './pt.ts';

/**
 * `dmirror_do_update`: erases the mirror entries of `[start, end]`. The kernel's bound is the page
 * of `end` itself, inclusive, so one page past the range goes too: a harmless over-invalidation
 * kept on purpose. The table holds no page references, so erasing is all there is to do.
 */
export function dmirrorDoUpdate(dmirror: DmirrorFile, start: number, end: number): void {
  dmirrorPtEraseRange(dmirror.pt, Math.floor(start / PAGE_SIZE), Math.floor(end / PAGE_SIZE));
}

/**
 * `dmirror_interval_invalidate`: skips the device's own migrations (it maintains those entries
 * itself), takes the mutex (or gives up when the range may not sleep and the mutex is busy),
 * stores the epoch's sequence number and erases the range.
 */
export function dmirrorIntervalInvalidate(
  mni: MmuIntervalNotifier,
  range: MmuNotifierRange,
  curSeq: number,
): boolean | Promise<boolean> {
  const dmirror = dmirrorOfNotifier(mni);
  // Device-private pages this device migrates are handled by the migration itself.
  if (range.event === MMU_NOTIFY_MIGRATE && range.owner === dmirror.mdevice) return true;
  // Failpoint D5 (docs/mutants.md): sleeps on the mutex even when the range may not block.
  const mayBlock = range.blockable || dmirror.mdevice.quirks.invalidateSleepsUnblockable;
  if (!mayBlock) {
    if (!dmirror.mutex.trylock()) return false;
    update(dmirror, mni, range, curSeq);
    return true;
  }
  return dmirror.mutex.lock().then(() => {
    update(dmirror, mni, range, curSeq);
    return true;
  });
}

function update(
  dmirror: DmirrorFile,
  mni: MmuIntervalNotifier,
  range: MmuNotifierRange,
  curSeq: number,
): void {
  const k = dmirror.mdevice.kernel;
  const quirks = dmirror.mdevice.quirks;
  // Failpoint D3 (docs/mutants.md): the callback forgets mmu_interval_set_seq.
  if (!quirks.invalidateWithoutSetSeq) mmuIntervalSetSeq(mni, curSeq);
  // Failpoint D4 (docs/mutants.md): returns before the device's update is done; a device
  // worker erases the entries later, whenever it gets to run.
  if (quirks.invalidateBeforeFlush) {
    dmirror.mutex.unlock();
    const { start, end } = range;
    k.sched.spawn(`${dmirror.mdevice.name} tlb flush`, async () => {
      await dmirror.mutex.lock();
      dmirrorDoUpdate(dmirror, start, end);
      dmirror.mutex.unlock();
    });
    return;
  }
  dmirrorDoUpdate(dmirror, range.start, range.end);
  dmirror.mutex.unlock();
}

/** `dmirror_min_ops`: the operations of every open file's main notifier. */
export const dmirrorMinOps: MmuIntervalNotifierOps = { invalidate: dmirrorIntervalInvalidate };
