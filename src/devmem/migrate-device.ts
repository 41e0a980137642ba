/**
 * Migration to and from device memory (mm/migrate_device.c): `migrateVmaSetup` collects and
 * unmaps the pages of a range (leaving migration entries, pages locked), the driver allocates
 * and copies, `migrateVmaPages` commits struct-page state (inserting pages into empty slots),
 * `migrateVmaFinalize` replaces the migration entries with the new (or, on failure, the old)
 * pages. `migrateDeviceRange`/`Pages`/`Finalize` do the same for device pfns without a VMA
 * (eviction). PMD-sized folios move whole with MIGRATE_VMA_SELECT_COMPOUND.
 * @module
 */

import { anonVmaPrepare } from '../mm/anon-vma.ts';
import {
  HPAGE_PMD_NR,
  MM_ANONPAGES,
  PAGE_SIZE,
  PMD_SIZE,
  PTRS_PER_TABLE,
  VM_SPECIAL,
  VM_WRITE,
} from '../mm/constants.ts';
import { initAnonFolio } from '../mm/fault.ts';
import { GUP_PIN_COUNTING_BIAS } from '../mm/gup-bias.ts';
import { splitHugePmd, trySplitFolio } from '../mm/huge-memory.ts';
import type { Kernel } from '../mm/kernel.ts';
import { MEMCG_ANON, memCgroupCharge, memCgroupMigrate, memCgroupSplit } from '../mm/memcontrol.ts';
import {
  MMU_NOTIFY_MIGRATE,
  type MmuNotifierRange,
  mmuNotifierInvalidateRangeEnd,
  mmuNotifierInvalidateRangeStart,
  mmuNotifierRangeInit,
} from '../mm/mmu-notifier.ts';
import {
  PG_anon,
  PG_anon_exclusive,
  PG_dirty,
  PG_file,
  PG_head,
  PG_locked,
  PG_lru,
  PG_zone_device,
} from '../mm/page-flags.ts';
import { pageLocked, trylockPage, unlockPage, waitOnPageLocked } from '../mm/page-lock.ts';
import { ensureEntry, findEntry } from '../mm/page-table.ts';
import {
  isDevicePrivateKind,
  isMigrationKind,
  PTE_DEVICE_PRIVATE_READ,
  PTE_DEVICE_PRIVATE_WRITE,
  PTE_DIRTY,
  PTE_KIND_MASK,
  PTE_LEAF,
  PTE_MIGRATION_READ,
  PTE_MIGRATION_READ_EXCLUSIVE,
  PTE_MIGRATION_WRITE,
  PTE_NONE,
  PTE_PRESENT,
  PTE_SOFT_DIRTY,
  PTE_SPECIAL,
  PTE_TABLE,
  PTE_WRITE,
  PTE_YOUNG,
} from '../mm/pte.ts';
import { RmapHint, removeMigrationPtes, removeMigrationPtesHinted, tryToMigrate } from '../mm/rmap.ts';
import { staleTlbFlush, staleTlbInsert } from '../mm/stale-tlb.ts';
import type { Vma } from '../mm/vma.ts';
import { EINVAL } from '../sim/errno.ts';
import { kernelBug, UsageError } from '../sim/errors.ts';
import {
  MIGRATE_PFN_COMPOUND,
  MIGRATE_PFN_MIGRATE,
  MIGRATE_PFN_SHIFT,
  MIGRATE_PFN_WRITE,
  migratePfn,
  migratePfnToPage,
  mpfnClear,
  mpfnFlags,
  mpfnHas,
  mpfnSet,
} from './migrate-pfn.ts';
import { countDeviceMigrations } from './migrate-stats.ts';

/** Select present system pages (and the zero page, and empty anonymous slots). */
export const MIGRATE_VMA_SELECT_SYSTEM = 1;
/** Select device-private pages whose pgmap owner is `pgmapOwner`. */
export const MIGRATE_VMA_SELECT_DEVICE_PRIVATE = 2;
/** Select device-coherent pages whose pgmap owner is `pgmapOwner`. */
export const MIGRATE_VMA_SELECT_DEVICE_COHERENT = 4;
/** Collect PMD-sized folios and 2 MiB holes as one compound slot. */
export const MIGRATE_VMA_SELECT_COMPOUND = 8;

/** `struct migrate_vma`. */
export interface MigrateVma {
  /** The VMA containing `[start, end)`. */
  vma: Vma;
  /** First address (rounded down to a page by setup). */
  start: number;
  /** End address; after collect, `start + npages * PAGE_SIZE`. */
  end: number;
  /** Source migrate-pfn words (owned by the core after setup). */
  src: Float64Array;
  /** Destination words, filled by the driver between setup and pages. */
  dst: Float64Array;
  /** Candidates for migration (output of setup). */
  cpages: number;
  /** Entries written by collect (output of setup). */
  npages: number;
  /** Owner cookie: selects device pages and goes into the MIGRATE notifications. */
  pgmapOwner: unknown;
  /** MIGRATE_VMA_SELECT_* bits. */
  flags: number;
  /** The locked device-private page of a CPU fault (0 = none). */
  faultPage: number;
}

/**
 * `migrate_vma_setup`: -EINVAL for a bad VMA or range (hugetlb, VM_SPECIAL, outside the VMA,
 * arrays too short, a fault page that is not a locked device-private page); otherwise 0, with
 * `src` describing each page and the migrating ones locked and replaced by migration entries.
 * The caller holds the mmap lock for the whole setup → pages → finalize sequence.
 */
