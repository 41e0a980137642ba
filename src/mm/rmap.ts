/**
 * Reverse mapping (mm/rmap.c, reduced): finding every page-table entry that maps a folio, through
 * its anonymous family or its file's mappings; `try_to_migrate` (replace each mapping by a
 * migration entry) and `remove_migration_ptes` (replace each migration entry by a mapping of
 * the new folio).
 * @module
 */
import { AnonVma } from './anon-vma.ts';
import {
  HPAGE_PMD_NR,
  PAGE_SIZE,
  PMD_SIZE,
  PTRS_PER_TABLE,
  VM_EXEC,
  VM_READ,
  VM_WRITE,
} from './constants.ts';
import { GUP_PIN_COUNTING_BIAS } from './gup-bias.ts';
import type { Kernel } from './kernel.ts';
import {
  MMU_NOTIFY_CLEAR,
  mmuNotifierInvalidateRangeEnd,
  mmuNotifierInvalidateRangeStart,
  mmuNotifierRangeInit,
} from './mmu-notifier.ts';
import { PG_anon, PG_anon_exclusive, PG_dirty, PG_zone_device } from './page-flags.ts';
import { findEntry } from './page-table.ts';
import { indexDelta } from './physmem.ts';
import {
  isDevicePrivateKind,
  isMigrationKind,
  kindHasPage,
  PTE_DEVICE_EXCLUSIVE,
  PTE_DEVICE_PRIVATE_READ,
  PTE_DEVICE_PRIVATE_WRITE,
  PTE_DIRTY,
  PTE_KIND_MASK,
  PTE_LEAF,
  PTE_MIGRATION_READ,
  PTE_MIGRATION_READ_EXCLUSIVE,
  PTE_MIGRATION_WRITE,
  PTE_PRESENT,
  PTE_PROTNONE,
  PTE_SOFT_DIRTY,
  PTE_TABLE,
  PTE_WRITE,
  PTE_YOUNG,
} from './pte.ts';
import type { Vma } from './vma.ts';

/** One place a folio is mapped (or has a migration entry): the VMA, the address, the entry. */
export interface RmapHit {
  /** The VMA. */
  vma: Vma;
  /** Address of the folio's first page in this mapping (PMD) or of the page (PTE). */
  addr: number;
  /** Word offset of the entry. */
  off: number;
  /** 2 for a PMD entry mapping the whole folio, 1 for a PTE. */
  level: 1 | 2;
}

/** A visitor of {@link rmapWalkVisit}: one entry (`off`, `level`) at `addr` of `vma`, with the walk's two arguments. */
export type RmapVisit = (
  k: Kernel,
  vma: Vma,
  addr: number,
  off: number,
  level: 1 | 2,
  a: number,
  b: number,
) => void;

/**
 * rmap_walk: every entry that refers to a page of the folio headed by `head` — present
 * mappings, device-private and device-exclusive entries, and migration entries.
 */
export function rmapWalk(k: Kernel, head: number): RmapHit[] {
  const hits: RmapHit[] = [];
  rmapWalkVisit(
    k,
    head,
    (_k, vma, addr, off, level) => {
      hits.push({ vma, addr, off, level });
    },
    0,
    0,
  );
  return hits;
}

/**
 * {@link rmapWalk} without a list: calls `visit` for each entry, in the same order, passing `a`
 * and `b` through (so a caller on a hot path needs no closure and nothing is allocated per
 * entry). `visit` may rewrite the entry it is given: the walk looks at each entry once.
 */
