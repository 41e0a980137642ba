/**
 * The dmirror device-memory allocator (`dmirror_devmem_alloc_page`, `dmirror_devmem_free` and
 * `BACKING_PAGE` in lib/test_hmm.c): device pages and 2 MiB device folios come off the device's
 * free lists (a new chunk when a list is empty). A device-private page cannot hold data, so each
 * one gets a system page (or a 2 MiB system folio) that stores its contents, recorded in the
 * device page's `zone_device_data` (`pm.private`); a device-coherent page holds its own data.
 * The backing page in turn records which open file migrated the page (for `migrate_to_ram`).
 * @module
 */
import { MEMORY_DEVICE_PRIVATE, zoneDevicePageInit } from '../../devmem/memremap.ts';
import {
  MIGRATE_VMA_SELECT_DEVICE_COHERENT,
  MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
} from '../../devmem/migrate-device.ts';
import { HPAGE_PMD_ORDER } from '../../mm/constants.ts';
import type { Kernel } from '../../mm/kernel.ts';
import { type DmirrorChunk, dmirrorAllocateChunk, dmirrorPageToChunk } from './chunk.ts';
import type { DmirrorDevice } from './device.ts';
import type { DmirrorFile } from './file.ts';
import { HMM_DMIRROR_MEMORY_DEVICE_PRIVATE } from './uapi.ts';

/** `dmirror_is_private_zone`: the device's memory is device-private (minors 0 and 1). */
export function dmirrorIsPrivateZone(mdevice: DmirrorDevice): boolean {
  return mdevice.zoneDeviceType === HMM_DMIRROR_MEMORY_DEVICE_PRIVATE;
}

/**
 * `dmirror_select_device`: the MIGRATE_VMA_SELECT_* flag selecting the device's own pages (the
 * kernel passes the open file and looks at its device; the device is what matters).
 */
export function dmirrorSelectDevice(mdevice: DmirrorDevice): number {
  return dmirrorIsPrivateZone(mdevice)
    ? MIGRATE_VMA_SELECT_DEVICE_PRIVATE
    : MIGRATE_VMA_SELECT_DEVICE_COHERENT;
}

/**
 * `BACKING_PAGE(page)`: the page holding the data of device page `pfn`: its backing system page
 * for a device-private page (the folio head's `zone_device_data` plus the page's offset in the
 * folio), the page itself for a device-coherent one.
 */
export function dmirrorBackingPage(k: Kernel, pfn: number): number {
  const pgmap = k.pgmapOf(pfn);
  if (pgmap === null || !pgmap.isPrivate) return pfn;
  const head = k.pm.folioHead(pfn);
  const rpage = k.pm.private[head]!;
  return rpage === 0 ? 0 : rpage + (pfn - head);
}

/**
 * The open file recorded in backing page `rpage` (`rpage->zone_device_data`): the one that
 * migrated the device page. Null when that file has since been released (the kernel would follow
 * a dangling pointer; the simulation falls back to the device).
 */
export function dmirrorOfBackingPage(mdevice: DmirrorDevice, rpage: number): DmirrorFile | null {
  return mdevice.mirrors.get(mdevice.kernel.pm.private[rpage]!) ?? null;
}

/** Records in backing page `rpage` that `dmirror` migrated its device page. */
export function dmirrorSetBackingOwner(dmirror: DmirrorFile, rpage: number): void {
  dmirror.mdevice.kernel.pm.private[rpage] = dmirror.id;
}

/**
 * `dmirror_devmem_alloc_page`: a device page (or, with `isLarge`, a 2 MiB device folio) for
 * `dmirror`'s device, initialised by `zone_device_folio_init` (refcount 1, locked). For a
 * device-private device the backing system page or folio is allocated first. Returns the device
 * pfn, or 0 when no system memory or no device memory can be had.
 */
export function dmirrorDevmemAllocPage(dmirror: DmirrorFile, isLarge: boolean): number | Promise<number> {
  const mdevice = dmirror.mdevice;
  const k = mdevice.kernel;
  const order = isLarge ? HPAGE_PMD_ORDER : 0;
  let rpage = 0;
  // A fake device: system memory stands in for the device memory of device-private pages.
  if (dmirrorIsPrivateZone(mdevice)) {
    rpage = k.pm.allocPages(order);
    if (rpage === 0) return 0;
  }
  let dpage: number;
  if (isLarge && mdevice.freeFolios !== 0) {
    dpage = mdevice.freeFolios;
    mdevice.freeFolios = k.pm.private[dpage]!;
    mdevice.calloc += 1 << order;
  } else if (!isLarge && mdevice.freePages !== 0) {
    dpage = mdevice.freePages;
    mdevice.freePages = k.pm.private[dpage]!;
    mdevice.calloc++;
  } else {
    // Only a new chunk waits (for devmem_lock): a page off a free list needs no promise.
    return dmirrorAllocateChunk(mdevice, isLarge, true).then((d) => {
      if (d <= 0) {
        if (rpage !== 0) k.putPage(rpage);
        return 0;
      }
      return dmirrorDevmemInitPage(dmirror, d, order, rpage);
    });
  }
  return dmirrorDevmemInitPage(dmirror, dpage, order, rpage);
}

/** The end of {@link dmirrorDevmemAllocPage}: device page `dpage` initialised, backed by `rpage`. */
function dmirrorDevmemInitPage(dmirror: DmirrorFile, dpage: number, order: number, rpage: number): number {
  const mdevice = dmirror.mdevice;
  const k = mdevice.kernel;
  const chunk = dmirrorPageToChunk(mdevice, dpage)!;
  zoneDevicePageInit(k, chunk, dpage, order);
  k.pm.private[dpage] = rpage;
  return dpage;
}

/**
 * `dmirror_devmem_free`, the pagemap's `folio_free`: the last reference to device folio `head`
 * went. Its backing pages are freed, and unless its chunk is being removed the page (or folio)
 * goes back on the matching free list. The order is the backing folio's, as the kernel takes it.
 */
export function dmirrorDevmemFree(chunk: DmirrorChunk, head: number): void {
  const mdevice = chunk.mdevice;
  const k = mdevice.kernel;
  const pm = k.pm;
  const rpage = chunk.type === MEMORY_DEVICE_PRIVATE ? pm.private[head]! : head;
  const order = rpage === 0 ? pm.order[head]! : pm.order[rpage]!;
  if (rpage !== head && rpage !== 0) k.putPage(rpage);
  if (!chunk.remove) {
    mdevice.cfree += 1 << order;
    if (order !== 0) {
      pm.private[head] = mdevice.freeFolios;
      mdevice.freeFolios = head;
    } else {
      pm.private[head] = mdevice.freePages;
      mdevice.freePages = head;
    }
  }
}