export async function migrateVmaSetup(args: MigrateVma): Promise<number> {
  if (typeof args !== 'object' || args === null)
    throw new UsageError('migrateVmaSetup(args)', 'must be a MigrateVma object');
  const nrPages = Math.floor((args.end - args.start) / PAGE_SIZE);
  args.start = Math.floor(args.start / PAGE_SIZE) * PAGE_SIZE;
  args.end = Math.floor(args.end / PAGE_SIZE) * PAGE_SIZE;
  const vma = args.vma;
  if (!vma || vma.isHugetlb || (vma.flags & VM_SPECIAL) !== 0) return -EINVAL;
  if (nrPages <= 0) return -EINVAL;
  if (args.start < vma.start || args.start >= vma.end) return -EINVAL;
  if (args.end <= vma.start || args.end > vma.end) return -EINVAL;
  if (!(args.src instanceof Float64Array) || !(args.dst instanceof Float64Array)) return -EINVAL;
  if (args.src.length < nrPages || args.dst.length < nrPages) return -EINVAL;
  const k = vma.mm.kernel;
  if (args.faultPage && !(k.pgmapOf(args.faultPage)?.isPrivate ?? false)) return -EINVAL;
  if (args.faultPage && !pageLocked(k, args.faultPage)) return -EINVAL;
  if (!vma.mm.mmapLock.heldByCurrent()) {
    throw new UsageError('migrateVmaSetup', `the caller must hold the mmap lock of mm ${vma.mm.id}`);
  }
  if (k.bus.on)
    traceMigrate(k, 'B', 'migrate_vma_setup', { start: args.start, end: args.end, npages: nrPages });
  args.src.fill(0, 0, nrPages);
  args.cpages = 0;
  args.npages = 0;
  await migrateVmaCollect(args);
  if (args.cpages > 0) args.cpages = await migrateDeviceUnmap(k, args.src, args.npages, args.faultPage);
  if (k.bus.on) traceMigrate(k, 'E', 'migrate_vma_setup', { cpages: args.cpages, npages: args.npages });
  return 0;
}

/** A span of a migration phase on the current thread (for traces; only called when the bus is on). */
function traceMigrate(k: Kernel, phase: 'B' | 'E', name: string, args: Record<string, unknown>): void {
  k.bus.emit({ type: 'span', time: k.sched.clock.now, thread: k.sched.current.name, phase, name, args });
}

/**
 * Pages (a compound slot counts its 512) whose slot still has MIGRATE_PFN_MIGRATE and a
 * destination: what moved, for traces.
 */
function migratedPages(src: Float64Array, dst: Float64Array, npages: number): number {
  let n = 0;
  for (let i = 0; i < npages; i++) {
    const w = src[i]!;
    if (!mpfnHas(w, MIGRATE_PFN_MIGRATE) || migratePfnToPage(dst[i]!) === 0) continue;
    n += mpfnHas(w, MIGRATE_PFN_COMPOUND) || mpfnHas(dst[i]!, MIGRATE_PFN_COMPOUND) ? HPAGE_PMD_NR : 1;
  }
  return n;
}

/** migrate_vma_collect: one MIGRATE invalidation (owner = pgmapOwner) around the walk. */
async function migrateVmaCollect(args: MigrateVma): Promise<void> {
  const mm = args.vma.mm;
  const range = mmuNotifierRangeInit(mm, MMU_NOTIFY_MIGRATE, args.start, args.end, args.pgmapOwner);
  await mmuNotifierInvalidateRangeStart(range);
  const k = mm.kernel;
  for (let a = args.start; a < args.end; ) {
    const b = Math.min((Math.floor(a / PMD_SIZE) + 1) * PMD_SIZE, args.end);
    const pmdOff = findEntry(k.pt, mm.pgd, a / PAGE_SIZE, 2);
    if (pmdOff < 0 || (k.pt.words[pmdOff]! & PTE_KIND_MASK) === PTE_NONE) collectHole(args, a, b);
    else await collectPmd(args, pmdOff, a, b);
    a = b;
  }
  mmuNotifierInvalidateRangeEnd(range);
  args.end = args.start + args.npages * PAGE_SIZE;
}

/** migrate_vma_collect_skip: slots that will not migrate. */
function collectSkip(args: MigrateVma, start: number, end: number): void {
  for (let a = start; a < end; a += PAGE_SIZE) {
    args.dst[args.npages] = 0;
    args.src[args.npages++] = 0;
  }
}

/** migrate_vma_collect_hole: empty slots of an anonymous VMA may be populated (one compound slot for an aligned 2 MiB). */
function collectHole(args: MigrateVma, start: number, end: number): void {
  if (!args.vma.isAnonymous) {
    collectSkip(args, start, end);
    return;
  }
  if ((args.flags & MIGRATE_VMA_SELECT_COMPOUND) !== 0 && start % PMD_SIZE === 0 && end % PMD_SIZE === 0) {
    args.src[args.npages] = MIGRATE_PFN_MIGRATE + MIGRATE_PFN_COMPOUND;
    args.dst[args.npages++] = 0;
    args.cpages++;
    collectSkip(args, start + PAGE_SIZE, end);
    return;
  }
  for (let a = start; a < end; a += PAGE_SIZE) {
    args.src[args.npages] = MIGRATE_PFN_MIGRATE;
    args.dst[args.npages++] = 0;
    args.cpages++;
  }
}

/** Result of {@link collectHugePmd}: the chunk is done, or continue with the PTEs. */
const DONE = 0;
const AGAIN = 1;
const PTES = 2;

/** migrate_vma_collect_pmd for one PMD entry's part `[start, end)` of the range. */
async function collectPmd(args: MigrateVma, pmdOff: number, start: number, end: number): Promise<void> {
  const mm = args.vma.mm;
  const k = mm.kernel;
  for (;;) {
    const lo = k.pt.words[pmdOff]!;
    if ((lo & PTE_KIND_MASK) === PTE_NONE) return collectHole(args, start, end);
    if ((lo & PTE_LEAF) !== 0) {
      const r = await collectHugePmd(args, pmdOff, start, end);
      if (r === AGAIN) continue;
      if (r === DONE) return;
    }
    if ((k.pt.words[pmdOff]! & PTE_KIND_MASK) !== PTE_TABLE) return collectHole(args, start, end);
    const again = await collectPtes(args, pmdOff, start, end);
    if (!again) return;
  }
}

