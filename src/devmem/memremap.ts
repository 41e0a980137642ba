/**
 * ZONE_DEVICE memory (mm/memremap.c, include/linux/memremap.h): `memremapPages` gives a range of
 * device memory struct pages (pfns above RAM), described by a {@link DevPagemap}. The modern page
 * lifecycle: a free device page has refcount 0; the driver's allocator calls
 * {@link zoneDevicePageInit} (refcount 1, locked, a pgmap reference); when the last reference
 * goes the core clears the page and calls the pagemap's `folioFree`/`pageFree`.
 * @module
 */
import type { DevPagemapHooks, Kernel } from '../mm/kernel.ts';
import { PG_allocated, PG_head, PG_locked, PG_zone_device } from '../mm/page-flags.ts';
import type { Vma } from '../mm/vma.ts';
import { EINVAL } from '../sim/errno.ts';
import { UsageError } from '../sim/errors.ts';
import { migrateDeviceCoherentFolio } from './coherent.ts';

/** Device memory the CPU cannot address: mapped only through device-private entries. */
export const MEMORY_DEVICE_PRIVATE = 1;
/** Cache-coherent device memory the CPU maps like normal memory (CXL, CAPI). */
export const MEMORY_DEVICE_COHERENT = 2;

/** `struct vm_fault` as `migrate_to_ram` receives it. */
export interface VmFault {
  /** The VMA of the faulting access. */
  vma: Vma;
  /** The faulting address. */
  address: number;
  /** The device-private page (locked and referenced by the fault path). */
  page: number;
  /** Whether the access was a write. */
  write: boolean;
}

/** `struct dev_pagemap_ops`. */
export interface DevPagemapOps {
  /** The last reference to a device page (order 0) went away: return it to the driver's pool. */
  pageFree?(pgmap: DevPagemap, pfn: number): void;
  /** Same for a folio of `order` (takes precedence over `pageFree`). */
  folioFree?(pgmap: DevPagemap, head: number, order: number): void;
  /** A CPU access hit a device-private page: migrate (at least) it back; 0 or VM_FAULT_*. */
  migrateToRam?(vmf: VmFault): Promise<number>;
  /** The core split the device folio headed by `head` into small pages (the driver follows). */
  folioSplit?(pgmap: DevPagemap, head: number): void;
}

/** `struct dev_pagemap`: one range of device memory. */
export class DevPagemap {
  /** MEMORY_DEVICE_PRIVATE or MEMORY_DEVICE_COHERENT. */
  readonly type: number;
  /** Owner cookie: compared with `devPrivateOwner` and `pgmapOwner`. */
  readonly owner: unknown;
  /** Callbacks. */
  readonly ops: DevPagemapOps;
  /** Pages in the range. */
  readonly nrPages: number;
  /** First pfn (set by memremapPages). */
  pfnFirst = 0;
  /** References held by pages in use (`pgmap->ref`), one per page. */
  refs = 0;
  /** True once memunmapPages ran. */
  dead = false;

  /** @param type memory type; @param owner owner cookie; @param ops callbacks; @param nrPages size in pages */
  constructor(type: number, owner: unknown, ops: DevPagemapOps, nrPages: number) {
    this.type = type;
    this.owner = owner;
    this.ops = ops;
    this.nrPages = nrPages;
  }
}

/**
 * `memremap_pages`: creates the struct pages of `pgmap` above everything present and returns
 * the first pfn, or -EINVAL (unknown type, missing owner or required ops, bad size).
 */
