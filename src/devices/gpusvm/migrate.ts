/**
 * Migration between system memory and the GPU's VRAM for the gpusvm-style driver, as drm_pagemap
 * does it for drm_gpusvm (drm_pagemap_migrate_to_devmem, drm_pagemap_migrate_to_ram,
 * drm_pagemap_evict_to_ram; xe's xe_svm_alloc_vram and copy callbacks):
 *
 * - **to VRAM** (on a GPU fault, policy permitting): under the mmap lock for reading only,
 *   allocate a block the size of the range (which may fail), `migrate_vma_setup` over the range
 *   selecting system pages, refuse unless every page was collected (-EBUSY; nothing moves),
 *   copy, `migrate_vma_pages`, `migrate_vma_finalize`. Even then a slot may not move (the CPU
 *   populated a hole meanwhile): the driver assumes nothing and learns the range's pages from
 *   `hmm_range_fault` afterwards.
 * - **`migrate_to_ram`** (a CPU access hit a VRAM page): core-MM concepts only — the faulting
 *   page is locked and referenced by the fault path, the region is derived from the fault
 *   address and the allocation's size (no stored virtual address), and only the faulting page is
 *   guaranteed to move; no driver lock.
 * - **eviction** (VRAM wanted back): from the allocation's pfns only (`migrate_device_range`),
 *   never through an mm or a VMA, retried a few times until the allocation is detached; the GPU
 *   mappings go through the notifier, which is told the virtual addresses by the core.
 *
 * Every DMA copy charges virtual time and passes a preemption point.
 * @module
 */
import type { VmFault } from '../../devmem/memremap.ts';
import {
  MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
  MIGRATE_VMA_SELECT_SYSTEM,
  type MigrateVma,
  migrateDeviceFinalize,
  migrateDevicePages,
  migrateDeviceRange,
  migrateVmaFinalize,
  migrateVmaPages,
  migrateVmaSetup,
} from '../../devmem/migrate-device.ts';
import { MIGRATE_PFN_MIGRATE, migratePfn, migratePfnToPage, mpfnHas } from '../../devmem/migrate-pfn.ts';
import { PAGE_SIZE, VM_FAULT_OOM, VM_FAULT_SIGBUS } from '../../mm/constants.ts';
import { mmgetNotZero, mmput } from '../../mm/exit.ts';
import type { Kernel } from '../../mm/kernel.ts';
import { mmapReadLock, mmapReadUnlock } from '../../mm/mmap-lock.ts';
import { PG_locked } from '../../mm/page-flags.ts';
import { condResched } from '../../mm/resched.ts';
import { EBUSY, EFAULT, EINVAL, ENOENT, ENOMEM } from '../../sim/errno.ts';
import type { GpuSvm, GpuSvmRange } from './gpusvm.ts';
import type { GpuSvmAllocation } from './vram.ts';

/**
 * Virtual ns of copying one 4 KiB page between VRAM and system memory by DMA. Not calibrated
 * (no benchmark of this driver is modelled): it only makes copies take time, for liveness.
 */
export const GPUSVM_COPY_NS_PER_PAGE = 500;
/** Passes of an eviction before it gives up with -EBUSY (pages locked by concurrent faults). */
export const GPUSVM_EVICT_TRIES = 4;

/** A DMA copy of `pages` pages: virtual time and a preemption point (the copy is not atomic). */
async function dmaCopy(svm: GpuSvm, pages: number, what: string): Promise<void> {
  svm.kernel.sched.clock.advance(GPUSVM_COPY_NS_PER_PAGE * pages);
  await condResched(svm.kernel, `${svm.name} DMA copy ${what}`);
}

/** Locked system pages for every collected slot, the data copied from the device pages. */
function populateRam(k: Kernel, src: Float64Array, dst: Float64Array, npages: number): number {
  const pm = k.pm;
  let copied = 0;
  for (let i = 0; i < npages; i++) {
    const w = src[i]!;
    const spage = migratePfnToPage(w);
    if (spage === 0 || !mpfnHas(w, MIGRATE_PFN_MIGRATE)) continue;
    const npage = pm.allocPages(0);
    if (npage === 0) continue; // no system page: this slot stays in VRAM
    pm.flags[npage]! |= PG_locked;
    pm.copyPage(npage, spage);
    dst[i] = migratePfn(npage);
    copied++;
  }
  return copied;
}

