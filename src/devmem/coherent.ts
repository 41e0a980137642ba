/**
 * `migrate_device_coherent_folio` (mm/migrate_device.c): moves one device-coherent page back to
 * system memory, for long-term pins (device-coherent memory must never be pinned long).
 * @module
 */
import type { Kernel } from '../mm/kernel.ts';
import { PG_locked } from '../mm/page-flags.ts';
import { lockPage } from '../mm/page-lock.ts';
import { EBUSY } from '../sim/errno.ts';
import { migrateDeviceFinalize, migrateDevicePages, migrateDeviceUnmapOnly } from './migrate-device.ts';
import { MIGRATE_PFN_MIGRATE, migratePfn, mpfnHas } from './migrate-pfn.ts';

/** 0 once the device-coherent page `pfn` has been replaced by a system page everywhere, or -EBUSY. */
export async function migrateDeviceCoherentFolio(k: Kernel, pfn: number): Promise<number> {
  const pm = k.pm;
  k.getPage(pfn); // the caller's reference, consumed by finalize
  await lockPage(k, pfn);
  const src = new Float64Array([migratePfn(pfn) + MIGRATE_PFN_MIGRATE]);
  const dst = new Float64Array(1);
  await migrateDeviceUnmapOnly(k, src, 1);
  if (!mpfnHas(src[0]!, MIGRATE_PFN_MIGRATE)) return -EBUSY;
  const page = pm.allocPages(0);
  if (page !== 0) {
    pm.flags[page]! |= PG_locked;
    dst[0] = migratePfn(page);
  }
  await migrateDevicePages(k, src, dst, 1);
  if (mpfnHas(src[0]!, MIGRATE_PFN_MIGRATE)) pm.copyPage(page, pfn);
  migrateDeviceFinalize(k, src, dst, 1);
  return mpfnHas(src[0]!, MIGRATE_PFN_MIGRATE) ? 0 : -EBUSY;
}
