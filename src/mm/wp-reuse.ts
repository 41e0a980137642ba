/**
 * Mainline's copy-on-write reuse of a PTE-mapped large anonymous folio (mm/memory.c
 * `__wp_can_reuse_large_anon_folio`, "mm: COW reuse support for PTE-mapped THP with
 * CONFIG_MM_ID", v6.15): a write (or unshare) fault on a page of a large folio that is not
 * marked exclusive reuses it when every reference to the folio is a mapping and every mapping is
 * in the faulting mm. 6.12 copies the page instead.
 * @module
 */
import { PAGE_SIZE } from './constants.ts';
import { findEntry } from './page-table.ts';
import { indexDelta } from './physmem.ts';
import { PTE_KIND_MASK, PTE_PRESENT } from './pte.ts';
import type { Vma } from './vma.ts';

/**
 * `wp_can_reuse_anon_folio` for a large anonymous folio holding `pfn`, mapped in `vma`: false in
 * 6.12, for a small folio, a folio mapped once (better freed by the copy), a folio with
 * references other than its mappings (a GUP pin, a pipe's reference), and one mapped by another
 * mm. Mainline tracks the mms that map a large folio in two slots and a "maybe shared" bit
 * (`_mm_ids`); hmmsim finds the same answer by walking this mm's mappings of the folio (the
 * kernel's bit can stay set after a third mm came and went; hmmsim does not model that).
 */
export function wpCanReuseLargeAnonFolio(vma: Vma, pfn: number): boolean {
  const mm = vma.mm;
  const k = mm.kernel;
  if (k.kernelVersion === '6.12') return false;
  const pm = k.pm;
  const head = pm.folioHead(pfn);
  const nr = pm.folioNrPages(pfn);
  const family = vma.anonVma;
  if (nr === 1 || family === null || pm.mapping[head] !== family.id) return false;
  let mapcount = pm.entireMapcount[head]!;
  for (let i = 0; i < nr; i++) mapcount += pm.mapcount[head + i]!;
  // folio_large_mapcount <= 1: let the copy free the folio up; then every reference a mapping.
  if (mapcount <= 1 || mapcount !== pm.refcount[head]) return false;
  let mine = 0;
  for (const v of family.vmas) {
    if (v.mm !== mm) continue;
    for (let i = 0; i < nr; i++) {
      const addr = v.start + indexDelta(pm.index[head + i]!, v.pgoff) * PAGE_SIZE;
      if (addr < v.start || addr >= v.end) continue;
      const off = findEntry(k.pt, mm.pgd, addr / PAGE_SIZE, 1);
      if (off < 0) continue;
      if ((k.pt.words[off]! & PTE_KIND_MASK) === PTE_PRESENT && k.pt.words[off + 1] === head + i) mine++;
    }
  }
  return mine === mapcount;
}