/** What {@link gpusvmMigrateToVram} returns: 0 or -errno, and the allocation filled. */
export interface ToVramResult {
  readonly ret: number;
  readonly allocation: GpuSvmAllocation | null;
}

/**
 * `drm_pagemap_migrate_to_devmem` for `range`: 0 when the range's pages were handed to
 * migrate_vma_pages (some may still not have moved), -ENOMEM without a VRAM block, -EBUSY when not
 * every page could be collected, -EFAULT when none could, -ENOENT/-EINVAL when the VMA no longer
 * covers the range.
 */
export async function gpusvmMigrateToVram(svm: GpuSvm, range: GpuSvmRange): Promise<ToVramResult> {
  const vram = svm.vram!;
  const mm = svm.mm;
  const k = svm.kernel;
  const fail = (ret: number): ToVramResult => ({ ret, allocation: null });
  if (!mmgetNotZero(mm)) return fail(-EFAULT);
  await mmapReadLock(mm);
  try {
    const vma = mm.vmaLookup(range.start);
    if (vma === null || range.start < vma.start) return fail(-ENOENT);
    if (range.end > vma.end) return fail(-EINVAL);
    const npages = range.npages;
    const allocation = vram.alloc(npages);
    if (allocation === null) return fail(-ENOMEM);
    allocation.va = range.start;
    const pfns = Array.from({ length: npages }, (_, i) => allocation.pfnFirst + i);
    const args: MigrateVma = {
      vma,
      start: range.start,
      end: range.end,
      src: new Float64Array(npages),
      dst: new Float64Array(npages),
      cpages: 0,
      npages: 0,
      pgmapOwner: svm,
      flags: MIGRATE_VMA_SELECT_SYSTEM,
      faultPage: 0,
    };
    const ret = await migrateVmaSetup(args);
    if (ret !== 0 || args.cpages === 0) {
      vram.putUnused(pfns);
      return fail(ret !== 0 ? ret : -EFAULT);
    }
    if (args.cpages !== npages) {
      // Not every page could be collected (pinned, locked, a device page already): move none.
      vram.putUnused(pfns);
      await migrateVmaPages(args);
      migrateVmaFinalize(args);
      return fail(-EBUSY);
    }
    const pm = k.pm;
    for (let i = 0; i < npages; i++) {
      const w = args.src[i]!;
      if (!mpfnHas(w, MIGRATE_PFN_MIGRATE)) continue;
      const spage = migratePfnToPage(w);
      // No source page: a hole (or the zero page) becomes a zeroed VRAM page.
      if (spage !== 0) pm.copyPage(pfns[i]!, spage);
      else pm.clearPage(pfns[i]!);
      args.dst[i] = migratePfn(pfns[i]!);
    }
    // Slots not migrating keep their destination unset: give those pages back.
    vram.putUnused(pfns.filter((_, i) => args.dst[i] === 0));
    await dmaCopy(svm, npages, 'to VRAM');
    await migrateVmaPages(args);
    migrateVmaFinalize(args);
    return { ret: 0, allocation };
  } finally {
    mmapReadUnlock(mm);
    await mmput(mm);
  }
}

/**
 * The pagemap's `migrate_to_ram` (`drm_pagemap_migrate_to_ram`): the CPU touched VRAM page
 * `vmf.page` (locked and referenced by the fault path, mmap lock held for reading). Migrates the
 * allocation-sized aligned region around the address, clipped to the VMA, selecting this GPU's
 * device pages; only the faulting page is sure to move. 0, or VM_FAULT_SIGBUS/OOM.
 */
export async function gpusvmMigrateToRam(svm: GpuSvm, vmf: VmFault): Promise<number> {
  if (svm.mistake === 'driver lock in migrate_to_ram') {
    // The mistake: a driver lock to "seal" races with the GPU side. The invalidation this
    // migration sends takes the notifier lock for writing: the thread waits for itself.
    await svm.notifierLock.downRead();
    try {
      return await migrateToRam(svm, vmf);
    } finally {
      svm.notifierLock.upRead();
    }
  }
  return migrateToRam(svm, vmf);
}