/** migrate_vma_collect_huge_pmd. */
async function collectHugePmd(args: MigrateVma, pmdOff: number, start: number, end: number): Promise<number> {
  const mm = args.vma.mm;
  const k = mm.kernel;
  const pm = k.pm;
  const lo = k.pt.words[pmdOff]!;
  const kind = lo & PTE_KIND_MASK;
  const head = k.pt.words[pmdOff + 1]!;
  let write = 0;
  if (kind === PTE_PRESENT) {
    if ((args.flags & MIGRATE_VMA_SELECT_SYSTEM) === 0) {
      collectSkip(args, start, end);
      return DONE;
    }
    if (pm.isZeroPfn(head)) {
      collectHole(args, start, end);
      return DONE;
    }
    if ((lo & PTE_WRITE) !== 0) write = MIGRATE_PFN_WRITE;
  } else {
    if (
      !isDevicePrivateKind(kind) ||
      (args.flags & MIGRATE_VMA_SELECT_DEVICE_PRIVATE) === 0 ||
      k.pgmapOf(head)?.owner !== args.pgmapOwner
    ) {
      collectSkip(args, start, end);
      return DONE;
    }
    if (kind === PTE_DEVICE_PRIVATE_WRITE) write = MIGRATE_PFN_WRITE;
  }
  const faultFolio = args.faultPage ? pm.folioHead(args.faultPage) : 0;
  k.getPage(head);
  if (head !== faultFolio && !trylockPage(k, head)) {
    k.putPage(head);
    collectSkip(args, start, end);
    return DONE;
  }
  if ((args.flags & MIGRATE_VMA_SELECT_COMPOUND) !== 0 && start % PMD_SIZE === 0 && end % PMD_SIZE === 0) {
    if (setPmdMigrationEntry(k, pmdOff, head)) {
      args.src[args.npages] = migratePfn(head) + write + MIGRATE_PFN_MIGRATE + MIGRATE_PFN_COMPOUND;
      args.dst[args.npages++] = 0;
      args.cpages++;
      collectSkip(args, start + PAGE_SIZE, end);
      return DONE;
    }
  }
  // Fallback: split the folio and collect its pages one by one.
  const ok = await trySplitFolio(mm, head, Math.floor(start / PMD_SIZE) * PMD_SIZE, 1);
  if (head !== faultFolio) unlockPage(k, head);
  k.putPage(head);
  if (!ok) {
    collectSkip(args, start, end);
    return DONE;
  }
  if ((k.pt.words[pmdOff]! & PTE_KIND_MASK) === PTE_NONE) {
    collectHole(args, start, end);
    return DONE;
  }
  return PTES;
}

/**
 * set_pmd_migration_entry: the PMD mapping becomes a PMD migration entry (writable, readable-
 * exclusive or readable), dropping its mapping reference. Fails for a pinned exclusive page.
 */
function setPmdMigrationEntry(k: Kernel, pmdOff: number, head: number): boolean {
  const pm = k.pm;
  const lo = k.pt.words[pmdOff]!;
  const kind = lo & PTE_KIND_MASK;
  const exclusive = (pm.flags[head]! & (PG_anon | PG_anon_exclusive)) === (PG_anon | PG_anon_exclusive);
  if (exclusive && pm.refcount[head]! >= GUP_PIN_COUNTING_BIAS) return false;
  const writable = kind === PTE_PRESENT ? (lo & PTE_WRITE) !== 0 : kind === PTE_DEVICE_PRIVATE_WRITE;
  if ((lo & PTE_DIRTY) !== 0) pm.flags[head]! |= PG_dirty;
  if (exclusive) for (let i = 0; i < HPAGE_PMD_NR; i++) pm.flags[head + i]! &= ~PG_anon_exclusive;
  const mkind = writable
    ? PTE_MIGRATION_WRITE
    : exclusive
      ? PTE_MIGRATION_READ_EXCLUSIVE
      : PTE_MIGRATION_READ;
  k.pt.words[pmdOff] = mkind | PTE_LEAF | (lo & (PTE_DIRTY | PTE_YOUNG | PTE_SOFT_DIRTY));
  // pmdp_invalidate flushes a present PMD's translation.
  if (kind === PTE_PRESENT) k.chargeTlbShootdown();
  pm.entireMapcount[head]!--;
  k.putPage(head);
  return true;
}

