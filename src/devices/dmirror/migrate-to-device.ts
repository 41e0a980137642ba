/**
 * MIGRATE_TO_DEV (`dmirror_migrate_to_device`, `dmirror_migrate_alloc_and_copy` and
 * `dmirror_migrate_finalize_and_map` in lib/test_hmm.c): system memory of a range moves to the
 * device, batch by batch within each VMA, whole 2 MiB folios (and empty 2 MiB holes) as device
 * folios; the device maps what moved, and the command reads the range back through its page
 * table.
 * @module
 */
import {
  MIGRATE_VMA_SELECT_COMPOUND,
  MIGRATE_VMA_SELECT_SYSTEM,
  type MigrateVma,
  migrateVmaFinalize,
  migrateVmaPages,
  migrateVmaSetup,
} from '../../devmem/migrate-device.ts';
import {
  MIGRATE_PFN_COMPOUND,
  MIGRATE_PFN_MIGRATE,
  MIGRATE_PFN_SHIFT,
  MIGRATE_PFN_WRITE,
  migratePfn,
  migratePfnToPage,
  mpfnHas,
} from '../../devmem/migrate-pfn.ts';
import { HPAGE_PMD_NR, PAGE_SIZE, PTRS_PER_TABLE, VM_READ, VM_WRITE } from '../../mm/constants.ts';
import { ContentSnapshot } from '../../mm/content-snapshot.ts';
import { mmgetNotZero, mmput } from '../../mm/exit.ts';
import type { Kernel } from '../../mm/kernel.ts';
import { mmapReadLock, mmapReadUnlock } from '../../mm/mmap-lock.ts';
import { PG_zone_device } from '../../mm/page-flags.ts';
import { EINVAL, ENOMEM } from '../../sim/errno.ts';
import type { HmmDmirrorCmd } from './cmd.ts';
import { dmirrorCharge } from './cost.ts';
import type { DmirrorDevice } from './device.ts';
import { dmirrorBackingPage, dmirrorDevmemAllocPage, dmirrorSetBackingOwner } from './devmem-alloc.ts';
import type { DmirrorFile } from './file.ts';
import { DPT_XA_TAG_READ, DPT_XA_TAG_WRITE, xaTagPointer } from './pt.ts';
import { dmirrorBounceInit, dmirrorDoRead, dmirrorDoReadSnapshot } from './read-write.ts';
import { HMM_DMIRROR_FLAG_FAIL_ALLOC } from './uapi.ts';

/** `PTRS_PER_PTE`: pages per migration batch (one page table's worth). */
export const DMIRROR_MIGRATE_BATCH = PTRS_PER_TABLE;

/** Read-backs of this size or more are copied at once (one buffer of 2 GiB or more may not be had). */
const LAZY_DATA_LIMIT = 2 ** 31;

/**
 * The migration window of the machine's kernel version: {@link DMIRROR_MIGRATE_BATCH} in mainline
 * (the device-private THP series), 64 pages (`src_pfns[64]`) in 6.12.
 */
export function dmirrorMigrateBatch(k: Kernel): number {
  return k.kernelVersion === '6.12' ? 64 : DMIRROR_MIGRATE_BATCH;
}

/** copy_highpage from system page `spage` (0: clear_highpage) into `dst`, charged to the clock. */
function copyOrClear(mdevice: DmirrorDevice, dst: number, spage: number): void {
  const pm = mdevice.kernel.pm;
  if (spage !== 0) pm.copyPage(dst, spage);
  else pm.clearPage(dst);
  dmirrorCharge(mdevice, 1, 0);
}

/**
 * `dmirror_migrate_alloc_and_copy`: a device destination for every slot still migrating — a
 * device folio for a compound slot (a whole THP, or an empty 2 MiB hole), a device page otherwise
 * — with the data copied into its backing store (zeros where there is no source page), the
 * backing page recording `dmirror`, and MIGRATE_PFN_WRITE kept from the source. FAIL_ALLOC
 * (one-shot) makes the next allocation fail: a compound slot then gets 512 single device pages
 * (so migrate_vma_pages splits the source), a single slot stays where it is.
 */