export function rmapWalkVisit(k: Kernel, head: number, visit: RmapVisit, a: number, b: number): void {
  const pm = k.pm;
  const owner = k.mappings[pm.mapping[head]!];
  if (owner === undefined) return;
  const vmas = owner instanceof AnonVma ? owner.vmas : owner.mappings;
  const nr = pm.folioNrPages(head);
  const words = k.pt.words;
  for (const vma of vmas) {
    if (vma.mm.pgd === 0) continue;
    const first = vma.start + indexDelta(pm.index[head]!, vma.pgoff) * PAGE_SIZE;
    if (first + nr * PAGE_SIZE <= vma.start || first >= vma.end) continue;
    if (nr > 1 && first % PMD_SIZE === 0 && first >= vma.start && first + PMD_SIZE <= vma.end) {
      const off = findEntry(k.pt, vma.mm.pgd, first / PAGE_SIZE, 2);
      if (off >= 0 && (words[off]! & PTE_LEAF) !== 0 && words[off + 1] === head) {
        visit(k, vma, first, off, 2, a, b);
        continue;
      }
    }
    for (let i = 0; i < nr; i++) {
      const addr = first + i * PAGE_SIZE;
      if (addr < vma.start || addr >= vma.end) continue;
      const off = findEntry(k.pt, vma.mm.pgd, addr / PAGE_SIZE, 1);
      if (off < 0) continue;
      const kind = words[off]! & PTE_KIND_MASK;
      if (words[off + 1] !== head + i || !kindHasPage(kind)) continue;
      if (kind === PTE_PRESENT && pm.isZeroPfn(head + i)) continue;
      visit(k, vma, addr, off, 1, a, b);
    }
  }
}

/**
 * try_to_migrate: replaces every mapping of the folio with a migration entry (writable if the
 * mapping was, readable-exclusive for an exclusive anonymous page). Like the kernel's rmap walk,
 * it visits every VMA that may map the folio, in order, announcing CLEAR over the folio's extent
 * in each (try_to_migrate_one starts the notifier before looking for a mapping, so a VMA whose
 * entry is already a migration entry is announced too), and stops once the folio is no longer
 * mapped (`folio_not_mapped`). The mapping's reference and mapcount go; dirty moves to the folio;
 * an exclusive anonymous page loses PageAnonExclusive (kept in the entry), or, when the folio may
 * be pinned, keeps its mapping and ends the walk.
 */
export async function tryToMigrate(k: Kernel, head: number): Promise<void> {
  const pm = k.pm;
  const owner = k.mappings[pm.mapping[head]!];
  if (owner === undefined) return;
  const vmas = [...(owner instanceof AnonVma ? owner.vmas : owner.mappings)];
  const hits = rmapWalk(k, head);
  const nr = pm.folioNrPages(head);
  for (const vma of vmas) {
    if (vma.mm.pgd === 0) continue;
    const first = vma.start + indexDelta(pm.index[head]!, vma.pgoff) * PAGE_SIZE;
    if (first + nr * PAGE_SIZE <= vma.start || first >= vma.end) continue;
    const range = mmuNotifierRangeInit(
      vma.mm,
      MMU_NOTIFY_CLEAR,
      Math.max(first, vma.start),
      Math.min(first + nr * PAGE_SIZE, vma.end),
    );
    await mmuNotifierInvalidateRangeStart(range);
    for (const hit of hits) {
      if (hit.vma !== vma) continue;
      const lo = k.pt.words[hit.off]!;
      const pfn = k.pt.words[hit.off + 1]!;
      const k2 = lo & PTE_KIND_MASK;
      if (pm.folioHead(pfn) !== head) continue;
      if (k2 === PTE_PRESENT || isDevicePrivateKind(k2) || k2 === PTE_DEVICE_EXCLUSIVE) {
        const writable =
          k2 === PTE_PRESENT
            ? (lo & PTE_WRITE) !== 0
            : k2 === PTE_DEVICE_PRIVATE_WRITE || k2 === PTE_DEVICE_EXCLUSIVE;
        const exclusive = (pm.flags[pfn]! & (PG_anon | PG_anon_exclusive)) === (PG_anon | PG_anon_exclusive);
        if (exclusive) {
          // folio_try_share_anon_rmap_pte/_pmd: the exclusive marking moves into the migration
          // entry (remove_migration_pte sets it again), unless the folio may be pinned: then the
          // mapping stays as it was and the walk stops, so the folio stays mapped (-EBUSY).
          // Device-private folios cannot be pinned.
          if (!isDevicePrivateKind(k2) && pm.refcount[head]! >= GUP_PIN_COUNTING_BIAS) {
            mmuNotifierInvalidateRangeEnd(range);
            return;
          }
          pm.flags[pfn]! &= ~PG_anon_exclusive;
        }
        if ((lo & PTE_DIRTY) !== 0) pm.flags[head]! |= PG_dirty;
        const mkind = writable
          ? PTE_MIGRATION_WRITE
          : exclusive
            ? PTE_MIGRATION_READ_EXCLUSIVE
            : PTE_MIGRATION_READ;
        k.pt.words[hit.off] =
          mkind | (lo & (PTE_DIRTY | PTE_YOUNG | PTE_SOFT_DIRTY)) | (hit.level === 2 ? PTE_LEAF : 0);
        if (hit.level === 2) pm.entireMapcount[head]!--;
        else pm.mapcount[pfn]!--;
        k.putPage(pfn);
        // try_to_migrate_one clears a present mapping with ptep_clear_flush / pmdp_invalidate.
        if (k2 === PTE_PRESENT) k.chargeTlbShootdown();
      }
    }
    mmuNotifierInvalidateRangeEnd(range);
    if (!folioMapped(k, head)) break;
  }
}

