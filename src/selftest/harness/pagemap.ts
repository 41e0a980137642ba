/**
 * `/proc/self/pagemap` as the kernel's HMM and COW self-tests read it (fs/proc/task_mmu.c).
 * @module
 */
import { PAGE_SIZE, type Process } from '../../mm/index.ts';
import { leafLevel, leafOffset, walkLeaf } from '../../mm/page-table.ts';
import { PTE_KIND_MASK, PTE_LEAF, PTE_NONE, PTE_PRESENT } from '../../mm/pte.ts';

/** `PM_PRESENT`: bit 63 of a pagemap entry. */
export const PM_PRESENT = 1n << 63n;
/** `PM_SWAP`: bit 62, a swap-like entry (swap, migration, device-private…). */
export const PM_SWAP = 1n << 62n;

/**
 * `pagemap_get_entry` on /proc/self/pagemap (fs/proc/task_mmu.c, reduced to the two bits the
 * tests read): PM_PRESENT for a present PTE, PMD or PUD leaf, PM_SWAP for any other non-empty entry
 * (swap, migration, device-private, device-exclusive), 0 for none. Frame numbers are not shown,
 * as for an unprivileged reader.
 */
export function pagemapGetEntry(process: Process, addr: number): bigint {
  const mm = process.mm;
  const k = mm.kernel;
  // The entry that maps the page: a PTE, or a huge leaf (a PMD, or a 1 GiB hugetlb page's PUD).
  const leaf = walkLeaf(k.pt, mm.pgd, Math.floor(addr / PAGE_SIZE));
  const lo = k.pt.words[leafOffset(leaf)]!;
  const kind = lo & PTE_KIND_MASK;
  if (kind === PTE_NONE || (leafLevel(leaf) > 1 && (lo & PTE_LEAF) === 0)) return 0n;
  return kind === PTE_PRESENT ? PM_PRESENT : PM_SWAP;
}