/** The PTE loop of migrate_vma_collect_pmd. Returns true when the PMD must be looked at again (a folio was split). */
async function collectPtes(args: MigrateVma, pmdOff: number, start: number, end: number): Promise<boolean> {
  const vma = args.vma;
  const mm = vma.mm;
  const k = mm.kernel;
  const pm = k.pm;
  const faultFolio = args.faultPage ? pm.folioHead(args.faultPage) : 0;
  const t = k.pt.words[pmdOff + 1]!;
  const firstSlot = args.npages;
  // Present PTEs replaced by migration entries: flush_tlb_range once for the table if any.
  let unmapped = 0;
  // The loop counts pages (small integers) and makes an address only where one is needed: in
  // this async function, a double loop variable would be boxed on every iteration.
  // `&` rather than `%`: the page number is a non-negative integer, and `%` on a double is slow.
  const first = (t * PTRS_PER_TABLE + ((start / PAGE_SIZE) & (PTRS_PER_TABLE - 1))) * 2;
  const n = (end - start) / PAGE_SIZE;
  for (let p = 0; p < n; p++) {
    const off = first + 2 * p;
    const lo = k.pt.words[off]!;
    const kind = lo & PTE_KIND_MASK;
    let mpfn = 0;
    let page = 0;
    if (kind === PTE_NONE) {
      if (vma.isAnonymous) {
        mpfn = MIGRATE_PFN_MIGRATE;
        args.cpages++;
      }
      next(args, mpfn);
      continue;
    }
    if (kind !== PTE_PRESENT) {
      // Only device-private entries can migrate; swap, migration and exclusive entries stay.
      if (!isDevicePrivateKind(kind)) {
        next(args, 0);
        continue;
      }
      page = k.pt.words[off + 1]!;
      if (
        (args.flags & MIGRATE_VMA_SELECT_DEVICE_PRIVATE) === 0 ||
        k.pgmapOf(page)?.owner !== args.pgmapOwner
      ) {
        next(args, 0);
        continue;
      }
      if (pm.order[page] !== 0) {
        // 6.12 leaves a PTE-mapped large folio where it is ("FIXME support THP").
        if (k.kernelVersion === '6.12') {
          next(args, 0);
          continue;
        }
        const addr = start + p * PAGE_SIZE;
        if (await splitForCollect(args, page, addr)) return rewind(args, firstSlot);
        collectSkip(args, addr, end);
        return false;
      }
      mpfn =
        migratePfn(page) + MIGRATE_PFN_MIGRATE + (kind === PTE_DEVICE_PRIVATE_WRITE ? MIGRATE_PFN_WRITE : 0);
    } else {
      const pfn = k.pt.words[off + 1]!;
      if (pm.isZeroPfn(pfn) && (args.flags & MIGRATE_VMA_SELECT_SYSTEM) !== 0) {
        args.cpages++;
        next(args, MIGRATE_PFN_MIGRATE);
        continue;
      }
      page = (lo & PTE_SPECIAL) !== 0 || pm.isZeroPfn(pfn) ? 0 : pfn; // vm_normal_page
      const zoneDevice = page !== 0 && (pm.flags[page]! & PG_zone_device) !== 0;
      if (page !== 0 && !zoneDevice && (args.flags & MIGRATE_VMA_SELECT_SYSTEM) === 0) {
        next(args, 0);
        continue;
      }
      if (
        zoneDevice &&
        ((args.flags & MIGRATE_VMA_SELECT_DEVICE_COHERENT) === 0 ||
          k.pgmapOf(page)?.owner !== args.pgmapOwner)
      ) {
        next(args, 0);
        continue;
      }
      if (page !== 0 && pm.order[page] !== 0) {
        // 6.12 leaves a PTE-mapped large folio where it is ("FIXME support THP"); mainline
        // splits it (the device-private THP migration series).
        if (k.kernelVersion === '6.12') {
          next(args, 0);
          continue;
        }
        const addr = start + p * PAGE_SIZE;
        if (await splitForCollect(args, page, addr)) return rewind(args, firstSlot);
        collectSkip(args, addr, end);
        return false;
      }
      mpfn = migratePfn(pfn) + MIGRATE_PFN_MIGRATE + ((lo & PTE_WRITE) !== 0 ? MIGRATE_PFN_WRITE : 0);
    }
    if (page === 0 || pm.mapping[page] === 0) {
      next(args, 0);
      continue;
    }
    // A reference pins the page; with its lock held a migration entry can replace the PTE now
    // (the common single-mapping case, avoiding an rmap walk later).
    k.getPage(page);
    if (faultFolio === page || trylockPage(k, page)) {
      const anonExclusive =
        (pm.flags[page]! & (PG_anon | PG_anon_exclusive)) === (PG_anon | PG_anon_exclusive);
      if (anonExclusive) {
        // folio_try_share_anon_rmap_pte fails for a possibly pinned page.
        if (pm.refcount[page]! >= GUP_PIN_COUNTING_BIAS) {
          if (faultFolio !== page) unlockPage(k, page);
          k.putPage(page);
          next(args, 0);
          continue;
        }
        pm.flags[page]! &= ~PG_anon_exclusive;
      }
      args.cpages++;
      // M3 (docs/mutants.md; fixed by fd35ca3d12cc): the PTE's dirty bit reaches neither the
      // page nor the migration entry (migration entries carried no dirty bit before 6.1).
      const dirty = k.quirks.collectDropsDirty ? 0 : PTE_DIRTY;
      if ((lo & dirty) !== 0) pm.flags[page]! |= PG_dirty;
      const mkind = mpfnHas(mpfn, MIGRATE_PFN_WRITE)
        ? PTE_MIGRATION_WRITE
        : anonExclusive
          ? PTE_MIGRATION_READ_EXCLUSIVE
          : PTE_MIGRATION_READ;
      const keep = kind === PTE_PRESENT ? lo & (dirty | PTE_YOUNG | PTE_SOFT_DIRTY) : lo & PTE_SOFT_DIRTY;
      k.pt.words[off] = mkind | keep;
      k.pt.words[off + 1] = page;
      // M2 (docs/mutants.md; fixed by 60bae7370896): the CPU keeps the cleared translation
      // until the flush below, done after the page-table lock is dropped.
      if (k.quirks.collectFlushesAfterUnlock && kind === PTE_PRESENT)
        staleTlbInsert(mm, start / PAGE_SIZE + p, page, (lo & PTE_WRITE) !== 0);
      if (kind === PTE_PRESENT) unmapped++;
      pm.mapcount[page]!--;
      k.putPage(page);
    } else {
      k.putPage(page);
      mpfn = 0;
    }
    next(args, mpfn);
  }
  if (unmapped > 0) k.chargeTlbShootdown();
  if (k.quirks.collectFlushesAfterUnlock) {
    // M2: pte_unmap_unlock, then flush_tlb_range: other threads may run in between.
    const p = k.sched.point('migrate_vma_collect_pmd: flush_tlb_range after pte_unmap_unlock');
    if (p) await p;
    staleTlbFlush(mm, start / PAGE_SIZE, end / PAGE_SIZE);
  }
  return false;
}

function next(args: MigrateVma, mpfn: number): void {
  args.dst[args.npages] = 0;
  args.src[args.npages++] = mpfn;
}

/** After a split, the PMD's slots are collected again from the start of the chunk. */
function rewind(args: MigrateVma, firstSlot: number): boolean {
  // Slots already written for this chunk before the split are re-collected; their pages were
  // turned into migration entries, which the second pass skips, so restore them first.
  for (let i = firstSlot; i < args.npages; i++) {
    if (migratePfnToPage(args.src[i]!) !== 0)
      kernelBug('migrate collect: cannot rewind over collected pages');
    if (mpfnHas(args.src[i]!, MIGRATE_PFN_MIGRATE)) args.cpages--;
  }
  args.npages = firstSlot;
  return true;
}

/** migrate_vma_split_folio: split a PTE-mapped large folio before collecting its pages. */
async function splitForCollect(args: MigrateVma, page: number, addr: number): Promise<boolean> {
  const mm = args.vma.mm;
  const k = mm.kernel;
  const head = k.pm.folioHead(page);
  const faultFolio = args.faultPage ? k.pm.folioHead(args.faultPage) : 0;
  if (head !== faultFolio) {
    k.getPage(head);
    if (!trylockPage(k, head)) {
      k.putPage(head);
      return false;
    }
  }
  // split_folio needs the splitter's own reference: ours, or for the fault folio the one the
  // fault path (do_swap_page) took with its lock. Not counting it made the split of a PTE-mapped
  // device-private THP fail on every CPU fault, and the fault retry forever.
  const ok = await trySplitFolio(mm, head, Math.floor(addr / PMD_SIZE) * PMD_SIZE, 1);
  if (head !== faultFolio) {
    unlockPage(k, head);
    k.putPage(head);
  } else if (ok && args.faultPage !== head) {
    // The lock and reference stay with the old head: move them to the faulting page's own folio,
    // which the fault path unlocks and puts when migrate_to_ram returns.
    k.getPage(args.faultPage);
    trylockPage(k, args.faultPage);
    unlockPage(k, head);
    k.putPage(head);
  }
  return ok;
}

