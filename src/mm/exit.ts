/**
 * Address-space teardown (mmput, exit_mmap, mmdrop): RELEASE to the notifier subscriptions, then
 * one UNMAP over the whole address space while every VMA is zapped, then the page tables go.
 * @module
 */
import { UsageError } from '../sim/errors.ts';
import { PAGE_SIZE, TASK_SIZE, ULONG_MAX } from './constants.ts';
import type { MmStruct } from './mm-struct.ts';
import {
  MMU_NOTIFY_UNMAP,
  mmuNotifierInvalidateRangeEnd,
  mmuNotifierInvalidateRangeStart,
  mmuNotifierRangeInit,
  mmuNotifierRelease,
} from './mmu-notifier.ts';
import { freePgtables } from './pgwalk.ts';
import { vmaRemove } from './vma-ops.ts';
import { zapVmaRange } from './zap.ts';

/** `mmget_not_zero`: takes a user reference if the address space is still alive. */
export function mmgetNotZero(mm: MmStruct): boolean {
  if (mm.mmUsers === 0) return false;
  mm.mmUsers++;
  return true;
}

/** `mmget`: takes a user reference on a live address space. */
export function mmget(mm: MmStruct): void {
  if (mm.mmUsers === 0) throw new UsageError('mmget', `mm ${mm.id} has no users left (use mmgetNotZero)`);
  mm.mmUsers++;
}

/** `mmput`: drops a user reference; the last one tears the address space down. */
export async function mmput(mm: MmStruct): Promise<void> {
  if (mm.mmUsers <= 0) throw new UsageError('mmput', `mm ${mm.id} has no user reference to drop`);
  if (--mm.mmUsers > 0) return;
  await exitMmap(mm);
  mmdrop(mm);
}

/** `mmgrab`: keeps the structure (not the address space) allocated. */
export function mmgrab(mm: MmStruct): void {
  mm.mmCount++;
}

/** `mmdrop`: the last structure reference frees the PGD. */
export function mmdrop(mm: MmStruct): void {
  if (mm.mmCount <= 0) throw new UsageError('mmdrop', `mm ${mm.id} has no structure reference to drop`);
  if (--mm.mmCount > 0) return;
  const k = mm.kernel;
  if (mm.pgd !== 0) {
    k.pt.free(mm.pgd);
    mm.pgd = 0;
  }
  k.mms.delete(mm);
}

/** exit_mmap. */
async function exitMmap(mm: MmStruct): Promise<void> {
  await mmuNotifierRelease(mm);
  await mm.mmapLock.downWrite();
  try {
    const range = mmuNotifierRangeInit(mm, MMU_NOTIFY_UNMAP, 0, ULONG_MAX);
    await mmuNotifierInvalidateRangeStart(range);
    for (const vma of [...mm.vmas]) await zapVmaRange(vma, vma.start, vma.end);
    for (const vma of [...mm.vmas]) vmaRemove(vma);
    freePgtables(mm.kernel.pt, mm.pgd, 0, (TASK_SIZE + PAGE_SIZE) / PAGE_SIZE);
    mmuNotifierInvalidateRangeEnd(range);
    mm.exited = true;
  } finally {
    mm.mmapLock.upWrite();
  }
}
