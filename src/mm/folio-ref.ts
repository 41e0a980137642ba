/**
 * Folio references for driver code, under the kernel's names: `folio_get` / `folio_put` and the
 * older `get_page` / `put_page`. A driver that keeps a page (a device-private page it hands out,
 * a page it migrates) holds a reference; the last `folio_put` frees the folio to its allocator
 * (a device page goes back to its driver through `page_free`).
 * @module
 */
import { UsageError } from '../sim/errors.ts';
import type { Kernel } from './kernel.ts';
import { PG_allocated } from './page-flags.ts';

function checkPfn(where: string, k: Kernel, pfn: number): void {
  if (!Number.isSafeInteger(pfn) || pfn <= 0 || pfn >= k.pm.nrFrames)
    throw new UsageError(where, `${pfn} is not a frame of this machine`);
  if ((k.pm.flags[k.pm.folioHead(pfn)]! & PG_allocated) === 0)
    throw new UsageError(where, `pfn ${pfn} is free (no folio to take a reference to)`);
}

/** `folio_get`: one more reference to the folio containing `pfn`. */
export function folioGet(k: Kernel, pfn: number): void {
  checkPfn('folioGet(pfn)', k, pfn);
  k.getPage(pfn);
}

/** `folio_put`: drops a reference to the folio containing `pfn`; the last one frees it. */
export function folioPut(k: Kernel, pfn: number): void {
  checkPfn('folioPut(pfn)', k, pfn);
  k.putPage(pfn);
}

/** `folio_ref_count`: the references held on the folio containing `pfn`. */
export function folioRefCount(k: Kernel, pfn: number): number {
  return k.pm.refcount[k.pm.folioHead(pfn)]!;
}

/** `get_page`: {@link folioGet}. */
export function getPage(k: Kernel, pfn: number): void {
  folioGet(k, pfn);
}

/** `put_page`: {@link folioPut}. */
export function putPage(k: Kernel, pfn: number): void {
  folioPut(k, pfn);
}
