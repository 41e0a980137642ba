/**
 * MIGRATE_TO_SYS (`dmirror_migrate_to_system` and `dmirror_successful_migrated_pages` in
 * lib/test_hmm.c): the device's own pages of a range go back to system memory on the driver's
 * initiative (the only way back for device-coherent pages, which the CPU never faults on).
 * @module
 */
import {
  MIGRATE_VMA_SELECT_COMPOUND,
  type MigrateVma,
  migrateVmaFinalize,
  migrateVmaPages,
  migrateVmaSetup,
} from '../../devmem/migrate-device.ts';
import { MIGRATE_PFN_MIGRATE, MIGRATE_PFN_VALID, mpfnHas } from '../../devmem/migrate-pfn.ts';
import { PAGE_SIZE, VM_READ } from '../../mm/constants.ts';
import { mmgetNotZero, mmput } from '../../mm/exit.ts';
import { mmapReadLock, mmapReadUnlock } from '../../mm/mmap-lock.ts';
import { EINVAL, ENOMEM } from '../../sim/errno.ts';
import type { HmmDmirrorCmd } from './cmd.ts';
import { dmirrorSelectDevice } from './devmem-alloc.ts';
import { dmirrorDevmemFaultAllocAndCopy } from './devmem-fault.ts';
import type { DmirrorFile } from './file.ts';
import { dmirrorMigrateBatch } from './migrate-to-device.ts';

/**
 * `dmirror_successful_migrated_pages`: source slots that carry a page and still migrate after
 * migrate_vma_pages. A device folio that moved whole is one slot, so it counts once.
 */
export function dmirrorSuccessfulMigratedPages(migrate: MigrateVma): number {
  let cpages = 0;
  for (let i = 0; i < migrate.npages; i++) {
    const w = migrate.src[i]!;
    if (mpfnHas(w, MIGRATE_PFN_VALID) && mpfnHas(w, MIGRATE_PFN_MIGRATE)) cpages++;
  }
  return cpages;
}

/**
 * `dmirror_migrate_to_system`: brings the device's pages of `cmd.npages` pages at `cmd.addr`
 * back, in batches of 512 pages clipped to each VMA (-EINVAL at an address without a readable
 * VMA), selecting this device's memory type with compound folios. -ENOMEM when a system page
 * cannot be had. `cmd.cpages` accumulates the slots brought back; there is no read-back.
 */
export async function dmirrorMigrateToSystem(dmirror: DmirrorFile, cmd: HmmDmirrorCmd): Promise<number> {
  const start = cmd.addr;
  const end = start + cmd.npages * PAGE_SIZE;
  const mm = dmirror.notifier.mm!;
  if (!mmgetNotZero(mm)) return -EINVAL;
  const batch = dmirrorMigrateBatch(dmirror.mdevice.kernel);
  const src = new Float64Array(batch);
  const dst = new Float64Array(batch);
  cmd.cpages = 0;
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
          dmirrorSelectDevice(dmirror.mdevice) |
          (mm.kernel.kernelVersion === '6.12' ? 0 : MIGRATE_VMA_SELECT_COMPOUND),
        faultPage: 0,
      };
      ret = await migrateVmaSetup(args);
      if (ret !== 0) break;
      if (dmirrorDevmemFaultAllocAndCopy(args, dmirror, dmirror.mdevice) !== 0) {
        migrateVmaFinalize(args);
        ret = -ENOMEM;
        break;
      }
      await migrateVmaPages(args);
      cmd.cpages += dmirrorSuccessfulMigratedPages(args);
      migrateVmaFinalize(args);
    }
  } finally {
    mmapReadUnlock(mm);
    await mmput(mm);
  }
  return ret;
}
