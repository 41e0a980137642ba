/**
 * The device memory of a dmirror device (`struct dmirror_chunk` and `dmirror_allocate_chunk` in
 * lib/test_hmm.c): ZONE_DEVICE ranges of 256 MiB made with `memremapPages`, device-private for
 * minors 0/1 and device-coherent for minors 2/3, whose pages go to the device's free lists. One
 * chunk is made when the device is created, more on demand when a free list runs dry.
 *
 * A chunk costs only page metadata on the simulated machine (65,536 frames of some 33 bytes):
 * a device-private page holds no data (its backing system page does), and a device-coherent
 * page's contents are stored only once something is written to it.
 * @module
 */
import {
  DevPagemap,
  MEMORY_DEVICE_COHERENT,
  MEMORY_DEVICE_PRIVATE,
  memremapPages,
} from '../../devmem/memremap.ts';
import { HPAGE_PMD_NR, PAGE_SIZE } from '../../mm/constants.ts';
import { EINVAL, ENOMEM } from '../../sim/errno.ts';
import { kernelBug } from '../../sim/errors.ts';
import type { DmirrorDevice } from './device.ts';
import { HMM_DMIRROR_MEMORY_DEVICE_COHERENT, HMM_DMIRROR_MEMORY_DEVICE_PRIVATE } from './uapi.ts';

/** `DEVMEM_CHUNK_SIZE`: bytes of device memory per chunk (256 MiB). */
export const DEVMEM_CHUNK_SIZE = 256 * 1024 * 1024;
/** `DEVMEM_CHUNKS_RESERVE`: the chunk array grows this many slots at a time. */
export const DEVMEM_CHUNKS_RESERVE = 16;
/** Pages per chunk. */
export const DEVMEM_CHUNK_PAGES = DEVMEM_CHUNK_SIZE / PAGE_SIZE;

/**
 * `struct dmirror_chunk`: one range of device memory. It is its own `dev_pagemap` (the kernel
 * embeds the pagemap and finds the chunk with `container_of`), owned by the device.
 */
export class DmirrorChunk extends DevPagemap {
  /** `mdevice`: the device the memory belongs to. */
  readonly mdevice: DmirrorDevice;
  /** `remove`: the chunk is being removed (RELEASE); freed pages no longer go to the free lists. */
  remove = false;

  /** An unmapped chunk of `mdevice`'s memory type. */
  constructor(mdevice: DmirrorDevice, type: number) {
    super(type, mdevice, mdevice.devmemOps, mdevice.chunkPages);
    this.mdevice = mdevice;
  }

  /** True when device pfn `pfn` lies in this chunk. */
  contains(pfn: number): boolean {
    return pfn >= this.pfnFirst && pfn < this.pfnFirst + this.nrPages;
  }
}

/** `dmirror_page_to_chunk`: the chunk of `mdevice` holding device pfn `pfn`, or null. */
export function dmirrorPageToChunk(mdevice: DmirrorDevice, pfn: number): DmirrorChunk | null {
  for (const chunk of mdevice.devmemChunks) if (chunk.contains(pfn)) return chunk;
  return null;
}

/**
 * `dmirror_allocate_chunk`: maps a new chunk and puts its pages on the free lists (its aligned
 * 512-page runs on the folio list when `isLarge`, every page on the single-page list otherwise,
 * each list LIFO like the kernel's). With `takePage`, one page (or folio) is taken off at once
 * and its pfn returned; otherwise 0. A negative errno when no chunk can be had.
 */
export async function dmirrorAllocateChunk(
  mdevice: DmirrorDevice,
  isLarge: boolean,
  takePage: boolean,
): Promise<number> {
  await mdevice.devmemLock.lock();
  try {
    return dmirrorAllocateChunkLocked(mdevice, isLarge, takePage);
  } finally {
    mdevice.devmemLock.unlock();
  }
}

/**
 * `dmirror_device_init`'s first chunk, made while the device is created (nothing can contend for
 * the chunk lock yet). 0 or a negative errno.
 */
export function dmirrorDeviceInitChunk(mdevice: DmirrorDevice): number {
  if (!mdevice.devmemLock.trylock()) kernelBug(`${mdevice.name}: devmem_lock held at device init`);
  try {
    // Without a page to take, the result is 0 or a negative errno.
    return dmirrorAllocateChunkLocked(mdevice, false, false);
  } finally {
    mdevice.devmemLock.unlock();
  }
}

/** The body of {@link dmirrorAllocateChunk}, with `devmem_lock` held. */
function dmirrorAllocateChunkLocked(mdevice: DmirrorDevice, isLarge: boolean, takePage: boolean): number {
  const k = mdevice.kernel;
  let type: number;
  switch (mdevice.zoneDeviceType) {
    case HMM_DMIRROR_MEMORY_DEVICE_PRIVATE:
      // request_free_mem_region: any free physical range will do.
      type = MEMORY_DEVICE_PRIVATE;
      break;
    case HMM_DMIRROR_MEMORY_DEVICE_COHERENT:
      // The kernel module maps the fixed special-purpose range of its module parameter, so a
      // second chunk would overlap the first and fail; hmmsim gives each coherent device a
      // special-purpose region with room for many chunks, so coherent memory grows like private
      // memory (and can hold 2 MiB folios). See docs/semantics.md.
      type = MEMORY_DEVICE_COHERENT;
      break;
    default:
      return -EINVAL;
  }
  const devmem = new DmirrorChunk(mdevice, type);
  if (mdevice.devmemChunks.length === mdevice.devmemCapacity) {
    mdevice.devmemCapacity += DEVMEM_CHUNKS_RESERVE;
  }
  const first = memremapPages(k, devmem);
  if (first < 0) return first;
  mdevice.devmemChunks.push(devmem);

  const next = k.pm.private;
  const last = first + devmem.nrPages;
  for (let pfn = first; pfn < last; ) {
    if (isLarge && pfn % HPAGE_PMD_NR === 0 && pfn + HPAGE_PMD_NR <= last) {
      next[pfn] = mdevice.freeFolios;
      mdevice.freeFolios = pfn;
      pfn += HPAGE_PMD_NR;
      continue;
    }
    next[pfn] = mdevice.freePages;
    mdevice.freePages = pfn;
    pfn++;
  }

  if (!takePage) return 0;
  if (isLarge) {
    if (mdevice.freeFolios === 0) return -ENOMEM;
    const page = mdevice.freeFolios;
    mdevice.freeFolios = next[page]!;
    mdevice.calloc += HPAGE_PMD_NR;
    return page;
  }
  if (mdevice.freePages === 0) return -ENOMEM;
  const page = mdevice.freePages;
  mdevice.freePages = next[page]!;
  mdevice.calloc++;
  return page;
}