/**
 * migrate_vma_check_page: false when the page is pinned (more references than expected).
 * `mapcount` is the folio's total mapcount, which the caller has just computed.
 */
function migrateVmaCheckPage(k: Kernel, page: number, faultPage: number, mapcount: number): boolean {
  const pm = k.pm;
  const head = pm.folioHead(page);
  // M1 (CVE-2022-3523): the fault path holds no reference, and none is expected of it.
  let extra = 1 + (page === faultPage && !k.quirks.devicePrivateFaultUnreferenced ? 1 : 0);
  if ((pm.flags[head]! & PG_zone_device) !== 0) extra++;
  if ((pm.flags[head]! & PG_file) !== 0) extra++;
  return pm.refcount[head]! - extra <= mapcount;
}

function totalMapcount(k: Kernel, head: number): number {
  const pm = k.pm;
  let n = pm.entireMapcount[head]!;
  const nr = pm.folioNrPages(head);
  for (let i = 0; i < nr; i++) n += pm.mapcount[head + i]!;
  return n;
}

/**
 * migrate_device_unmap: isolates system pages from the LRU, unmaps remaining mappings
 * (try_to_migrate), and restores the pages that are still mapped or pinned. Returns the number
 * of slots still migrating (empty ones included).
 */
async function migrateDeviceUnmap(
  k: Kernel,
  src: Float64Array,
  npages: number,
  faultPage: number,
): Promise<number> {
  const pm = k.pm;
  const faultFolio = faultPage ? pm.folioHead(faultPage) : 0;
  let restore = 0;
  let unmapped = 0;
  // Base pages in the slots that stay migrating (a compound slot holds 512), for the cost.
  let pages = 0;
  for (let i = 0; i < npages; ) {
    const page = migratePfnToPage(src[i]!);
    if (page === 0) {
      if (mpfnHas(src[i]!, MIGRATE_PFN_MIGRATE)) {
        unmapped++;
        pages += mpfnHas(src[i]!, MIGRATE_PFN_COMPOUND) ? HPAGE_PMD_NR : 1;
      }
      i++;
      continue;
    }
    const head = pm.folioHead(page);
    const nr = pm.folioNrPages(head);
    if (nr > 1) src[i] = mpfnSet(src[i]!, MIGRATE_PFN_COMPOUND);
    const zoneDevice = (pm.flags[head]! & PG_zone_device) !== 0;
    if (!zoneDevice) {
      if ((pm.flags[head]! & PG_lru) === 0) {
        src[i] = mpfnClear(src[i]!, MIGRATE_PFN_MIGRATE);
        restore++;
        i += nr;
        continue;
      }
      // folio_isolate_lru takes a reference; the collect reference is dropped.
      pm.flags[head]! &= ~PG_lru;
    }
    let mapped = totalMapcount(k, head);
    if (mapped > 0) {
      await tryToMigrate(k, head);
      mapped = totalMapcount(k, head);
    }
    if (mapped > 0 || !migrateVmaCheckPage(k, page, faultPage, mapped)) {
      if (!zoneDevice) pm.flags[head]! |= PG_lru;
      src[i] = mpfnClear(src[i]!, MIGRATE_PFN_MIGRATE);
      restore++;
      i += nr;
      continue;
    }
    unmapped++;
    pages += nr;
    i += nr;
  }
  // The migration's work per folio (isolate, unmap, lock, move the mapping, remove the migration
  // entries, unlock) and per page (the collect walk, the pfn arrays), charged once here for the
  // whole setup → pages → finalize sequence.
  const c = k.costs;
  k.work.migrateFolios += unmapped;
  k.work.migratePages += pages;
  k.sched.clock.advance(unmapped * c.migrateVmaFolioNs + pages * c.migrateVmaPageNs);
  for (let i = 0; i < npages && restore > 0; i++) {
    const page = migratePfnToPage(src[i]!);
    if (page === 0 || mpfnHas(src[i]!, MIGRATE_PFN_MIGRATE)) continue;
    const head = pm.folioHead(page);
    removeMigrationPtes(k, head, head);
    src[i] = 0;
    if (faultFolio !== head) unlockPage(k, head);
    k.putPage(head);
    restore--;
  }
  return unmapped;
}

/**
 * `migrate_vma_pages`: commits each slot whose driver gave a destination: struct-page state moves
 * from source to destination (which must hold only the expected references), empty slots get the
 * destination inserted (one MIGRATE invalidation from the first insertion to `end`). Slots that
 * cannot move lose MIGRATE_PFN_MIGRATE.
 */
export async function migrateVmaPages(args: MigrateVma): Promise<void> {
  await migrateDevicePagesInternal(args.vma.mm.kernel, args.src, args.dst, args.npages, args);
}

/** `migrate_device_pages`: the same for device pfns collected by {@link migrateDeviceRange}. */
export async function migrateDevicePages(
  k: Kernel,
  src: Float64Array,
  dst: Float64Array,
  npages: number,
): Promise<void> {
  await migrateDevicePagesInternal(k, src, dst, npages, null);
}