export async function dmirrorMigrateAllocAndCopy(args: MigrateVma, dmirror: DmirrorFile): Promise<void> {
  const k = dmirror.mdevice.kernel;
  const src = args.src;
  const dst = args.dst;
  // Slots, not addresses, are counted: a double loop variable of this async function would be
  // boxed on every iteration.
  const n = (args.end - args.start) / PAGE_SIZE;
  for (let i = 0; i < n; ) {
    const w = src[i]!;
    const isLarge = mpfnHas(w, MIGRATE_PFN_COMPOUND);
    if (!mpfnHas(w, MIGRATE_PFN_MIGRATE)) {
      i++;
      continue;
    }
    // No source page: an unpopulated PTE or the zero page, to be zero-filled.
    const spage = migratePfnToPage(w);
    // 6.12's driver also maps a zero-filled page writable when the VMA is (`!spage && VM_WRITE`);
    // the newer one keeps only the source's MIGRATE_PFN_WRITE.
    const write =
      mpfnHas(w, MIGRATE_PFN_WRITE) ||
      (k.kernelVersion === '6.12' && spage === 0 && (args.vma.flags & VM_WRITE) !== 0)
        ? MIGRATE_PFN_WRITE
        : 0;
    if (spage !== 0 && (k.pm.flags[spage]! & PG_zone_device) !== 0) {
      // WARN: "page already in device"; system selection never collects one.
      i++;
      continue;
    }
    let dpage: number;
    if ((dmirror.flags & HMM_DMIRROR_FLAG_FAIL_ALLOC) !== 0) {
      dmirror.flags &= ~HMM_DMIRROR_FLAG_FAIL_ALLOC;
      dpage = 0;
    } else {
      const d = dmirrorDevmemAllocPage(dmirror, isLarge);
      dpage = typeof d === 'number' ? d : await d;
      dmirrorCharge(dmirror.mdevice, 0, 1);
    }
    if (dpage === 0) {
      if (!isLarge) {
        i++;
        continue;
      }
      // The THP (or hole) goes to single device pages, one per base page.
      const nr = spage === 0 ? HPAGE_PMD_NR : k.pm.folioNrPages(spage);
      const spfn = Math.floor(w / 2 ** MIGRATE_PFN_SHIFT);
      for (let j = 0; j < nr && i < n; j++) {
        const a = dmirrorDevmemAllocPage(dmirror, false);
        const d = typeof a === 'number' ? a : await a;
        dmirrorCharge(dmirror.mdevice, 0, 1);
        // The kernel does not expect this to fail; the page then simply stays behind.
        if (d !== 0) {
          const rpage = dmirrorBackingPage(k, d);
          dmirrorSetBackingOwner(dmirror, rpage);
          dst[i] = migratePfn(d) + write;
          copyOrClear(dmirror.mdevice, rpage, spage !== 0 ? spfn + j : 0);
        }
        i++;
      }
      continue;
    }
    const rpage = dmirrorBackingPage(k, dpage);
    // The backing page, not the device page, points at the mirror: the device page's own
    // pointer is taken by the backing page.
    dmirrorSetBackingOwner(dmirror, rpage);
    dst[i] = migratePfn(dpage) + write;
    if (isLarge) {
      dst[i] = dst[i]! + MIGRATE_PFN_COMPOUND;
      const nr = k.pm.folioNrPages(dpage);
      for (let j = 0; j < nr; j++) {
        copyOrClear(dmirror.mdevice, rpage + j, spage !== 0 ? spage + j : 0);
        i++;
      }
      continue;
    }
    copyOrClear(dmirror.mdevice, rpage, spage);
    i++;
  }
}

/**
 * `dmirror_migrate_finalize_and_map`: after migrate_vma_pages, every slot that migrated is mapped
 * in the device page table — one entry per base page, pointing at the page holding the data
 * (backing page, or the coherent device page), writable when the destination was marked so.
 * Called before migrate_vma_finalize, under the file's mutex.
 */
