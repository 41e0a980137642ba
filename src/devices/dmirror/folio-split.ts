/**
 * The pagemap's `folio_split` callback of dmirror (`dmirror_devmem_folio_split` in
 * lib/test_hmm.c): when the core splits a 2 MiB device-private folio (a partial munmap or an
 * unaligned mremap left it mapped by PTEs, and a migration or the deferred split breaks it up),
 * the system folio backing it is split the same way, so that every small device page has its own
 * backing page (and records the same migrating file).
 * @module
 */
import { MEMORY_DEVICE_PRIVATE } from '../../devmem/memremap.ts';
import { HPAGE_PMD_NR } from '../../mm/constants.ts';
import type { DmirrorChunk } from './chunk.ts';

/**
 * `dmirror_devmem_folio_split` for the whole folio at once: the core has already made the device
 * pages of `head`'s former folio order-0 folios. The backing folio becomes order-0 pages, each
 * with its own reference (`folio_init_count`), no mapping and the owner record of the head; each
 * device page's `zone_device_data` points at its own backing page. A device page without a
 * backing page passes that on to its pieces.
 */
export function dmirrorDevmemFolioSplit(chunk: DmirrorChunk, head: number): void {
  if (chunk.type !== MEMORY_DEVICE_PRIVATE) return;
  const pm = chunk.mdevice.kernel.pm;
  const rpage = pm.private[head]!;
  if (rpage === 0) {
    for (let i = 1; i < HPAGE_PMD_NR; i++) pm.private[head + i] = 0;
    return;
  }
  // Already split (the callback runs once per split folio; a folio of order 0 has no tail).
  if (pm.order[rpage] === 0) return;
  const nr = pm.folioNrPages(rpage);
  const owner = pm.private[rpage]!;
  pm.splitFolioMetadata(rpage);
  for (let i = 0; i < nr; i++) {
    pm.refcount[rpage + i] = 1;
    pm.mapping[rpage + i] = 0;
    pm.private[rpage + i] = owner;
    pm.private[head + i] = rpage + i;
  }
}
