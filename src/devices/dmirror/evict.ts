/**
 * Eviction of dmirror device memory (`dmirror_device_evict_chunk`, `dmirror_remove_free_pages`
 * and `dmirror_device_remove_chunks` in lib/test_hmm.c): every in-use page of a chunk goes back
 * to system memory through `migrate_device_range`, wherever it is mapped and whoever migrated it.
 * Closing any file of the device evicts all its chunks (newest driver); RELEASE also removes the
 * chunks, and the device makes new ones on demand afterwards.
 * @module
 */
import { memunmapPages } from '../../devmem/memremap.ts';
import {
  migrateDeviceFinalize,
  migrateDevicePages,
  migrateDeviceRange,
} from '../../devmem/migrate-device.ts';
import {
  MIGRATE_PFN_COMPOUND,
  MIGRATE_PFN_MIGRATE,
  MIGRATE_PFN_WRITE,
  migratePfn,
  migratePfnToPage,
  mpfnHas,
} from '../../devmem/migrate-pfn.ts';
import { PG_locked } from '../../mm/page-flags.ts';
import type { DmirrorChunk } from './chunk.ts';
import { dmirrorCharge } from './cost.ts';
import type { DmirrorDevice } from './device.ts';
import { dmirrorBackingPage } from './devmem-alloc.ts';

/**
 * `dmirror_device_evict_chunk`: collects every in-use page of `chunk` (`migrate_device_range`,
 * which unmaps them everywhere), gives each a system destination — a folio of the same order for
 * a compound slot, a single page otherwise — copies the data from the backing store, and commits
 * (`migrate_device_pages`, `migrate_device_finalize`). The kernel's allocations here cannot fail
 * (`__GFP_NOFAIL`); if the simulated machine has no page left, that page stays on the device.
 */
export async function dmirrorDeviceEvictChunk(chunk: DmirrorChunk): Promise<void> {
  const k = chunk.mdevice.kernel;
  const startPfn = chunk.pfnFirst;
  const npages = chunk.nrPages;
  if (k.bus.on) traceEvict(chunk, 'B', { pfn: startPfn, npages });
  // No page of the chunk in use: migrate_device_range would find every pfn free and collect
  // nothing (no lock, no preemption point), so the passes over the chunk are skipped.
  if (chunk.refs === 0) {
    if (k.bus.on) traceEvict(chunk, 'E', {});
    return;
  }
  const src = new Float64Array(npages);
  const dst = new Float64Array(npages);
  await migrateDeviceRange(k, src, startPfn, npages);
  const pm = k.pm;
  for (let i = 0; i < npages; i++) {
    const w = src[i]!;
    let spage = migratePfnToPage(w);
    if (spage === 0 || !mpfnHas(w, MIGRATE_PFN_MIGRATE)) continue;
    // WARN_ON: only device memory is collected from a chunk.
    if (k.pgmapOf(spage) === null) continue;
    let order = pm.order[spage]!;
    spage = dmirrorBackingPage(k, spage);
    let dpage: number;
    if (mpfnHas(w, MIGRATE_PFN_COMPOUND)) {
      dpage = pm.allocPages(order);
    } else {
      dpage = pm.allocPages(0);
      order = 0;
    }
    dmirrorCharge(chunk.mdevice, 0, 1);
    if (dpage === 0) continue;
    pm.flags[dpage]! |= PG_locked;
    dst[i] =
      migratePfn(dpage) +
      (mpfnHas(w, MIGRATE_PFN_WRITE) ? MIGRATE_PFN_WRITE : 0) +
      (order !== 0 ? MIGRATE_PFN_COMPOUND : 0);
    // folio_copy: every page of the source (backing) folio.
    const nr = pm.folioNrPages(spage);
    for (let j = 0; j < nr; j++) pm.copyPage(dpage + j, spage + j);
    dmirrorCharge(chunk.mdevice, nr, 0);
  }
  await migrateDevicePages(k, src, dst, npages);
  migrateDeviceFinalize(k, src, dst, npages);
  if (k.bus.on) traceEvict(chunk, 'E', {});
}

/** The eviction's span on the device's track (for traces; only called when the bus is on). */
function traceEvict(chunk: DmirrorChunk, phase: 'B' | 'E', args: Record<string, unknown>): void {
  const k = chunk.mdevice.kernel;
  k.bus.emit({
    type: 'span',
    time: k.sched.clock.now,
    thread: k.sched.current.name,
    phase,
    name: 'evict_chunk',
    args,
    track: chunk.mdevice.name,
  });
}

/**
 * `dmirror_remove_free_pages`: unlinks the free pages and folios of `chunk` from the device's free
 * lists, so nothing allocates from a chunk being removed.
 */
export function dmirrorRemoveFreePages(chunk: DmirrorChunk): void {
  const mdevice = chunk.mdevice;
  mdevice.freeFolios = unlinkChunk(mdevice, mdevice.freeFolios, chunk);
  mdevice.freePages = unlinkChunk(mdevice, mdevice.freePages, chunk);
}

/** The list starting at `first` without the entries in `chunk`; its new first entry. */
function unlinkChunk(mdevice: DmirrorDevice, first: number, chunk: DmirrorChunk): number {
  const next = mdevice.kernel.pm.private;
  while (first !== 0 && chunk.contains(first)) first = next[first]!;
  for (let p = first; p !== 0; ) {
    let n = next[p]!;
    while (n !== 0 && chunk.contains(n)) n = next[n]!;
    next[p] = n;
    p = n;
  }
  return first;
}

/**
 * `dmirror_device_remove_chunks` (RELEASE): under `devmem_lock`, each chunk is marked as being
 * removed, its free pages are taken off the lists, its pages in use are evicted, and its range is
 * unmapped (`memunmap_pages`). Then the device has no chunk and empty free lists; the next
 * allocation makes a new chunk.
 */
export async function dmirrorDeviceRemoveChunks(mdevice: DmirrorDevice): Promise<void> {
  const k = mdevice.kernel;
  await mdevice.devmemLock.lock();
  try {
    if (mdevice.devmemChunks.length === 0) return;
    for (const devmem of mdevice.devmemChunks) {
      devmem.remove = true;
      dmirrorRemoveFreePages(devmem);
      await dmirrorDeviceEvictChunk(devmem);
      memunmapPages(k, devmem);
    }
    mdevice.devmemChunks = [];
    mdevice.devmemCapacity = 0;
    mdevice.freePages = 0;
    mdevice.freeFolios = 0;
  } finally {
    mdevice.devmemLock.unlock();
  }
}