export async function dmirrorMigrateFinalizeAndMap(args: MigrateVma, dmirror: DmirrorFile): Promise<number> {
  const k = dmirror.mdevice.kernel;
  const src = args.src;
  const dst = args.dst;
  const startPfn = args.start / PAGE_SIZE;
  const n = (args.end - args.start) / PAGE_SIZE;
  await dmirror.mutex.lock();
  try {
    // Counted by slot: a page-number loop variable (a double) would be boxed on every iteration
    // of this async function's loop.
    for (let i = 0; i < n; i++) {
      if (!mpfnHas(src[i]!, MIGRATE_PFN_MIGRATE)) continue;
      const pfn = startPfn + i;
      const dpage = migratePfnToPage(dst[i]!);
      if (dpage === 0) continue;
      const nr = mpfnHas(dst[i]!, MIGRATE_PFN_COMPOUND) ? k.pm.folioNrPages(dpage) : 1;
      const rpage = dmirrorBackingPage(k, dpage);
      const rhead = k.pm.folioHead(rpage);
      const tag = mpfnHas(dst[i]!, MIGRATE_PFN_WRITE) ? DPT_XA_TAG_WRITE : DPT_XA_TAG_READ;
      for (let j = 0; j < nr; j++) dmirror.pt.set(pfn + j, xaTagPointer(rhead + j, tag));
    }
    const o = k.observer;
    if (o?.mirrorUpdate) o.mirrorUpdate(dmirror);
  } finally {
    dmirror.mutex.unlock();
  }
  return 0;
}

/**
 * `dmirror_migrate_to_device`: migrates `cmd.npages` pages at `cmd.addr` to the device, in
 * batches of 512 pages clipped to each VMA (-EINVAL at an address without a VMA or with an
 * unreadable one; earlier batches stay migrated and nothing is read back). Then the whole range
 * is read back through the device page table without faulting: -ENOENT when a page has no
 * entry (it did not move, or moved to another device), else `cmd.ptr` holds the data and
 * `cmd.cpages` the pages read. -EINVAL when the mirrored mm has gone.
 */
export async function dmirrorMigrateToDevice(dmirror: DmirrorFile, cmd: HmmDmirrorCmd): Promise<number> {
  const start = cmd.addr;
  const size = cmd.npages * PAGE_SIZE;
  const end = start + size;
  const mm = dmirror.notifier.mm!;
  // The mm is the mirrored process's: hold it alive while migrating.
  if (!mmgetNotZero(mm)) return -EINVAL;
  const batch = dmirrorMigrateBatch(dmirror.mdevice.kernel);
  const src = new Float64Array(batch);
  const dst = new Float64Array(batch);
  let ret = 0;
  await mmapReadLock(mm);
  try {
    for (let addr = start, next = start; addr < end; addr = next) {
      const vma = mm.vmaLookup(addr);
      if (vma === null || (vma.flags & VM_READ) === 0) {
        ret = -EINVAL;
        break;
      }
      next = Math.min(end, addr + batch * PAGE_SIZE);
      if (next > vma.end) next = vma.end;
      const args: MigrateVma = {
        vma,
        start: addr,
        end: next,
        src,
        dst,
        cpages: 0,
        npages: 0,
        pgmapOwner: dmirror.mdevice,
        // 6.12's driver migrates base pages only (no MIGRATE_VMA_SELECT_COMPOUND).
        flags:
          MIGRATE_VMA_SELECT_SYSTEM | (mm.kernel.kernelVersion === '6.12' ? 0 : MIGRATE_VMA_SELECT_COMPOUND),
        faultPage: 0,
      };
      ret = await migrateVmaSetup(args);
      if (ret !== 0) break;
      await dmirrorMigrateAllocAndCopy(args, dmirror);
      await migrateVmaPages(args);
      await dmirrorMigrateFinalizeAndMap(args, dmirror);
      migrateVmaFinalize(args);
    }
  } finally {
    mmapReadUnlock(mm);
    await mmput(mm);
  }
  if (ret !== 0) return ret;

  // Return the migrated data for verification. Without an observer of device accesses the
  // bytes are kept as a snapshot and built when the caller reads them (see content-snapshot.ts);
  // a range too large for one buffer takes the eager path, which fails with -ENOMEM as before.
  if (mm.kernel.observer?.deviceAccess === undefined && size < LAZY_DATA_LIMIT) {
    const snapshot = new ContentSnapshot(cmd.npages);
    await dmirror.mutex.lock();
    ret = dmirrorDoReadSnapshot(dmirror, start, end, snapshot, cmd);
    dmirror.mutex.unlock();
    if (ret === 0) cmd.contents = snapshot;
    return ret;
  }
  const bounce = dmirrorBounceInit(start, size);
  if (bounce === null) return -ENOMEM;
  await dmirror.mutex.lock();
  ret = dmirrorDoRead(dmirror, start, end, bounce);
  dmirror.mutex.unlock();
  if (ret === 0) cmd.ptr = bounce.ptr;
  cmd.cpages = bounce.cpages;
  return ret;
}
