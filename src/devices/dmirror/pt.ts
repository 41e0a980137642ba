/**
 * The device page table of one open dmirror file (`dmirror->pt`, an xarray in lib/test_hmm.c):
 * virtual page number → the pfn that holds the data, with a 2-bit tag saying how the device may
 * access it. Entries are plain numbers (pfn × 4 + tag) in a Map, so a mirrored page costs no
 * object of its own.
 * @module
 */

/** The device page table: virtual page number → tagged entry (see {@link xaTagPointer}). */
export type DmirrorPt = Map<number, number>;

/** Tag of a read-only mapping (an untagged xarray pointer). */
export const DPT_XA_TAG_READ = 0;
/** Tag of an exclusive (atomic) mapping made by EXCLUSIVE (`DPT_XA_TAG_ATOMIC`). */
export const DPT_XA_TAG_ATOMIC = 1;
/** Tag of a mapping the device may write (`DPT_XA_TAG_WRITE`). */
export const DPT_XA_TAG_WRITE = 3;

/** `xa_tag_pointer`: the entry storing `pfn` with `tag` (pfns stay below 2^40, so this is exact). */
export function xaTagPointer(pfn: number, tag: number): number {
  return pfn * 4 + tag;
}

/** `xa_untag_pointer`: the pfn of an entry. */
export function xaUntagPointer(entry: number): number {
  return (entry - (entry % 4)) / 4;
}

/** `xa_pointer_tag`: the tag of an entry. */
export function xaPointerTag(entry: number): number {
  return entry % 4;
}

/**
 * `xa_for_each_range(pt, …, first, last)` + `xa_erase`: drops every entry whose page number lies
 * in `[first, last]` (inclusive). Walks whichever is smaller, the range or the table, so the
 * whole-address-space invalidations of exit and RELEASE cost only the table's size.
 */
export function dmirrorPtEraseRange(pt: DmirrorPt, first: number, last: number): void {
  if (pt.size === 0 || last < first) return;
  if (last - first + 1 <= pt.size) {
    for (let vpn = first; vpn <= last; vpn++) pt.delete(vpn);
    return;
  }
  for (const vpn of pt.keys()) if (vpn >= first && vpn <= last) pt.delete(vpn);
}