async function migrateToRam(svm: GpuSvm, vmf: VmFault): Promise<number> {
  const k = svm.kernel;
  const size = (svm.vram!.allocationOf(vmf.page)?.npages ?? 1) * PAGE_SIZE;
  const start = Math.max(Math.floor(vmf.address / size) * size, vmf.vma.start);
  const end = Math.min(Math.floor(vmf.address / size) * size + size, vmf.vma.end);
  const npages = (end - start) / PAGE_SIZE;
  const args: MigrateVma = {
    vma: vmf.vma,
    start,
    end,
    src: new Float64Array(npages),
    dst: new Float64Array(npages),
    cpages: 0,
    npages: 0,
    pgmapOwner: svm,
    flags: MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
    faultPage: vmf.page,
  };
  if ((await migrateVmaSetup(args)) !== 0) return VM_FAULT_SIGBUS;
  if (args.cpages === 0) return 0; // another thread moved it already
  const copied = populateRam(k, args.src, args.dst, args.npages);
  const faultSlot = (vmf.address - start) / PAGE_SIZE;
  const ret = args.dst[Math.floor(faultSlot)] === 0 ? VM_FAULT_OOM : 0;
  await dmaCopy(svm, copied, 'to RAM');
  await migrateVmaPages(args);
  migrateVmaFinalize(args);
  return ret;
}

/**
 * `drm_pagemap_evict_to_ram`: moves every page of `allocation` still in use back to system
 * memory, from its pfns alone, passing again (pages locked by a concurrent fault are skipped by
 * the core) until it is detached. 0, or -EBUSY when pages are left after the last pass.
 */
export async function gpusvmEvict(svm: GpuSvm, allocation: GpuSvmAllocation): Promise<number> {
  if (svm.mistake === 'evict by virtual address') return evictByVirtualAddress(svm, allocation);
  const k = svm.kernel;
  const n = allocation.npages;
  for (let pass = 0; pass < GPUSVM_EVICT_TRIES && !allocation.detached; pass++) {
    if (pass > 0) await condResched(k, `${svm.name} eviction retry`);
    const src = new Float64Array(n);
    const dst = new Float64Array(n);
    await migrateDeviceRange(k, src, allocation.pfnFirst, n);
    const copied = populateRam(k, src, dst, n);
    await dmaCopy(svm, copied, 'to RAM (eviction)');
    await migrateDevicePages(k, src, dst, n);
    migrateDeviceFinalize(k, src, dst, n);
  }
  return allocation.detached ? 0 : -EBUSY;
}

/**
 * The 'evict by virtual address' mistake: the eviction follows a physical-to-virtual
 * back-pointer (the address the allocation was migrated to) and migrates through the mm. Once
 * the core moved the mapping (mremap), the address holds nothing of the allocation, and the
 * VRAM is never given back.
 */
async function evictByVirtualAddress(svm: GpuSvm, allocation: GpuSvmAllocation): Promise<number> {
  const mm = svm.mm;
  if (!mmgetNotZero(mm)) return -EFAULT;
  await mmapReadLock(mm);
  try {
    const vma = mm.vmaLookup(allocation.va);
    if (vma === null || allocation.va < vma.start) return -ENOENT;
    const end = Math.min(allocation.va + allocation.npages * PAGE_SIZE, vma.end);
    const npages = (end - allocation.va) / PAGE_SIZE;
    const args: MigrateVma = {
      vma,
      start: allocation.va,
      end,
      src: new Float64Array(npages),
      dst: new Float64Array(npages),
      cpages: 0,
      npages: 0,
      pgmapOwner: svm,
      flags: MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
      faultPage: 0,
    };
    if ((await migrateVmaSetup(args)) !== 0) return -EINVAL;
    if (args.cpages > 0) {
      const copied = populateRam(svm.kernel, args.src, args.dst, args.npages);
      await dmaCopy(svm, copied, 'to RAM (eviction)');
      await migrateVmaPages(args);
      migrateVmaFinalize(args);
    }
    return allocation.detached ? 0 : -EBUSY;
  } finally {
    mmapReadUnlock(mm);
    await mmput(mm);
  }
}