export function memremapPages(k: Kernel, pgmap: DevPagemap): number {
  if (!(pgmap instanceof DevPagemap)) throw new UsageError('memremapPages(pgmap)', 'must be a DevPagemap');
  if (pgmap.type !== MEMORY_DEVICE_PRIVATE && pgmap.type !== MEMORY_DEVICE_COHERENT) return -EINVAL;
  if (pgmap.owner === null || pgmap.owner === undefined) return -EINVAL;
  if (pgmap.ops.pageFree === undefined && pgmap.ops.folioFree === undefined) return -EINVAL;
  if (pgmap.type === MEMORY_DEVICE_PRIVATE && pgmap.ops.migrateToRam === undefined) return -EINVAL;
  if (!Number.isInteger(pgmap.nrPages) || pgmap.nrPages <= 0) return -EINVAL;
  const first = k.pm.addFrames(pgmap.nrPages);
  pgmap.pfnFirst = first;
  k.pm.flags.fill(PG_zone_device, first, first + pgmap.nrPages);
  const hooks: DevPagemapHooks = {
    pfnFirst: first,
    nrPages: pgmap.nrPages,
    isPrivate: pgmap.type === MEMORY_DEVICE_PRIVATE,
    owner: pgmap.owner,
    pageFree: (pfn) => freeZoneDeviceFolio(k, pgmap, pfn),
    migrateToRam: (vmf) => pgmap.ops.migrateToRam!(vmf),
    folioSplit: (head) => pgmap.ops.folioSplit?.(pgmap, head),
  };
  k.devPagemaps.push(hooks);
  if (pgmap.type === MEMORY_DEVICE_COHERENT && k.coherentMigrator === null) {
    k.coherentMigrator = (_mm, _addr, pfn) => migrateDeviceCoherentFolio(k, pfn);
  }
  return first;
}

/** `memunmap_pages`: the range goes away; every page must be free. */
export function memunmapPages(k: Kernel, pgmap: DevPagemap): void {
  if (pgmap.refs !== 0) throw new UsageError('memunmapPages', `${pgmap.refs} device pages are still in use`);
  const i = k.devPagemaps.findIndex((h) => h.pfnFirst === pgmap.pfnFirst);
  if (i >= 0) k.devPagemaps.splice(i, 1);
  pgmap.dead = true;
}

/** The DevPagemap hooks registered for `pfn`, or null when it is not device memory. */
export function pagePgmapOwner(k: Kernel, pfn: number): unknown {
  return k.pgmapOf(pfn)?.owner ?? null;
}

/** `is_device_private_page`. */
export function isDevicePrivatePage(k: Kernel, pfn: number): boolean {
  return k.pgmapOf(pfn)?.isPrivate === true;
}

/** `is_device_coherent_page`. */
export function isDeviceCoherentPage(k: Kernel, pfn: number): boolean {
  const p = k.pgmapOf(pfn);
  return p !== null && !p.isPrivate;
}

/**
 * `zone_device_page_init` / `zone_device_folio_init`: a driver hands out a free device page (or a
 * 2 MiB folio with `order` 9): refcount 1, locked, one pgmap reference.
 */
export function zoneDevicePageInit(k: Kernel, pgmap: DevPagemap, pfn: number, order = 0): void {
  const pm = k.pm;
  if (pm.refcount[pfn] !== 0)
    throw new UsageError('zoneDevicePageInit', `device pfn ${pfn} is in use (refcount ${pm.refcount[pfn]})`);
  const n = 1 << order;
  for (let i = 0; i < n; i++) {
    pm.flags[pfn + i] = PG_zone_device | PG_allocated;
    pm.order[pfn + i] = order;
  }
  if (order > 0) pm.flags[pfn]! |= PG_head;
  pm.flags[pfn]! |= PG_locked;
  pm.refcount[pfn] = 1;
  // One pgmap reference per page (percpu_ref_tryget_many(…, 1 << order)): a folio split later
  // frees its pieces one by one, each dropping its own pages' references.
  pgmap.refs += n;
}

/** free_zone_device_folio: clears the folio and gives it back to its driver. */
function freeZoneDeviceFolio(k: Kernel, pgmap: DevPagemap, head: number): void {
  const pm = k.pm;
  const order = pm.order[head]!;
  const n = 1 << order;
  for (let i = 0; i < n; i++) {
    pm.flags[head + i] = PG_zone_device;
    pm.mapping[head + i] = 0;
    pm.index[head + i] = 0;
    pm.mapcount[head + i] = 0;
    pm.entireMapcount[head + i] = 0;
  }
  pgmap.refs -= n;
  if (pgmap.ops.folioFree) pgmap.ops.folioFree(pgmap, head, order);
  else pgmap.ops.pageFree!(pgmap, head);
}