/** folio_mapped: some page of the folio is still mapped (by a PTE or the PMD). */
function folioMapped(k: Kernel, head: number): boolean {
  const pm = k.pm;
  if (pm.entireMapcount[head]! > 0) return true;
  const nr = pm.folioNrPages(head);
  for (let i = 0; i < nr; i++) if (pm.mapcount[head + i]! > 0) return true;
  return false;
}

/**
 * remove_migration_ptes: every migration entry of `src` becomes a mapping of `dst` (the same
 * folio when a migration is undone): a device-private entry for a device-private destination,
 * otherwise a present entry (protnone in a VMA without access: the VMA's vm_page_prot); writable
 * iff the migration entry was. Each mapping takes a reference and a mapcount on `dst`.
 */
export function removeMigrationPtes(k: Kernel, src: number, dst: number): void {
  rmapWalkVisit(k, src, removeMigrationPte, src, dst);
}

/**
 * What {@link removeMigrationPtesHinted} remembers between calls: the last anonymous family it
 * met that has a single VMA, and the last PTE table it found. Valid only while no VMA, no
 * family and no page table above the PTEs changes: one per synchronous loop, as
 * `migrate_vma_finalize`'s.
 */
export class RmapHint {
  /** Mapping id of the family whose only VMA is {@link vma} (-1: none yet). */
  mapping = -1;
  /** That VMA. */
  vma: Vma | null = null;
  /** pgd of the mm whose PTE table is {@link table} (-1: none yet). */
  pgd = -1;
  /** First page number the table maps. */
  first = 0;
  /** The PTE table. */
  table = 0;

  /** Forgets what it remembered (and the VMA it held), for its next loop. */
  reset(): void {
    this.mapping = -1;
    this.vma = null;
    this.pgd = -1;
    this.first = 0;
    this.table = 0;
  }
}

/**
 * {@link removeMigrationPtes} for the page of an order-0 folio, for a caller doing it page after
 * page (`migrate_vma_finalize`): when the folio's anonymous family has a single VMA (a process's
 * own pages, never forked — the common case), the walk of that VMA is the entry at the page's
 * address, found in the PTE table the previous page used when it is the same, instead of a
 * four-level lookup (plus iterating the family) per page. Any other folio takes the whole walk.
 * Visits exactly the entries {@link rmapWalkVisit} would, in the same order.
 */
