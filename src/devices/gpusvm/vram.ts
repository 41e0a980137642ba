/**
 * The device memory (VRAM) of the gpusvm-style driver, as drm_pagemap and xe give it to
 * drm_gpusvm: device-private pages (`MEMORY_DEVICE_PRIVATE`, owned by the GPU's SVM) handed out
 * in **allocations** (`struct drm_pagemap_devmem`, xe's VRAM buffer object), one per range
 * migrated, each a contiguous block of pages.
 *
 * - An allocation may fail (no free block of the size): the caller falls back to system memory.
 * - Every page of an allocation records the allocation in its `zone_device_data` (`pm.private`)
 *   from allocation to free, and nothing else: no virtual address (no physical-to-virtual
 *   back-pointer; the core may move the mapping at any time with mremap).
 * - Pages are freed one by one by the core when their last reference goes (a CPU fault migrated
 *   them back, the process unmapped them, an eviction moved them); the block returns to the free
 *   pool only when the allocation's last page went (the buffer object is released then), so an
 *   eviction over an allocation's pfns never meets another allocation's pages.
 * @module
 */

import type { VmFault } from '../../devmem/memremap.ts';
import {
  DevPagemap,
  MEMORY_DEVICE_PRIVATE,
  memremapPages,
  zoneDevicePageInit,
} from '../../devmem/memremap.ts';
import type { Kernel } from '../../mm/kernel.ts';
import { unlockPage } from '../../mm/page-lock.ts';
import { UsageError } from '../../sim/errors.ts';

/** `struct drm_pagemap_devmem`: one block of VRAM backing (part of) one range. */
export class GpuSvmAllocation {
  /** Its id, stored in each page's zone_device_data. */
  readonly id: number;
  /** First device pfn. */
  readonly pfnFirst: number;
  /** Pages in the block. */
  readonly npages: number;
  /** Pages still in use (referenced); 0 = detached, the block is free again. */
  inUse: number;
  /**
   * The virtual address it was migrated to. Only the 'evict by virtual address' mistake reads
   * it: the principle is that nothing on the physical side knows a virtual address.
   */
  va = 0;

  constructor(id: number, pfnFirst: number, npages: number) {
    this.id = id;
    this.pfnFirst = pfnFirst;
    this.npages = npages;
    this.inUse = npages;
  }

  /** True once every page was freed. */
  get detached(): boolean {
    return this.inUse === 0;
  }
}

/** The GPU's VRAM: a device-private pagemap and its allocator. */
export class GpuSvmVram {
  /** The pagemap (owner: the GPU's SVM, the `dev_private_owner` of its hmm_range_fault calls). */
  readonly pgmap: DevPagemap;
  /** First device pfn. */
  readonly pfnFirst: number;
  /** Pages of VRAM. */
  readonly nrPages: number;
  /** Allocations not yet detached, by id. */
  readonly allocations = new Map<number, GpuSvmAllocation>();
  private readonly kernel: Kernel;
  /** Per page: 1 while its block belongs to an allocation. */
  private readonly taken: Uint8Array;
  private nextId = 1;

  /**
   * Creates `nrPages` of VRAM owned by `owner`; `migrateToRam` is the pagemap's `migrate_to_ram`.
   */
  constructor(
    kernel: Kernel,
    owner: object,
    nrPages: number,
    migrateToRam: (vmf: VmFault) => Promise<number>,
  ) {
    if (!Number.isSafeInteger(nrPages) || nrPages <= 0)
      throw new UsageError('GpuSvm(options.vramPages)', `must be a positive integer, got ${String(nrPages)}`);
    this.kernel = kernel;
    this.nrPages = nrPages;
    this.taken = new Uint8Array(nrPages);
    this.pgmap = new DevPagemap(
      MEMORY_DEVICE_PRIVATE,
      owner,
      { pageFree: (_pgmap, pfn) => this.pageFree(pfn), migrateToRam },
      nrPages,
    );
    const first = memremapPages(kernel, this.pgmap);
    if (first < 0) throw new UsageError('GpuSvm(options.vramPages)', `memremap_pages failed (${first})`);
    this.pfnFirst = first;
  }

  /** Pages not held by any allocation. */
  get freePages(): number {
    let n = 0;
    for (let i = 0; i < this.nrPages; i++) if (this.taken[i] === 0) n++;
    return n;
  }

  /** The allocation device page `pfn` belongs to (its zone_device_data), or null. */
  allocationOf(pfn: number): GpuSvmAllocation | null {
    if (pfn < this.pfnFirst || pfn >= this.pfnFirst + this.nrPages) return null;
    return this.allocations.get(this.kernel.pm.private[pfn]!) ?? null;
  }

  /**
   * A block of `npages` contiguous pages, first fit; each page initialised by
   * `zone_device_page_init` (referenced, locked) with the allocation in its zone_device_data.
   * Null when no block is free (the caller falls back to system memory).
   */
  alloc(npages: number): GpuSvmAllocation | null {
    for (let start = 0; start + npages <= this.nrPages; start++) {
      let free = true;
      for (let i = 0; i < npages; i++)
        if (this.taken[start + i] !== 0) {
          free = false;
          start += i; // the next candidate starts after the taken page
          break;
        }
      if (!free) continue;
      const a = new GpuSvmAllocation(this.nextId++, this.pfnFirst + start, npages);
      this.taken.fill(1, start, start + npages);
      this.allocations.set(a.id, a);
      for (let i = 0; i < npages; i++) {
        zoneDevicePageInit(this.kernel, this.pgmap, a.pfnFirst + i);
        this.kernel.pm.private[a.pfnFirst + i] = a.id;
      }
      return a;
    }
    return null;
  }

  /** Gives back device pages the driver did not use (unlocked, last reference put). */
  putUnused(pfns: readonly number[]): void {
    for (const pfn of pfns) {
      unlockPage(this.kernel, pfn);
      this.kernel.putPage(pfn);
    }
  }

  /** The pagemap's `page_free`: one page of an allocation is free; the last one frees the block. */
  private pageFree(pfn: number): void {
    const a = this.allocationOf(pfn);
    if (a === null) throw new UsageError('GpuSvmVram.pageFree', `device pfn ${pfn} belongs to no allocation`);
    this.kernel.pm.private[pfn] = 0;
    a.inUse--;
    if (a.inUse === 0) {
      this.allocations.delete(a.id);
      this.taken.fill(0, a.pfnFirst - this.pfnFirst, a.pfnFirst - this.pfnFirst + a.npages);
    }
  }
}