async function migrateDevicePagesInternal(
  k: Kernel,
  src: Float64Array,
  dst: Float64Array,
  npages: number,
  migrate: MigrateVma | null,
): Promise<void> {
  const pm = k.pm;
  const traced = k.bus.on;
  const spanName = migrate !== null ? 'migrate_vma_pages' : 'migrate_device_pages';
  if (traced) traceMigrate(k, 'B', spanName, { npages });
  if (k.observer !== null) checkPagesLocked(k, spanName, src, dst, npages);
  let range: MmuNotifierRange | null = null;
  for (let i = 0; i < npages; ) {
    const newpage = migratePfnToPage(dst[i]!);
    const page = migratePfnToPage(src[i]!);
    let nr = 1;
    if (newpage === 0) {
      src[i] = mpfnClear(src[i]!, MIGRATE_PFN_MIGRATE);
      i++;
      continue;
    }
    if (page === 0) {
      if (!mpfnHas(src[i]!, MIGRATE_PFN_MIGRATE) || migrate === null) {
        i++;
        continue;
      }
      const addr = migrate.start + i * PAGE_SIZE;
      if (range === null) {
        range = mmuNotifierRangeInit(
          migrate.vma.mm,
          MMU_NOTIFY_MIGRATE,
          addr,
          migrate.end,
          migrate.pgmapOwner,
        );
        await mmuNotifierInvalidateRangeStart(range);
      }
      if (mpfnHas(src[i]!, MIGRATE_PFN_COMPOUND) && !mpfnHas(dst[i]!, MIGRATE_PFN_COMPOUND)) {
        nr = HPAGE_PMD_NR;
        src[i] = mpfnClear(src[i]!, MIGRATE_PFN_COMPOUND);
      }
      for (let j = 0; j < nr && i + j < npages; j++) {
        src[i + j] = mpfnSet(src[i + j]!, MIGRATE_PFN_MIGRATE);
        await migrateVmaInsertPage(migrate, addr + j * PAGE_SIZE, dst, src, i + j);
      }
      i += nr;
      continue;
    }
    const head = pm.folioHead(page);
    if (
      mpfnHas(src[i]!, MIGRATE_PFN_MIGRATE) &&
      mpfnHas(src[i]!, MIGRATE_PFN_COMPOUND) &&
      !mpfnHas(dst[i]!, MIGRATE_PFN_COMPOUND)
    ) {
      if (
        migrate === null ||
        !(await migrateVmaSplitUnmappedFolio(migrate, i, migrate.start + i * PAGE_SIZE, head))
      ) {
        src[i] = mpfnClear(src[i]!, MIGRATE_PFN_MIGRATE | MIGRATE_PFN_COMPOUND);
        i++;
        continue;
      }
      nr = HPAGE_PMD_NR;
    } else if (
      mpfnHas(src[i]!, MIGRATE_PFN_MIGRATE) &&
      mpfnHas(dst[i]!, MIGRATE_PFN_COMPOUND) &&
      !mpfnHas(src[i]!, MIGRATE_PFN_COMPOUND)
    ) {
      src[i] = mpfnClear(src[i]!, MIGRATE_PFN_MIGRATE);
    }
    const newZoneDevice = (pm.flags[newpage]! & PG_zone_device) !== 0;
    if (newZoneDevice && (pm.flags[head]! & PG_file) !== 0) {
      // Only anonymous memory moves to device memory.
      src[i] = mpfnClear(src[i]!, MIGRATE_PFN_MIGRATE);
      i += nr;
      continue;
    }
    // M1 (CVE-2022-3523): the fault path holds no reference, and none is expected of it.
    const extra =
      migrate !== null && migrate.faultPage === page && !k.quirks.devicePrivateFaultUnreferenced ? 1 : 0;
    for (let j = 0; j < nr && i + j < npages; j++) {
      if (!mpfnHas(src[i + j]!, MIGRATE_PFN_MIGRATE)) continue;
      const s = migratePfnToPage(src[i + j]!);
      const d = migratePfnToPage(dst[i + j]!);
      if (d === 0 || !folioMigrateMapping(k, d, s, extra))
        src[i + j] = mpfnClear(src[i + j]!, MIGRATE_PFN_MIGRATE);
    }
    i += nr;
  }
  if (range !== null) mmuNotifierInvalidateRangeEnd(range);
  if (traced && k.bus.on) traceMigrate(k, 'E', spanName, { migrated: migratedPages(src, dst, npages) });
}

/**
 * folio_migrate_mapping + folio_migrate_flags: the source must hold exactly the expected
 * references (the migration's own, plus the fault path's for the fault page); the destination
 * takes over its mapping, index and flags.
 */
function folioMigrateMapping(k: Kernel, dst: number, src: number, extra: number): boolean {
  const pm = k.pm;
  const srcHead = pm.folioHead(src);
  const dstHead = pm.folioHead(dst);
  const expected = 1 + extra + ((pm.flags[srcHead]! & PG_file) !== 0 ? 1 : 0);
  if (pm.refcount[srcHead] !== expected) return false;
  if ((pm.flags[srcHead]! & PG_file) !== 0) return false; // page-cache migration is not modelled
  const nr = pm.folioNrPages(srcHead);
  const carried = PG_anon | PG_dirty;
  for (let i = 0; i < nr; i++) {
    pm.mapping[dstHead + i] = pm.mapping[srcHead + i]!;
    pm.index[dstHead + i] = pm.index[srcHead + i]!;
    pm.flags[dstHead + i] = (pm.flags[dstHead + i]! & ~carried) | (pm.flags[srcHead + i]! & carried);
  }
  memCgroupMigrate(k, srcHead, dstHead);
  return true;
}

/** migrate_vma_split_unmapped_folio: a compound source going to small destinations is split (its PMD migration entry too). */
async function migrateVmaSplitUnmappedFolio(
  migrate: MigrateVma,
  idx: number,
  addr: number,
  head: number,
): Promise<boolean> {
  const mm = migrate.vma.mm;
  const k = mm.kernel;
  const pm = k.pm;
  // split_huge_pmd_address(vma, addr, freeze): the PMD migration entry becomes a table of PTE
  // migration entries, announced as CLEAR over the PMD like every __split_huge_pmd.
  await splitHugePmd(mm, Math.floor(addr / PMD_SIZE) * PMD_SIZE);
  // folio_split_unmapped: every new folio locked, holding one reference (the migration's).
  const locked = (pm.flags[head]! & PG_locked) !== 0;
  pm.splitFolioMetadata(head);
  memCgroupSplit(k, head, HPAGE_PMD_NR);
  for (let i = 0; i < HPAGE_PMD_NR; i++) {
    pm.refcount[head + i] = 1;
    if (locked) pm.flags[head + i]! |= PG_locked;
  }
  const pgmap = k.pgmapOf(head);
  pgmap?.folioSplit?.(head);
  migrate.src[idx] = mpfnClear(migrate.src[idx]!, MIGRATE_PFN_COMPOUND);
  const flags = mpfnFlags(migrate.src[idx]!);
  const pfn = Math.floor(migrate.src[idx]! / (1 << MIGRATE_PFN_SHIFT));
  for (let i = 1; i < HPAGE_PMD_NR; i++) migrate.src[idx + i] = migratePfn(pfn + i) - 1 + flags;
  return true;
}

