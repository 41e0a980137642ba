/**
 * The OOM reaper (`oom_reap_task_mm` / `__oom_reap_task_mm` in mm/oom_kill.c): frees the private
 * memory of an OOM victim's address space without waiting for the victim to exit. It is the one
 * source of non-blockable invalidations (`mmu_notifier_invalidate_range_start_nonblock`): the
 * reaper must not sleep on locks the victim, stuck in the allocator, may hold.
 * @module
 */
import { VM_HUGETLB, VM_PFNMAP, VM_SHARED } from './constants.ts';
import type { MmStruct } from './mm-struct.ts';
import {
  MMU_NOTIFY_UNMAP,
  mmuNotifierInvalidateRangeEnd,
  mmuNotifierInvalidateRangeStart,
  mmuNotifierRangeInit,
} from './mmu-notifier.ts';
import { zapVmaRange } from './zap.ts';

/**
 * `oom_reap_task_mm`: with the mmap lock taken only if free (`mmap_read_trylock`), zaps every
 * anonymous or private VMA (hugetlb and PFNMAP ones are skipped) under a non-blockable
 * MMU_NOTIFY_UNMAP invalidation. A VMA whose invalidation a subscriber refused (-EAGAIN) is left
 * for a later attempt. Resolves to true when everything was reaped, false when the lock was busy
 * or a VMA was skipped (the kernel's reaper then retries a few times). An address space already
 * torn down counts as reaped. Before zapping, the mm is marked MMF_UNSTABLE: the VMAs stay, and
 * a later fault that would map fresh private memory (anonymous, or a private file page) raises
 * SIGBUS instead of showing zeroes where the data was (`check_stable_address_space`).
 */
export async function oomReapTaskMm(mm: MmStruct): Promise<boolean> {
  if (mm.exited) return true;
  if (!mm.mmapLock.downReadTrylock()) return false;
  try {
    // __oom_reap_task_mm: set before anything is unmapped, so that no fault can map fresh
    // memory over what is being torn down.
    mm.mmfUnstable = true;
    let ret = true;
    for (const vma of [...mm.vmas]) {
      if ((vma.flags & (VM_HUGETLB | VM_PFNMAP)) !== 0) continue;
      if (!vma.isAnonymous && (vma.flags & VM_SHARED) !== 0) continue;
      const range = mmuNotifierRangeInit(mm, MMU_NOTIFY_UNMAP, vma.start, vma.end, null, false);
      // On -EAGAIN the notifier core has already ended the range.
      if ((await mmuNotifierInvalidateRangeStart(range)) !== 0) {
        ret = false;
        continue;
      }
      await zapVmaRange(vma, vma.start, vma.end);
      mmuNotifierInvalidateRangeEnd(range);
    }
    return ret;
  } finally {
    mm.mmapLock.upRead();
  }
}
