/**
 * `dmirror_devmem_ops` (lib/test_hmm.c): the `dev_pagemap_ops` of every dmirror chunk — the
 * last reference to a device folio going (`folio_free`), a CPU fault on a device-private page
 * (`migrate_to_ram`), and the core splitting a device-private folio (`folio_split`).
 * @module
 */
import type { DevPagemap, DevPagemapOps, VmFault } from '../../devmem/memremap.ts';
import type { DmirrorChunk } from './chunk.ts';
import { dmirrorDevmemFree } from './devmem-alloc.ts';
import { dmirrorDevmemFault } from './devmem-fault.ts';
import { dmirrorDevmemFolioSplit } from './folio-split.ts';

/** The pagemap operations of dmirror device memory (each pagemap is a {@link DmirrorChunk}). */
export const dmirrorDevmemOps: DevPagemapOps = {
  folioFree: (pgmap: DevPagemap, head: number) => dmirrorDevmemFree(pgmap as DmirrorChunk, head),
  migrateToRam: (vmf: VmFault) => dmirrorDevmemFault(vmf),
  folioSplit: (pgmap: DevPagemap, head: number) => dmirrorDevmemFolioSplit(pgmap as DmirrorChunk, head),
};
