/**
 * The deferred-split queue of large anonymous folios (mm/huge_memory.c `deferred_split_folio`,
 * `deferred_split_scan`): a folio some of whose pages are no longer mapped is not split when it
 * becomes partly unmapped. It is flagged partially mapped and queued, and stays large, mapped by
 * PTEs, with its unmapped pages still allocated, until the shrinker runs under memory pressure and
 * splits it (freeing the unmapped pages), until something else splits it (migrate_vma's collection
 * in mainline, MADV_PAGEOUT), or until its last reference goes.
 * @module
 */
import { PMD_SIZE } from './constants.ts';
import { splitFolio, trySplitFolio } from './huge-memory.ts';
import type { Kernel } from './kernel.ts';
import type { MmStruct } from './mm-struct.ts';
import { PG_anon, PG_hugetlb, PG_partially_mapped, PG_zone_device } from './page-flags.ts';
import { trylockPage, unlockPage } from './page-lock.ts';
import { rmapWalk } from './rmap.ts';

/**
 * `deferred_split_folio(folio, true)`, as `__folio_remove_rmap` calls it: the large anonymous folio
 * headed by `head`, which just lost a mapping, is queued when it is mapped by no PMD, at least one
 * of its pages is no longer mapped anywhere and at least one still is. Queued once
 * (PG_partially_mapped). Folios of order 1 have no room for the list and are never queued.
 * Device-private folios are still split at once (docs/semantics.md, "Deferred split").
 */
export function deferredSplitFolio(k: Kernel, head: number): void {
  const pm = k.pm;
  if (pm.order[head]! <= 1) return;
  const f = pm.flags[head]!;
  if ((f & (PG_anon | PG_hugetlb | PG_partially_mapped)) !== PG_anon) return;
  if (pm.entireMapcount[head] !== 0 || pm.refcount[head] === 0) return;
  const n = pm.folioNrPages(head);
  let mapped = 0;
  let pagesMapped = 0;
  for (let i = 0; i < n; i++) {
    const m = pm.mapcount[head + i]!;
    mapped += m;
    if (m > 0) pagesMapped++;
  }
  if (pagesMapped === n || pagesMapped === 0) return;
  if ((f & PG_zone_device) !== 0) {
    // A device-private folio is still split at once, its unmapped pages freed, when nothing but
    // its mappings holds it.
    if (pm.refcount[head] === mapped) splitFolio(k, head);
    return;
  }
  pm.flags[head]! |= PG_partially_mapped;
  k.deferredSplitQueue.add(head);
}

/**
 * `deferred_split_scan` over the whole queue, as direct reclaim reaches it when an allocation finds
 * no free page (`shrink_slab` at falling priorities, until the queue's few folios are all scanned):
 * each queued folio is taken (`folio_try_get`), locked if it can be (`folio_trylock`, else it
 * stays queued) and split with `split_folio`, whose zero-filled pages come back as the shared zero
 * page and whose unmapped pages are freed. A folio the split refuses (an extra reference, a pin)
 * stays queued. Returns the number of folios split.
 */
export async function deferredSplitScan(k: Kernel): Promise<number> {
  let split = 0;
  for (const head of [...k.deferredSplitQueue]) {
    // Freed or split by someone else while an earlier split slept in a notifier callback.
    if (!k.deferredSplitQueue.has(head)) continue;
    // Any process mapping it will do: split_folio unmaps it from all of them.
    let mm: MmStruct | null = null;
    let addr = 0;
    for (const hit of rmapWalk(k, head)) {
      mm = hit.vma.mm;
      addr = hit.addr;
      break;
    }
    if (mm === null || !trylockPage(k, head)) continue;
    k.getPage(head);
    if (await trySplitFolio(mm, head, Math.floor(addr / PMD_SIZE) * PMD_SIZE, 1)) split++;
    unlockPage(k, head);
    k.putPage(head);
  }
  return split;
}