export function removeMigrationPtesHinted(k: Kernel, src: number, dst: number, hint: RmapHint): void {
  const pm = k.pm;
  const id = pm.mapping[src]!;
  if (id !== hint.mapping) {
    const owner = k.mappings[id];
    if (!(owner instanceof AnonVma) || owner.vmas.size !== 1) {
      rmapWalkVisit(k, src, removeMigrationPte, src, dst);
      return;
    }
    hint.mapping = id;
    for (const vma of owner.vmas) hint.vma = vma;
  }
  if (pm.order[src] !== 0) {
    rmapWalkVisit(k, src, removeMigrationPte, src, dst);
    return;
  }
  const vma = hint.vma!;
  const pgd = vma.mm.pgd;
  if (pgd === 0) return;
  // The address rmapWalkVisit computes for a one-page folio, as a page number (exact: the VMA's
  // start is page-aligned and every value an integer below 2^53).
  const vpn = vma.start / PAGE_SIZE + indexDelta(pm.index[src]!, vma.pgoff);
  const addr = vpn * PAGE_SIZE;
  if (addr < vma.start || addr >= vma.end) return;
  const words = k.pt.words;
  if (hint.pgd !== pgd || vpn < hint.first || vpn >= hint.first + PTRS_PER_TABLE) {
    // findEntry(…, 1) without its last step: a PTE exists only under a PMD pointing at a table.
    const pmdOff = findEntry(k.pt, pgd, vpn, 2);
    if (pmdOff < 0) return;
    const pmd = words[pmdOff]!;
    if ((pmd & PTE_KIND_MASK) !== PTE_TABLE || (pmd & PTE_LEAF) !== 0) return;
    hint.pgd = pgd;
    hint.first = Math.floor(vpn / PTRS_PER_TABLE) * PTRS_PER_TABLE;
    hint.table = words[pmdOff + 1]!;
  }
  const off = (hint.table * PTRS_PER_TABLE + (vpn - hint.first)) * 2;
  const kind = words[off]! & PTE_KIND_MASK;
  if (words[off + 1] !== src || !kindHasPage(kind)) return;
  if (kind === PTE_PRESENT && pm.isZeroPfn(src)) return;
  removeMigrationPteAt(k, vma, off, 1, src, dst);
}

/** One entry of {@link removeMigrationPtes} (remove_migration_pte), as the walk's visitor. */
function removeMigrationPte(
  k: Kernel,
  vma: Vma,
  _addr: number,
  off: number,
  level: 1 | 2,
  src: number,
  dst: number,
): void {
  removeMigrationPteAt(k, vma, off, level, src, dst);
}

/**
 * remove_migration_pte on the entry at word offset `off` (a PMD entry for `level` 2) of `vma`.
 * Takes no address (the entry is what it needs): a page address is a double above 2^31, boxed
 * on every call that passes it.
 */
function removeMigrationPteAt(
  k: Kernel,
  vma: Vma,
  off: number,
  level: 1 | 2,
  src: number,
  dst: number,
): void {
  const pm = k.pm;
  const words = k.pt.words;
  const lo = words[off]!;
  const kind = lo & PTE_KIND_MASK;
  if (!isMigrationKind(kind)) return;
  const dstPrivate = (pm.flags[dst]! & PG_zone_device) !== 0 && (k.pgmapOf(dst)?.isPrivate ?? false);
  const oldPfn = words[off + 1]!;
  const newPfn = dst + (oldPfn - src);
  const writable = kind === PTE_MIGRATION_WRITE && (vma.flags & VM_WRITE) !== 0;
  let e: number;
  if (dstPrivate) e = writable ? PTE_DEVICE_PRIVATE_WRITE : PTE_DEVICE_PRIVATE_READ;
  else {
    const access = (vma.flags & (VM_READ | VM_WRITE | VM_EXEC)) !== 0;
    e = PTE_PRESENT | (!access ? PTE_PROTNONE : writable ? PTE_WRITE : 0) | (lo & (PTE_DIRTY | PTE_YOUNG));
  }
  e |= lo & PTE_SOFT_DIRTY;
  if (kind !== PTE_MIGRATION_READ && (pm.flags[newPfn]! & PG_anon) !== 0)
    pm.flags[newPfn]! |= PG_anon_exclusive;
  if (level === 2) {
    words[off] = e | PTE_LEAF;
    words[off + 1] = dst;
    pm.entireMapcount[dst]!++;
    if (k.mmCounterOf(dst) !== k.mmCounterOf(src)) {
      vma.mm.rss[k.mmCounterOf(src)]! -= HPAGE_PMD_NR;
      vma.mm.rss[k.mmCounterOf(dst)]! += HPAGE_PMD_NR;
    }
  } else {
    words[off] = e;
    words[off + 1] = newPfn;
    pm.mapcount[newPfn]!++;
    if (k.mmCounterOf(newPfn) !== k.mmCounterOf(oldPfn)) {
      vma.mm.rss[k.mmCounterOf(oldPfn)]!--;
      vma.mm.rss[k.mmCounterOf(newPfn)]!++;
    }
  }
  k.getPage(dst);
}