/** migrate_vma_insert_page: an empty anonymous slot gets the destination page mapped. */
async function migrateVmaInsertPage(
  migrate: MigrateVma,
  addr: number,
  dst: Float64Array,
  src: Float64Array,
  i: number,
): Promise<void> {
  const vma = migrate.vma;
  const mm = vma.mm;
  const k = mm.kernel;
  const pm = k.pm;
  const page = migratePfnToPage(dst[i]!);
  const abort = (): void => {
    src[i] = mpfnClear(src[i]!, MIGRATE_PFN_MIGRATE);
  };
  if (!vma.isAnonymous) return abort();
  const pgmap = k.pgmapOf(page);
  const devicePrivate = pgmap?.isPrivate === true;
  if (mpfnHas(dst[i]!, MIGRATE_PFN_COMPOUND)) return migrateVmaInsertHugePmdPage(migrate, addr, page, src, i);
  let pmdOff = ensureEntry(k.pt, mm.pgd, addr / PAGE_SIZE, 2);
  if (pmdOff < 0) return abort();
  const pmd = k.pt.words[pmdOff]!;
  if ((pmd & PTE_LEAF) !== 0) {
    if ((pmd & PTE_KIND_MASK) !== PTE_PRESENT || !pm.isZeroPfn(k.pt.words[pmdOff + 1]!)) return abort();
    await splitHugePmd(mm, Math.floor(addr / PMD_SIZE) * PMD_SIZE);
    pmdOff = findEntry(k.pt, mm.pgd, addr / PAGE_SIZE, 2);
  }
  const off = ensureEntry(k.pt, mm.pgd, addr / PAGE_SIZE, 1);
  if (off < 0) return abort();
  const anon = anonVmaPrepare(vma);
  // mem_cgroup_charge(folio, vma->vm_mm, GFP_KERNEL): the destination (device-private pages too)
  // is charged to the mm's group; at the limit the slot is not migrated. A charge taken before a
  // later abort stays with the page until its owner frees it, as in the kernel.
  if (mm.memcg !== null && memCgroupCharge(k, mm, page, MEMCG_ANON, false) !== 0) return abort();
  const wr = (vma.flags & VM_WRITE) !== 0;
  let entry: number;
  if (devicePrivate) entry = wr ? PTE_DEVICE_PRIVATE_WRITE : PTE_DEVICE_PRIVATE_READ;
  else entry = PTE_PRESENT | PTE_YOUNG | (wr ? PTE_WRITE | PTE_DIRTY : 0);
  const orig = k.pt.words[off]!;
  const origKind = orig & PTE_KIND_MASK;
  if (origKind === PTE_PRESENT) {
    if (!pm.isZeroPfn(k.pt.words[off + 1]!)) return abort();
  } else if (origKind !== PTE_NONE) return abort();
  mm.rss[MM_ANONPAGES]!++;
  pm.flags[page]! |= PG_anon | PG_anon_exclusive | ((pm.flags[page]! & PG_zone_device) === 0 ? PG_lru : 0);
  pm.mapping[page] = anon.id;
  pm.index[page] = vma.pageIndex(addr);
  pm.mapcount[page]!++;
  k.getPage(page);
  k.pt.words[off] = entry;
  k.pt.words[off + 1] = page;
  src[i] = MIGRATE_PFN_MIGRATE;
}

/** migrate_vma_insert_huge_pmd_page: a compound destination fills an empty (or huge-zero) PMD. */
function migrateVmaInsertHugePmdPage(
  migrate: MigrateVma,
  addr: number,
  head: number,
  src: Float64Array,
  i: number,
): void {
  const vma = migrate.vma;
  const mm = vma.mm;
  const k = mm.kernel;
  const pm = k.pm;
  const abort = (): void => {
    for (let j = 0; j < HPAGE_PMD_NR && i + j < src.length; j++)
      src[i + j] = mpfnClear(src[i + j]!, MIGRATE_PFN_MIGRATE);
  };
  if (addr % PMD_SIZE !== 0 || addr < vma.start || addr + PMD_SIZE > vma.end) {
    abort();
    return;
  }
  const pmdOff = ensureEntry(k.pt, mm.pgd, addr / PAGE_SIZE, 2);
  if (pmdOff < 0) {
    abort();
    return;
  }
  const pmd = k.pt.words[pmdOff]!;
  if (
    (pmd & PTE_KIND_MASK) !== PTE_NONE &&
    !(
      (pmd & PTE_LEAF) !== 0 &&
      (pmd & PTE_KIND_MASK) === PTE_PRESENT &&
      pm.isZeroPfn(k.pt.words[pmdOff + 1]!)
    )
  ) {
    abort();
    return;
  }
  if (mm.memcg !== null && memCgroupCharge(k, mm, head, MEMCG_ANON, false) !== 0) {
    abort();
    return;
  }
  const pgmap = k.pgmapOf(head);
  const wr = (vma.flags & VM_WRITE) !== 0;
  let entry: number;
  if (pgmap?.isPrivate === true) entry = (wr ? PTE_DEVICE_PRIVATE_WRITE : PTE_DEVICE_PRIVATE_READ) | PTE_LEAF;
  else entry = PTE_PRESENT | PTE_LEAF | PTE_YOUNG | (wr ? PTE_WRITE | PTE_DIRTY : 0);
  initAnonFolio(vma, addr, head, (pm.flags[head]! & PG_zone_device) === 0);
  pm.flags[head]! |= PG_head;
  mm.rss[MM_ANONPAGES]! += HPAGE_PMD_NR;
  k.getPage(head);
  k.pt.words[pmdOff] = entry;
  k.pt.words[pmdOff + 1] = head;
}

/**
 * `migrate_vma_finalize`: each migration entry becomes a mapping of the destination (or of the
 * source, for slots that did not migrate); pages are unlocked (except the fault page) and the
 * migration's references dropped, freeing the old pages.
 */
export function migrateVmaFinalize(args: MigrateVma): void {
  migrateDeviceFinalizeInternal(args.vma.mm.kernel, args.src, args.dst, args.npages, args.faultPage);
}

