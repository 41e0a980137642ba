/**
 * What a device migration moved, by direction, for `kernel.stats.migrate`: counted once per
 * finalize, over the slots `migrate_vma_pages` / `migrate_device_pages` left migrating.
 * @module
 */
import { HPAGE_PMD_NR } from '../mm/constants.ts';
import type { Kernel } from '../mm/kernel.ts';
import { MIGRATE_PFN_COMPOUND, MIGRATE_PFN_MIGRATE, migratePfnToPage } from './migrate-pfn.ts';

/**
 * Adds to `k.stats.migrate` the pages of `src`/`dst` that moved: a slot still marked
 * MIGRATE_PFN_MIGRATE with a destination page moved, from device memory when its source is a
 * ZONE_DEVICE page and its destination RAM, to device memory when its destination is a
 * ZONE_DEVICE page and its source RAM or an empty slot. Device-to-device moves count in neither.
 * Called before finalize drops the migration's references, so the frames are still what moved.
 */
export function countDeviceMigrations(k: Kernel, src: Float64Array, dst: Float64Array, npages: number): void {
  const ram = k.pm.ramFrames;
  const st = k.stats.migrate;
  for (let i = 0; i < npages; i++) {
    const s = src[i]!;
    if ((s & MIGRATE_PFN_MIGRATE) === 0) continue;
    const d = dst[i]!;
    const to = migratePfnToPage(d);
    if (to === 0) continue;
    const from = migratePfnToPage(s);
    const n = ((s | d) & MIGRATE_PFN_COMPOUND) !== 0 ? HPAGE_PMD_NR : 1;
    if (from >= ram && to < ram) st.fromDevice += n;
    else if (to >= ram && (from === 0 || from < ram)) st.toDevice += n;
  }
}
