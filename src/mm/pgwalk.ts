/**
 * Range walks over page tables that visit only the tables that exist (mm/pagewalk.c, reduced).
 * @module
 */
import { PTRS_PER_TABLE } from './constants.ts';
import { LEVEL_PAGES, type PageTablePool, type PtLevel } from './page-table.ts';
import { PTE_KIND_MASK, PTE_LEAF, PTE_NONE, PTE_TABLE } from './pte.ts';

/**
 * Collects the PMD entries that are not none and whose 2 MiB span intersects the virtual page
 * range `[startVpn, endVpn)`, and the PUD leaves (1 GiB hugetlb pages) in their place. Returns
 * flattened triples (word offset of the entry, first vpn of the part of its span inside the range,
 * end vpn of that part): a huge leaf's entry has PTE_LEAF at either level, and a PUD leaf's span is
 * its folio's (1 GiB). Offsets stay valid across pool growth (tables are never moved), as long as
 * the table itself is not freed.
 */
export function collectPmds(pool: PageTablePool, pgd: number, startVpn: number, endVpn: number): number[] {
  const out: number[] = [];
  collect(pool, pgd, 4, 0, startVpn, endVpn, out);
  return out;
}

function collect(
  pool: PageTablePool,
  table: number,
  level: PtLevel,
  baseVpn: number,
  startVpn: number,
  endVpn: number,
  out: number[],
): void {
  const span = LEVEL_PAGES[level];
  const first = Math.max(0, Math.floor((startVpn - baseVpn) / span));
  const last = Math.min(PTRS_PER_TABLE - 1, Math.floor((endVpn - 1 - baseVpn) / span));
  const w = pool.words;
  for (let i = first; i <= last; i++) {
    const off = (table * PTRS_PER_TABLE + i) * 2;
    const kind = w[off]! & PTE_KIND_MASK;
    if (kind === PTE_NONE) continue;
    const entryVpn = baseVpn + i * span;
    // A PUD leaf (hugetlb's 1 GiB page) stands where a PMD table would be.
    if (level === 2 || (level === 3 && (w[off]! & PTE_LEAF) !== 0)) {
      out.push(off, Math.max(startVpn, entryVpn), Math.min(endVpn, entryVpn + span));
    } else if (kind === PTE_TABLE) {
      collect(pool, w[off + 1]!, (level - 1) as PtLevel, entryVpn, startVpn, endVpn, out);
    }
  }
}

/**
 * Frees page-table pages that hold no entry, whose whole span lies in `[floorVpn, ceilingVpn)`
 * and intersects `[startVpn, endVpn)` (free_pgtables after munmap: the walk visits only the
 * tables over the range unmapped, `[startVpn, endVpn)`, and frees those that no VMA needs any
 * more — no VMA intersects `[floorVpn, ceilingVpn)`, which contains the range; by default the
 * range itself). A table outside the range needs no visit: the munmap that removed the last VMA
 * over it freed it already, or a VMA still intersects its span.
 */
export function freePgtables(
  pool: PageTablePool,
  pgd: number,
  startVpn: number,
  endVpn: number,
  floorVpn = startVpn,
  ceilingVpn = endVpn,
): void {
  if (startVpn >= endVpn) return;
  freeIn(pool, pgd, 4, 0, startVpn, endVpn, floorVpn, ceilingVpn);
}

function freeIn(
  pool: PageTablePool,
  table: number,
  level: PtLevel,
  baseVpn: number,
  startVpn: number,
  endVpn: number,
  floorVpn: number,
  ceilingVpn: number,
): void {
  const span = LEVEL_PAGES[level];
  const first = Math.max(0, Math.floor((startVpn - baseVpn) / span));
  const last = Math.min(PTRS_PER_TABLE - 1, Math.floor((endVpn - 1 - baseVpn) / span));
  // Freeing a table zeroes its words but never moves the pool's array.
  const w = pool.words;
  const tableOff = table * PTRS_PER_TABLE * 2;
  for (let i = first; i <= last; i++) {
    const off = tableOff + i * 2;
    // Exit walks every PGD entry and every entry of the tables below: skip four empty entries
    // at a time (an entry whose lo word is 0 is none; the group stays inside the table).
    if ((i & 3) === 0 && i + 3 <= last && (w[off]! | w[off + 2]! | w[off + 4]! | w[off + 6]!) === 0) {
      i += 3;
      continue;
    }
    if ((w[off]! & PTE_KIND_MASK) !== PTE_TABLE) continue;
    const child = w[off + 1]!;
    const entryVpn = baseVpn + i * span;
    if (level > 2)
      freeIn(pool, child, (level - 1) as PtLevel, entryVpn, startVpn, endVpn, floorVpn, ceilingVpn);
    const whollyInside = entryVpn >= floorVpn && entryVpn + span <= ceilingVpn;
    if (whollyInside && pool.isEmpty(child)) {
      pool.free(child);
      w[off] = 0;
      w[off + 1] = 0;
    }
  }
}