/** `migrate_device_finalize`: the same for {@link migrateDeviceRange}. */
export function migrateDeviceFinalize(k: Kernel, src: Float64Array, dst: Float64Array, npages: number): void {
  migrateDeviceFinalizeInternal(k, src, dst, npages, 0);
}

function migrateDeviceFinalizeInternal(
  k: Kernel,
  src: Float64Array,
  dst: Float64Array,
  npages: number,
  faultPage: number,
): void {
  const pm = k.pm;
  const traced = k.bus.on;
  if (traced) traceMigrate(k, 'B', 'migrate_finalize', { npages, migrated: migratedPages(src, dst, npages) });
  countDeviceMigrations(k, src, dst, npages);
  const faultFolio = faultPage ? pm.folioHead(faultPage) : 0;
  // Neighbouring slots' pages are mapped by the same PTE table: remove_migration_ptes looks it
  // up once (nothing below changes a page table or a VMA). The machine's hint is reused (see
  // Kernel.rmapHint); a call nested under this one (a page_free that migrates) would make its own.
  const hint = k.rmapHint ?? new RmapHint();
  k.rmapHint = null;
  for (let i = 0; i < npages; i++) {
    const newpage = migratePfnToPage(dst[i]!);
    const page = migratePfnToPage(src[i]!);
    let d = newpage !== 0 ? pm.folioHead(newpage) : 0;
    if (page === 0) {
      if (d !== 0) {
        unlockPage(k, d);
        k.putPage(d);
      }
      continue;
    }
    const s = pm.folioHead(page);
    if (!mpfnHas(src[i]!, MIGRATE_PFN_MIGRATE) || d === 0) {
      if (d !== 0) {
        unlockPage(k, d);
        k.putPage(d);
      }
      d = s;
    }
    if ((pm.flags[d]! & PG_zone_device) === 0) pm.flags[d]! |= PG_lru;
    removeMigrationPtesHinted(k, s, d, hint);
    if (faultFolio !== s) unlockPage(k, s);
    k.putPage(s);
    if (d !== s) {
      unlockPage(k, d);
      k.putPage(d);
    }
  }
  hint.reset();
  k.rmapHint = hint;
  if (traced) traceMigrate(k, 'E', 'migrate_finalize', {});
}

/**
 * What `migrate_vma_pages` / `migrate_device_pages` take for granted (checked for an observer):
 * every source page still migrating and every destination page the driver supplied is locked
 * (`VM_BUG_ON_FOLIO(!folio_test_locked())` in the folio move) and referenced.
 */
function checkPagesLocked(
  k: Kernel,
  where: string,
  src: Float64Array,
  dst: Float64Array,
  npages: number,
): void {
  const o = k.observer;
  if (o === null || !o.kernelAssert) return;
  const pm = k.pm;
  for (let i = 0; i < npages; i++) {
    if (!mpfnHas(src[i]!, MIGRATE_PFN_MIGRATE)) continue;
    const page = migratePfnToPage(src[i]!);
    const newpage = migratePfnToPage(dst[i]!);
    for (const [what, pfn] of [
      ['source', page],
      ['destination', newpage],
    ] as const) {
      if (pfn === 0) continue;
      const head = pm.folioHead(pfn);
      if ((pm.flags[head]! & PG_locked) === 0)
        o.kernelAssert(`${where}: ${what} page ${pfn} of slot ${i} is not locked`);
      else if (pm.refcount[head]! <= 0)
        o.kernelAssert(
          `${where}: ${what} page ${pfn} of slot ${i} has no reference (refcount ${pm.refcount[head]})`,
        );
    }
  }
}

/** migrate_device_pfn_lock: a referenced, locked device page in use, or 0. */
function migrateDevicePfnLock(k: Kernel, pfn: number): number {
  const pm = k.pm;
  if (pm.refcount[pfn] === 0 || pm.folioHead(pfn) !== pfn) return 0;
  k.getPage(pfn);
  if (!trylockPage(k, pfn)) {
    k.putPage(pfn);
    return 0;
  }
  return migratePfn(pfn) + MIGRATE_PFN_MIGRATE;
}

/**
 * `migrate_device_range`: collects the in-use pages of device pfns `[start, start + npages)`
 * (referenced and locked; large folios as compound slots) and unmaps them everywhere, for a
 * driver evicting its memory without knowing the virtual mappings.
 */
export async function migrateDeviceRange(
  k: Kernel,
  src: Float64Array,
  start: number,
  npages: number,
): Promise<number> {
  const pm = k.pm;
  if (k.bus.on) traceMigrate(k, 'B', 'migrate_device_range', { pfn: start, npages });
  for (let i = 0; i < npages; i++) {
    const pfn = start + i;
    src[i] = migrateDevicePfnLock(k, pfn);
    const nr = pm.folioHead(pfn) === pfn ? pm.folioNrPages(pfn) : 1;
    if (nr > 1) {
      if (src[i] !== 0) src[i] = mpfnSet(src[i]!, MIGRATE_PFN_COMPOUND);
      for (let j = 1; j < nr && i + j < npages; j++) src[i + j] = 0;
      i += nr - 1;
    }
  }
  await migrateDeviceUnmap(k, src, npages, 0);
  if (k.bus.on) traceMigrate(k, 'E', 'migrate_device_range', { cpages: countMigrating(src, npages) });
  return 0;
}

/** Slots still marked MIGRATE_PFN_MIGRATE (collected and unmapped), for traces. */
function countMigrating(src: Float64Array, npages: number): number {
  let n = 0;
  for (let i = 0; i < npages; i++) if (mpfnHas(src[i]!, MIGRATE_PFN_MIGRATE)) n++;
  return n;
}

/** migrate_device_unmap for callers outside this module (a single coherent folio). */
export async function migrateDeviceUnmapOnly(k: Kernel, src: Float64Array, npages: number): Promise<number> {
  return migrateDeviceUnmap(k, src, npages, 0);
}

/** Waits until a migrating page is unlocked (for callers that found a migration entry). */
export async function migrationEntryWait(k: Kernel, pfn: number): Promise<void> {
  await waitOnPageLocked(k, pfn);
}

/** @internal kinds a migration may leave behind, for assertions in tests. */
export function isMigrationEntryKind(kind: number): boolean {
  return isMigrationKind(kind);
}
