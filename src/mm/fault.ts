/**
 * The page-fault handler (`handle_mm_fault`, mm/memory.c and mm/huge_memory.c): anonymous
 * faults (zero page, new page, THP), copy-on-write, swap-in, file pages through the page cache,
 * hugetlb, driver-inserted special mappings, migration-entry waits, device-private pages
 * (`migrate_to_ram`) and device-exclusive entries. The caller holds the mmap lock.
 *
 * Result: 0 (handled, or retry: the caller re-checks the page tables), or VM_FAULT_* error bits.
 * @module
 */

import { kernelBug } from '../sim/errors.ts';
import { anonVmaPrepare } from './anon-vma.ts';
import {
  FAULT_FLAG_UNSHARE,
  FAULT_FLAG_WRITE,
  HPAGE_PMD_NR,
  HPAGE_PMD_ORDER,
  MM_ANONPAGES,
  MM_SWAPENTS,
  PAGE_SIZE,
  PMD_SIZE,
  VM_FAULT_HWPOISON,
  VM_FAULT_OOM,
  VM_FAULT_SIGBUS,
  VM_MAYSHARE,
  VM_SHARED,
  VM_WRITE,
} from './constants.ts';
import { deferredSplitFolio, deferredSplitScan } from './deferred-split.ts';
import { getFilePage } from './filemap.ts';
import { splitHugePmd, thpEligible } from './huge-memory.ts';
import { allocHugetlbFolio, hstateVma } from './hugetlb.ts';
import { hugetlbfsGetFolio } from './hugetlbfs.ts';
import type { Kernel } from './kernel.ts';
import { MEMCG_ANON, memCgroupCharge } from './memcontrol.ts';
import {
  MMU_NOTIFY_CLEAR,
  MMU_NOTIFY_EXCLUSIVE,
  MMU_NOTIFY_UNMAP,
  type MmuNotifierRange,
  mmuNotifierInvalidateRangeEnd,
  mmuNotifierInvalidateRangeStart,
  mmuNotifierRangeInit,
} from './mmu-notifier.ts';
import { doAnonymousLargeFolio } from './mthp.ts';
import { PG_anon, PG_anon_exclusive, PG_dirty, PG_lru, PG_swapbacked } from './page-flags.ts';
import { pageLocked, trylockPage, unlockPage, waitOnPageLocked } from './page-lock.ts';
import { ensureEntry, ensurePteUnderPmd, findEntry, walkToLeaf } from './page-table.ts';
import { HUGE_ZERO_PFN, ZERO_PFN } from './physmem.ts';
import {
  PTE_DEVICE_EXCLUSIVE,
  PTE_DEVICE_PRIVATE_READ,
  PTE_DEVICE_PRIVATE_WRITE,
  PTE_DIRTY,
  PTE_HWPOISON,
  PTE_KIND_MASK,
  PTE_LEAF,
  PTE_MARKER,
  PTE_MIGRATION_READ,
  PTE_MIGRATION_READ_EXCLUSIVE,
  PTE_MIGRATION_WRITE,
  PTE_NONE,
  PTE_PRESENT,
  PTE_PROTNONE,
  PTE_SOFT_DIRTY,
  PTE_SPECIAL,
  PTE_SWAP,
  PTE_WRITE,
  PTE_YOUNG,
} from './pte.ts';
import type { Vma } from './vma.ts';
import { wpCanReuseLargeAnonFolio } from './wp-reuse.ts';
import { zapHugePmd } from './zap.ts';

/** Internal: a huge-page path declined; continue at PTE level (VM_FAULT_FALLBACK). */
const FALLBACK = -1;

/**
 * `handle_mm_fault(vma, addr, flags)`: resolves one fault at `addr` inside `vma`. The caller has
 * checked the VMA's permissions and holds the mmap lock.
 */
export async function handleMmFault(vma: Vma, addr: number, flags: number): Promise<number> {
  return handleMmFaultNoWait(vma, addr, flags);
}

/**
 * {@link handleMmFault} without a promise in the common case: returns the result itself when the
 * preemption point did not switch threads and the fault took no branch that sleeps (anonymous,
 * zero-page, file, swap-in, write-protect reuse faults), or a promise of the result otherwise.
 * The same steps run in the same order either way.
 */
export function handleMmFaultNoWait(vma: Vma, addr: number, flags: number): number | Promise<number> {
  const p = vma.mm.kernel.sched.point('handle_mm_fault');
  if (p) return p.then(() => faultAfterPoint(vma, addr, flags));
  return faultAfterPoint(vma, addr, flags);
}

function faultAfterPoint(vma: Vma, addr: number, flags: number): number | Promise<number> {
  vma.mm.kernel.stats.fault.total++;
  const write = (flags & FAULT_FLAG_WRITE) !== 0;
  addr = Math.floor(addr / PAGE_SIZE) * PAGE_SIZE;
  const k = vma.mm.kernel;
  if (k.bus.on) traceFaultBegin(vma, addr, write);
  k.work.pageFaults++;
  k.sched.clock.advance(k.costs.pageFaultNs);
  if ((flags & FAULT_FLAG_UNSHARE) !== 0 && !write)
    return vma.isHugetlb ? hugetlbUnshareFault(vma, addr) : unshareFault(vma, addr);
  // do_anonymous_page / do_huge_pmd_anonymous_page on a missing page of a registered VMA.
  if (vma.uffd !== null && userfaultfdMissing(vma, addr)) return userfaultFault(vma, addr, flags);
  const result = vma.isHugetlb ? hugetlbFault(vma, addr, write) : faultPmdReclaim(vma, addr, write);
  if (typeof result === 'number') {
    traceFault(vma, addr, write, result);
    return result;
  }
  return result.then((r) => {
    traceFault(vma, addr, write, r);
    return r;
  });
}

/**
 * {@link faultPmd}, with direct reclaim when it ran out of memory: the page allocator, finding no
 * free page, reclaims before it fails (`__alloc_pages_direct_reclaim`), and the only memory hmmsim
 * reclaims there is the deferred-split queue's (the shrinker splits partly unmapped THPs and frees
 * their unmapped pages). The fault then runs again; it changed nothing before its allocation.
 */
function faultPmdReclaim(vma: Vma, addr: number, write: boolean): number | Promise<number> {
  const k = vma.mm.kernel;
  const result = faultPmd(vma, addr, write);
  if (k.deferredSplitQueue.size === 0) return result;
  if (typeof result === 'number')
    return (result & VM_FAULT_OOM) !== 0 ? reclaimAndRetry(vma, addr, write, result) : result;
  return result.then((r) => ((r & VM_FAULT_OOM) !== 0 ? reclaimAndRetry(vma, addr, write, r) : r));
}

async function reclaimAndRetry(vma: Vma, addr: number, write: boolean, result: number): Promise<number> {
  const k = vma.mm.kernel;
  // Only a shortage of free pages reclaims here; a memory cgroup at its limit does not (its own
  // reclaim is not modelled: docs/semantics.md).
  if (k.pm.freeFrames !== 0 || (await deferredSplitScan(k)) === 0) return result;
  return faultPmd(vma, addr, write);
}

/** Opens the fault's span; the `fault` event of {@link traceFault} closes it. */
function traceFaultBegin(vma: Vma, addr: number, write: boolean): void {
  const k = vma.mm.kernel;
  k.bus.emit({
    type: 'span',
    time: k.sched.clock.now,
    thread: k.sched.current.name,
    phase: 'B',
    name: 'page_fault',
    args: { mm: vma.mm.id, addr, write },
  });
}

function traceFault(vma: Vma, addr: number, write: boolean, result: number): void {
  const k = vma.mm.kernel;
  if (k.bus.on)
    k.bus.emit({
      type: 'fault',
      time: k.sched.clock.now,
      thread: k.sched.current.name,
      mm: vma.mm.id,
      addr,
      write,
      result,
    });
}

/*
 * "May this sleep" has one answer throughout the fault handler: each level returns the result
 * itself when it finished without waiting, or a promise when it took a branch that sleeps (a
 * page-lock wait, a notifier invalidation that may call out, a huge PMD split, a driver's
 * `migrate_to_ram`), entering that branch at once — as hmm_range_fault's walk does. The common
 * faults (anonymous, zero page, file, swap-in, write-protect reuse) thus make no promise.
 */

/**
 * The PMD level of the fault (`__handle_mm_fault`). With `unshare` (the rest of an unshare fault
 * that found nothing to unshare) no THP is made for a missing PMD and a present huge leaf goes
 * to do_huge_pmd_wp_page.
 */
function faultPmd(vma: Vma, addr: number, write: boolean, unshare = false): number | Promise<number> {
  const mm = vma.mm;
  const k = mm.kernel;
  const vpn = addr / PAGE_SIZE;
  const pmdOff = ensureEntry(k.pt, mm.pgd, vpn, 2);
  if (pmdOff < 0) return 0;
  const lo = k.pt.words[pmdOff]!;
  const kind = lo & PTE_KIND_MASK;
  if (kind === PTE_NONE && !unshare && thpEligible(k, vma, addr)) {
    const r = doHugePmdAnonymousPage(vma, Math.floor(addr / PMD_SIZE) * PMD_SIZE, pmdOff, write);
    if (r !== FALLBACK) return r;
  } else if ((lo & PTE_LEAF) !== 0) {
    const head = k.pt.words[pmdOff + 1]!;
    if (kind === PTE_PRESENT) {
      if (unshare) return faultHugePmdWp(vma, addr, pmdOff, lo, head, false);
      if ((lo & PTE_PROTNONE) !== 0) {
        // do_huge_pmd_numa_page, checked before the write path as __handle_mm_fault does:
        // restore access (without it a fault on a protnone PMD would leave it inaccessible).
        k.pt.words[pmdOff] = (lo & ~PTE_PROTNONE) | PTE_YOUNG;
        return 0;
      }
      if (write && (lo & PTE_WRITE) === 0) {
        if (hugePmdWpReuse(vma, pmdOff, lo, head)) return 0;
        return faultHugePmdWp(vma, addr, pmdOff, lo, head, write); // the PMD must be split
      }
      k.pt.words[pmdOff]! |= PTE_YOUNG | (write ? PTE_DIRTY : 0);
      return 0;
    }
    if (kind >= PTE_MIGRATION_READ && kind <= PTE_MIGRATION_WRITE) return migrationEntryWait(k, head); // pmd_migration_entry_wait
    if (kind === PTE_DEVICE_PRIVATE_READ || kind === PTE_DEVICE_PRIVATE_WRITE) {
      // do_huge_pmd_device_private: vmf->page is the PMD entry's page, the folio head (the
      // driver migrates the folio, and migrate_vma_pages allows the fault's extra reference on
      // exactly that page).
      return doDevicePrivateFault(vma, addr, head, write);
    }
    return VM_FAULT_SIGBUS;
  }
  const pteOff = ensurePteUnderPmd(k.pt, pmdOff, vpn); // the PMD is unchanged since ensureEntry
  if (pteOff < 0) return 0; // a huge entry appeared meanwhile: retry
  return handlePteFault(vma, addr, pteOff, write);
}

/**
 * do_huge_pmd_wp_page on a read-only huge PMD that cannot be reused: copy or split (sleeps);
 * after a split the fault goes on at the PTE level.
 */
async function faultHugePmdWp(
  vma: Vma,
  addr: number,
  pmdOff: number,
  lo: number,
  head: number,
  write: boolean,
): Promise<number> {
  const r = await doHugePmdWpPage(vma, Math.floor(addr / PMD_SIZE) * PMD_SIZE, pmdOff, lo, head);
  if (r !== FALLBACK) return r;
  const mm = vma.mm;
  const pteOff = ensureEntry(mm.kernel.pt, mm.pgd, addr / PAGE_SIZE, 1);
  if (pteOff < 0) return 0; // a huge entry appeared meanwhile: retry
  return handlePteFault(vma, addr, pteOff, write);
}

/** migration_entry_wait: sleeps until the page under migration is unlocked; the fault is retried. */
async function migrationEntryWait(k: Kernel, pfn: number): Promise<number> {
  await waitOnPageLocked(k, pfn);
  return 0;
}

/** The PTE level of the fault (`handle_pte_fault`). */
function handlePteFault(vma: Vma, addr: number, off: number, write: boolean): number | Promise<number> {
  const k = vma.mm.kernel;
  const w = k.pt.words;
  const lo = w[off]!;
  const hi = w[off + 1]!;
  switch (lo & PTE_KIND_MASK) {
    case PTE_NONE:
    case PTE_MARKER:
      if (vma.isAnonymous) return doAnonymousPage(vma, addr, off, write);
      if (vma.vmOps !== null) return doSpecialFault(vma, addr, off, write);
      return doFileFault(vma, addr, off, write);
    case PTE_PRESENT:
      if ((lo & PTE_PROTNONE) !== 0) {
        w[off] = (lo & ~PTE_PROTNONE) | PTE_YOUNG; // do_numa_page: restore access
        return 0;
      }
      if (write && (lo & PTE_WRITE) === 0) return doWpPage(vma, addr, off, lo, hi);
      w[off] = lo | PTE_YOUNG | (write ? PTE_DIRTY : 0);
      return 0;
    case PTE_SWAP:
      return doSwapPage(vma, addr, off, hi, write);
    case PTE_MIGRATION_READ:
    case PTE_MIGRATION_READ_EXCLUSIVE:
    case PTE_MIGRATION_WRITE:
      return migrationEntryWait(k, hi);
    case PTE_DEVICE_PRIVATE_READ:
    case PTE_DEVICE_PRIVATE_WRITE:
      return doDevicePrivateFault(vma, addr, hi, write);
    case PTE_DEVICE_EXCLUSIVE:
      return removeDeviceExclusiveEntry(vma, addr, hi);
    case PTE_HWPOISON:
      return VM_FAULT_HWPOISON;
    default:
      kernelBug(`handle_mm_fault: unexpected PTE kind ${lo & PTE_KIND_MASK}`);
  }
}

/** True when a fault at `addr` finds no page: the walk ends at a none entry (userfaultfd_missing). */
function userfaultfdMissing(vma: Vma, addr: number): boolean {
  const mm = vma.mm;
  const pool = mm.kernel.pt;
  const off = walkToLeaf(pool, mm.pgd, Math.floor(addr / PAGE_SIZE));
  return (pool.words[off]! & PTE_KIND_MASK) === PTE_NONE;
}

/** handle_userfault, closing the fault's trace span (VM_FAULT_RETRY: the mmap lock was dropped). */
async function userfaultFault(vma: Vma, addr: number, flags: number): Promise<number> {
  const r = await vma.uffd!.handleUserfault(addr, flags);
  traceFault(vma, addr, (flags & FAULT_FLAG_WRITE) !== 0, r);
  return r;
}

/** Sets up a freshly allocated order-0 page as an exclusive anonymous page of `vma` at `addr`. */
export function initAnonPage(vma: Vma, addr: number, pfn: number): void {
  const k = vma.mm.kernel;
  const pm = k.pm;
  const anon = anonVmaPrepare(vma);
  pm.flags[pfn]! |= PG_anon | PG_anon_exclusive | PG_lru;
  pm.mapping[pfn] = anon.id;
  pm.index[pfn] = vma.pageIndex(addr);
  pm.mapcount[pfn] = 1;
}

/**
 * folio_add_new_anon_rmap for a PMD (or PUD) mapping: every page of the `nr`-page folio at `head` becomes
 * an exclusive anonymous page of `vma` at `haddr` onwards (on the LRU unless `lru` is false:
 * hugetlb and device folios are not), with one entire mapping.
 */
export function initAnonFolio(vma: Vma, haddr: number, head: number, lru: boolean, nr = HPAGE_PMD_NR): void {
  const pm = vma.mm.kernel.pm;
  const anon = anonVmaPrepare(vma);
  const index = vma.pageIndex(haddr);
  const bits = PG_anon | PG_anon_exclusive | (lru ? PG_lru : 0);
  for (let i = 0; i < nr; i++) {
    pm.flags[head + i]! |= bits;
    pm.mapping[head + i] = anon.id;
    pm.index[head + i] = index + i;
  }
  pm.entireMapcount[head] = 1;
}

/** do_anonymous_page: a read maps the zero page; a write maps a new zeroed page. */
function doAnonymousPage(vma: Vma, addr: number, off: number, write: boolean): number {
  const mm = vma.mm;
  const k = mm.kernel;
  if (mm.mmfUnstable) return VM_FAULT_SIGBUS; // check_stable_address_space, both paths
  if (!write) {
    k.pt.words[off] = PTE_PRESENT | PTE_SPECIAL | PTE_YOUNG;
    k.pt.words[off + 1] = ZERO_PFN;
    return 0;
  }
  // Multi-size THP (alloc_anon_folio): a large folio mapped by PTEs when a smaller size is on.
  if (k.thpSizes.anySmallEnabled && doAnonymousLargeFolio(vma, addr, off, (vma.flags & VM_WRITE) !== 0) > 0)
    return 0;
  const pfn = k.pm.allocPages(0);
  if (pfn === 0) return VM_FAULT_OOM;
  if (mm.memcg !== null && memCgroupCharge(k, mm, pfn, MEMCG_ANON, true) !== 0) {
    k.pm.freePages(pfn);
    return VM_FAULT_OOM;
  }
  initAnonPage(vma, addr, pfn);
  k.pt.words[off] = PTE_PRESENT | PTE_YOUNG | PTE_DIRTY | ((vma.flags & VM_WRITE) !== 0 ? PTE_WRITE : 0);
  k.pt.words[off + 1] = pfn;
  mm.rss[MM_ANONPAGES]!++;
  return 0;
}

/** do_huge_pmd_anonymous_page: huge zero page on read, a new THP on write; FALLBACK if none is free. */
function doHugePmdAnonymousPage(vma: Vma, haddr: number, pmdOff: number, write: boolean): number {
  const mm = vma.mm;
  const k = mm.kernel;
  const pm = k.pm;
  // vmf_anon_prepare() comes before the huge zero page (unlike do_anonymous_page), so fork copies
  // a huge zero PMD.
  anonVmaPrepare(vma);
  if (mm.mmfUnstable) return VM_FAULT_SIGBUS; // check_stable_address_space, huge zero page too
  if (!write) {
    k.pt.words[pmdOff] = PTE_PRESENT | PTE_LEAF | PTE_YOUNG;
    k.pt.words[pmdOff + 1] = HUGE_ZERO_PFN;
    return 0;
  }
  const head = pm.allocPages(HPAGE_PMD_ORDER);
  if (head === 0) return FALLBACK;
  if (mm.memcg !== null && memCgroupCharge(k, mm, head, MEMCG_ANON, false) !== 0) {
    pm.freePages(head); // THP_FAULT_FALLBACK_CHARGE
    return FALLBACK;
  }
  initAnonFolio(vma, haddr, head, true);
  k.pt.words[pmdOff] =
    PTE_PRESENT | PTE_LEAF | PTE_YOUNG | PTE_DIRTY | ((vma.flags & VM_WRITE) !== 0 ? PTE_WRITE : 0);
  k.pt.words[pmdOff + 1] = head;
  mm.rss[MM_ANONPAGES]! += HPAGE_PMD_NR;
  vma.mm.kernel.stats.fault.thp++;
  return 0;
}

/**
 * do_huge_pmd_wp_page: a write to the huge zero page gets a THP of its own (since 6.13); an
 * exclusive THP is reused; otherwise the PMD is split and the fault falls back to PTEs.
 */
async function doHugePmdWpPage(
  vma: Vma,
  haddr: number,
  pmdOff: number,
  lo: number,
  head: number,
): Promise<number> {
  const k = vma.mm.kernel;
  if (k.pm.isZeroPfn(head) && k.kernelVersion !== '6.12') {
    const r = await doHugeZeroWpPmd(vma, haddr, lo, head);
    if (r !== FALLBACK) return r;
  } else if (hugePmdWpReuse(vma, pmdOff, lo, head)) return 0;
  await splitHugePmd(vma.mm, haddr);
  return FALLBACK;
}

/**
 * do_huge_zero_wp_pmd (1ced09e0331f, "mm: allocate THP on hugezeropage wp-fault", 6.13): a zeroed
 * PMD-sized folio replaces the huge zero page under one CLEAR over the 2 MiB, mapped writable and
 * dirty; FALLBACK (split the PMD) when no THP can be had. If the PMD changed while the notifiers
 * ran, the folio is dropped and the fault retried.
 */
async function doHugeZeroWpPmd(vma: Vma, haddr: number, lo: number, zero: number): Promise<number> {
  const mm = vma.mm;
  const k = mm.kernel;
  const pm = k.pm;
  const head = pm.allocPages(HPAGE_PMD_ORDER); // vma_alloc_anon_folio_pmd: zeroed, charged
  if (head === 0) return FALLBACK;
  if (mm.memcg !== null && memCgroupCharge(k, mm, head, MEMCG_ANON, false) !== 0) {
    pm.freePages(head);
    return FALLBACK;
  }
  const range = mmuNotifierRangeInit(mm, MMU_NOTIFY_CLEAR, haddr, haddr + PMD_SIZE);
  await mmuNotifierInvalidateRangeStart(range);
  const pmdOff = findEntry(k.pt, mm.pgd, haddr / PAGE_SIZE, 2);
  const w = k.pt.words;
  let r = 0;
  if (pmdOff < 0 || w[pmdOff] !== lo || w[pmdOff + 1] !== zero) k.freeFolio(head);
  else if (mm.mmfUnstable) {
    k.freeFolio(head); // check_stable_address_space
    r = VM_FAULT_SIGBUS;
  } else {
    initAnonFolio(vma, haddr, head, true);
    w[pmdOff] =
      PTE_PRESENT | PTE_LEAF | PTE_YOUNG | PTE_DIRTY | ((vma.flags & VM_WRITE) !== 0 ? PTE_WRITE : 0);
    w[pmdOff + 1] = head;
    mm.rss[MM_ANONPAGES]! += HPAGE_PMD_NR;
    vma.mm.kernel.stats.fault.thp++;
  }
  mmuNotifierInvalidateRangeEnd(range);
  return r;
}

/**
 * The reuse half of do_huge_pmd_wp_page: makes an exclusive THP writable (an unshare fault only
 * marks it exclusive and leaves the PMD read-only); false if it cannot.
 */
function hugePmdWpReuse(vma: Vma, pmdOff: number, lo: number, head: number, unshare = false): boolean {
  const k = vma.mm.kernel;
  const pm = k.pm;
  if (!pm.isZeroPfn(head) && (pm.flags[head]! & PG_anon) !== 0) {
    let ptesMapped = 0;
    for (let i = 0; i < HPAGE_PMD_NR; i++) ptesMapped += pm.mapcount[head + i]!;
    const exclusive = (pm.flags[head]! & PG_anon_exclusive) !== 0;
    if (exclusive || (pm.refcount[head] === 1 && pm.entireMapcount[head] === 1 && ptesMapped === 0)) {
      for (let i = 0; i < HPAGE_PMD_NR; i++) pm.flags[head + i]! |= PG_anon_exclusive;
      if (!unshare) k.pt.words[pmdOff] = lo | PTE_WRITE | PTE_DIRTY | PTE_YOUNG;
      return true;
    }
  }
  return false;
}

/**
 * A fault with FAULT_FLAG_UNSHARE (GUP after `gup_must_unshare`): `wp_huge_pmd` and `do_wp_page`
 * with `unshare` set. A read-only PMD leaf is reused when its THP is exclusive or reusable (marked
 * exclusive, left read-only), the huge zero page gets a THP (mainline) and otherwise the PMD is
 * split; a read-only PTE's page is reused likewise or copied by `wp_page_copy` into an exclusive
 * page mapped read-only (CLEAR over the page). Anything else is an ordinary read fault.
 */
async function unshareFault(vma: Vma, addr: number): Promise<number> {
  const mm = vma.mm;
  const k = mm.kernel;
  const pm = k.pm;
  const vpn = addr / PAGE_SIZE;
  const pmdOff = findEntry(k.pt, mm.pgd, vpn, 2);
  let lo = pmdOff >= 0 ? k.pt.words[pmdOff]! : 0;
  if ((lo & (PTE_LEAF | PTE_KIND_MASK | PTE_WRITE | PTE_PROTNONE)) === (PTE_LEAF | PTE_PRESENT)) {
    const head = k.pt.words[pmdOff + 1]!;
    const haddr = Math.floor(addr / PMD_SIZE) * PMD_SIZE;
    let r = FALLBACK;
    if (pm.isZeroPfn(head)) {
      if (k.kernelVersion !== '6.12') r = await doHugeZeroWpPmd(vma, haddr, lo, head);
    } else if (hugePmdWpReuse(vma, pmdOff, lo, head, true)) r = 0;
    if (r !== FALLBACK) {
      traceFault(vma, addr, false, r);
      return r;
    }
    await splitHugePmd(mm, haddr);
  }
  const off = findEntry(k.pt, mm.pgd, vpn, 1);
  lo = off >= 0 ? k.pt.words[off]! : 0;
  if ((lo & (PTE_KIND_MASK | PTE_WRITE | PTE_PROTNONE)) === PTE_PRESENT) {
    const pfn = k.pt.words[off + 1]!;
    let r: number;
    if (!pm.isZeroPfn(pfn) && (lo & PTE_SPECIAL) === 0 && (pm.flags[pfn]! & PG_anon) !== 0) {
      const small = pm.order[pfn] === 0;
      if (
        (pm.flags[pfn]! & PG_anon_exclusive) !== 0 ||
        (small && pm.refcount[pfn] === 1 && pm.mapcount[pfn] === 1) ||
        wpCanReuseLargeAnonFolio(vma, pfn)
      ) {
        pm.flags[pfn]! |= PG_anon_exclusive; // reuse: nothing to copy, the PTE stays read-only
        r = 0;
      } else r = await wpPageCopy(vma, addr, lo, pfn, true);
    } else if ((lo & PTE_SPECIAL) !== 0 && !pm.isZeroPfn(pfn))
      r = 0; // no struct page: GUP refuses it
    else r = await wpPageCopy(vma, addr, lo, pfn, true);
    traceFault(vma, addr, false, r);
    return r;
  }
  const r = await faultPmd(vma, addr, false, true);
  traceFault(vma, addr, false, r);
  return r;
}

/**
 * do_wp_page: a write to a present read-only PTE. Reuse the page when it is ours alone, else copy
 * (wp_page_copy; a promise only when notifier subscriptions may sleep).
 */
function doWpPage(vma: Vma, addr: number, off: number, lo: number, pfn: number): number | Promise<number> {
  const k = vma.mm.kernel;
  const pm = k.pm;
  const w = k.pt.words;
  if (pm.isZeroPfn(pfn)) return wpPageCopyNoSleep(vma, addr, lo, pfn);
  if ((lo & PTE_SPECIAL) !== 0) {
    if ((vma.flags & VM_SHARED) !== 0) {
      w[off] = lo | PTE_WRITE | PTE_DIRTY | PTE_YOUNG; // wp_pfn_shared
      return 0;
    }
    return wpPageCopyNoSleep(vma, addr, lo, pfn);
  }
  const f = pm.flags[pfn]!;
  if ((f & PG_anon) !== 0) {
    const head = pm.folioHead(pfn);
    const small = head === pfn && pm.order[pfn] === 0;
    if (
      (f & PG_anon_exclusive) !== 0 ||
      (small && pm.refcount[pfn] === 1 && pm.mapcount[pfn] === 1) ||
      wpCanReuseLargeAnonFolio(vma, pfn)
    ) {
      pm.flags[pfn]! |= PG_anon_exclusive; // wp_page_reuse: no invalidation needed
      w[off] = lo | PTE_WRITE | PTE_DIRTY | PTE_YOUNG;
      return 0;
    }
    return wpPageCopyNoSleep(vma, addr, lo, pfn);
  }
  if ((vma.flags & VM_SHARED) !== 0) {
    pm.flags[pfn]! |= PG_dirty; // wp_page_shared
    w[off] = lo | PTE_WRITE | PTE_DIRTY | PTE_YOUNG;
    return 0;
  }
  return wpPageCopyNoSleep(vma, addr, lo, pfn);
}

/**
 * wp_page_copy: copies the page into a new anonymous page and replaces the PTE, announcing CLEAR
 * over the page. If the PTE changed while the notifiers ran, the copy is dropped and the fault
 * retried.
 */
async function wpPageCopy(
  vma: Vma,
  addr: number,
  oldLo: number,
  oldPfn: number,
  unshare = false,
): Promise<number> {
  const pfn = wpPageCopyAlloc(vma, oldPfn);
  if (pfn === 0) return VM_FAULT_OOM;
  const range = mmuNotifierRangeInit(vma.mm, MMU_NOTIFY_CLEAR, addr, addr + PAGE_SIZE);
  await mmuNotifierInvalidateRangeStart(range);
  return wpPageCopyInstall(vma, addr, oldLo, oldPfn, pfn, range, unshare);
}

/**
 * {@link wpPageCopy}, without a promise when the mm has no notifier subscription: the
 * invalidation then only emits its trace event and cannot wait, so the copy completes at once.
 */
function wpPageCopyNoSleep(vma: Vma, addr: number, oldLo: number, oldPfn: number): number | Promise<number> {
  if (vma.mm.notifierSubscriptions !== null) return wpPageCopy(vma, addr, oldLo, oldPfn);
  const pfn = wpPageCopyAlloc(vma, oldPfn);
  if (pfn === 0) return VM_FAULT_OOM;
  const range = mmuNotifierRangeInit(vma.mm, MMU_NOTIFY_CLEAR, addr, addr + PAGE_SIZE);
  void mmuNotifierInvalidateRangeStart(range); // settled at once: nobody to call
  return wpPageCopyInstall(vma, addr, oldLo, oldPfn, pfn, range);
}

/**
 * The new page of wp_page_copy, holding the old page's contents and charged to the mm's memory
 * cgroup; 0 when memory is exhausted or the charge failed (both VM_FAULT_OOM).
 */
function wpPageCopyAlloc(vma: Vma, oldPfn: number): number {
  const mm = vma.mm;
  const pm = mm.kernel.pm;
  const pfn = pm.allocPages(0);
  if (pfn === 0) return 0;
  if (mm.memcg !== null && memCgroupCharge(mm.kernel, mm, pfn, MEMCG_ANON, true) !== 0) {
    pm.freePages(pfn);
    return 0;
  }
  if (!pm.isZeroPfn(oldPfn)) pm.copyPage(pfn, oldPfn);
  return pfn;
}

/** The end of wp_page_copy, once the invalidation started: installs the copy unless the PTE changed. */
function wpPageCopyInstall(
  vma: Vma,
  addr: number,
  oldLo: number,
  oldPfn: number,
  pfn: number,
  range: MmuNotifierRange,
  unshare = false,
): number {
  const mm = vma.mm;
  const k = mm.kernel;
  const pm = k.pm;
  const off = findEntry(k.pt, mm.pgd, addr / PAGE_SIZE, 1);
  const w = k.pt.words;
  const same =
    off >= 0 &&
    (w[off]! & (PTE_KIND_MASK | PTE_WRITE)) === (oldLo & (PTE_KIND_MASK | PTE_WRITE)) &&
    w[off + 1] === oldPfn;
  if (!same) {
    k.freeFolio(pfn);
    mmuNotifierInvalidateRangeEnd(range);
    return 0;
  }
  initAnonPage(vma, addr, pfn);
  // ptep_clear_flush: the old translation goes from every CPU's TLB before the new one is set.
  k.chargeTlbShootdown();
  // An unshare copy keeps the old PTE's protection (read-only) and is not dirtied.
  w[off] =
    (unshare ? PTE_PRESENT | PTE_YOUNG : PTE_PRESENT | PTE_WRITE | PTE_DIRTY | PTE_YOUNG) |
    (oldLo & PTE_SOFT_DIRTY);
  w[off + 1] = pfn;
  mm.rss[MM_ANONPAGES]!++;
  if (!pm.isZeroPfn(oldPfn) && (oldLo & PTE_SPECIAL) === 0) {
    pm.mapcount[oldPfn]!--;
    mm.rss[k.mmCounterOf(oldPfn)]!--;
    const head = pm.folioHead(oldPfn);
    const large = pm.order[oldPfn] !== 0;
    k.putPage(oldPfn);
    if (large) deferredSplitFolio(k, head);
  }
  mmuNotifierInvalidateRangeEnd(range);
  vma.mm.kernel.stats.fault.cow++;
  return 0;
}

/** do_swap_page: reads the slot into a new exclusive anonymous page. */
function doSwapPage(vma: Vma, addr: number, off: number, slot: number, write: boolean): number {
  const mm = vma.mm;
  const k = mm.kernel;
  const pm = k.pm;
  const pfn = pm.allocPages(0);
  if (pfn === 0) return VM_FAULT_OOM;
  // mem_cgroup_swapin_charge_folio
  if (mm.memcg !== null && memCgroupCharge(k, mm, pfn, MEMCG_ANON, true) !== 0) {
    pm.freePages(pfn);
    return VM_FAULT_OOM;
  }
  const data = k.swap.read(slot);
  if (data !== null) pm.writeBytes(pfn, 0, data, 0, PAGE_SIZE);
  k.swap.swapIns++;
  initAnonPage(vma, addr, pfn);
  // The page is exclusive (a private copy): since 6.11 do_swap_page maps it writable even on a
  // read fault when the VMA allows writes, so the first write needs no second fault; dirty only
  // on a write fault.
  const writable = (vma.flags & VM_WRITE) !== 0;
  k.pt.words[off] = PTE_PRESENT | PTE_YOUNG | (writable ? PTE_WRITE : 0) | (write ? PTE_DIRTY : 0);
  k.pt.words[off + 1] = pfn;
  k.swap.free(slot);
  mm.rss[MM_SWAPENTS]!--;
  mm.rss[MM_ANONPAGES]!++;
  vma.mm.kernel.stats.fault.swapin++;
  return 0;
}

/**
 * do_read_fault / do_cow_fault / do_shared_fault: file pages come from the page cache. A private
 * write copies the page into a new anonymous page at once.
 */
function doFileFault(vma: Vma, addr: number, off: number, write: boolean): number {
  const mm = vma.mm;
  const k = mm.kernel;
  const pm = k.pm;
  const file = vma.file!;
  const pgidx = vma.pageIndex(addr);
  if (pgidx * PAGE_SIZE >= Math.ceil(file.size / PAGE_SIZE) * PAGE_SIZE) return VM_FAULT_SIGBUS;
  const cached = getFilePage(k, file, pgidx, mm);
  if (cached === 0) return VM_FAULT_OOM;
  const shared = (vma.flags & VM_SHARED) !== 0;
  // finish_fault checks private mappings even on a read: the reaper may have taken a COW copy.
  if (!shared && mm.mmfUnstable) return VM_FAULT_SIGBUS;
  if (!shared && write) {
    const pfn = pm.allocPages(0);
    if (pfn === 0) return VM_FAULT_OOM;
    if (mm.memcg !== null && memCgroupCharge(k, mm, pfn, MEMCG_ANON, true) !== 0) {
      pm.freePages(pfn);
      return VM_FAULT_OOM;
    }
    pm.copyPage(pfn, cached);
    initAnonPage(vma, addr, pfn);
    k.pt.words[off] = PTE_PRESENT | PTE_WRITE | PTE_DIRTY | PTE_YOUNG;
    k.pt.words[off + 1] = pfn;
    mm.rss[MM_ANONPAGES]!++;
    return 0;
  }
  pm.refcount[cached]!++;
  pm.mapcount[cached]!++;
  mm.rss[k.mmCounterOf(cached)]!++;
  // shmem has no dirty accounting, so a shared writable mapping maps its pages writable at once.
  const wr = shared && (vma.flags & VM_WRITE) !== 0 && (write || (pm.flags[cached]! & PG_swapbacked) !== 0);
  if (wr && write) pm.flags[cached]! |= PG_dirty;
  k.pt.words[off] = PTE_PRESENT | PTE_YOUNG | (wr ? PTE_WRITE : 0) | (write ? PTE_DIRTY : 0);
  k.pt.words[off + 1] = cached;
  return 0;
}

/** A fault in a driver's special mapping: its `fault` op supplies the page (filemap-like). */
function doSpecialFault(vma: Vma, addr: number, off: number, write: boolean): number {
  const fault = vma.vmOps!.fault;
  if (fault === undefined) return VM_FAULT_SIGBUS;
  const r = fault(vma, addr);
  if (r < 0) return -r;
  insertPageLocked(vma, off, r, write && (vma.flags & VM_SHARED) !== 0);
  return 0;
}

/** Maps a driver page with a struct page at PTE offset `off` (vm_insert_page). */
export function insertPageLocked(vma: Vma, off: number, pfn: number, writable: boolean): void {
  const mm = vma.mm;
  const k = mm.kernel;
  k.getPage(pfn);
  k.pm.mapcount[pfn]!++;
  mm.rss[k.mmCounterOf(pfn)]!++;
  k.pt.words[off] = PTE_PRESENT | PTE_YOUNG | (writable ? PTE_WRITE | PTE_DIRTY : 0);
  k.pt.words[off + 1] = pfn;
}

/**
 * A CPU access to a device-private entry (do_swap_page → `migrate_to_ram`): lock and reference
 * the page and ask its pagemap to bring it back. If the page lock is taken (a migration is in
 * progress), wait for it and retry.
 */
async function doDevicePrivateFault(vma: Vma, addr: number, pfn: number, write: boolean): Promise<number> {
  const k: Kernel = vma.mm.kernel;
  const pgmap = k.pgmapOf(pfn);
  if (pgmap === null) return VM_FAULT_SIGBUS;
  const quirks = k.quirks;
  // Failpoint M8 (docs/mutants.md#device-private-memory-and-migration; "mm/migrate: Trylock
  // device page in do_swap_page", 1afaeb82): the extra reference is taken before the page lock is
  // tried, so every thread faulting the page holds one, those only waiting for the lock too, and
  // the holder's migration finds references it does not expect and gives up; the fix takes the
  // reference once locked.
  const early = quirks.devicePrivateRefBeforeLock;
  if (early) k.getPage(pfn);
  if (!trylockPage(k, pfn)) {
    // Failpoint H12 (docs/mutants.md#hmm_range_fault-core; "mm: Fix a hmm_range_fault()
    // livelock / starvation problem", 7.0): the fault returns at once and the access retries,
    // spinning while the holder runs or not.
    if (quirks.devicePrivateLockSpins) return 0;
    await waitOnPageLocked(k, pfn);
    if (early) k.putPage(pfn);
    return 0;
  }
  // Failpoint M1 (docs/mutants.md#device-private-memory-and-migration, CVE-2022-3523; fixed
  // by 16ce101db85d): no reference held across migrate_to_ram, so a concurrent zap can free the
  // page under it.
  const ref = !quirks.devicePrivateFaultUnreferenced;
  if (ref && !early) k.getPage(pfn);
  let r: number;
  if (k.bus.on) traceMigrateToRam(k, 'B', { addr, pfn, write });
  try {
    r = await pgmap.migrateToRam({ vma, address: addr, page: pfn, write });
  } finally {
    // folio_unlock's VM_BUG_ON_FOLIO(!folio_test_locked()): the page was freed while in use.
    const o = k.observer;
    if (o?.kernelAssert && !pageLocked(k, pfn))
      o.kernelAssert(
        `do_swap_page: folio_unlock of device page ${pfn}, which is not locked (freed under migrate_to_ram)`,
      );
    unlockPage(k, pfn);
    if (ref) k.putPage(pfn);
  }
  if (k.bus.on) traceMigrateToRam(k, 'E', { result: r });
  return r;
}

/** The span of a device page's `migrate_to_ram` on the faulting thread. */
function traceMigrateToRam(k: Kernel, phase: 'B' | 'E', args: Record<string, unknown>): void {
  k.bus.emit({
    type: 'span',
    time: k.sched.clock.now,
    thread: k.sched.current.name,
    phase,
    name: 'migrate_to_ram',
    args,
  });
}

/**
 * remove_device_exclusive_entry: a CPU access ends a device's exclusive access. EXCLUSIVE with
 * owner NULL over the page, then the normal PTE is restored (writable if the VMA allows).
 */
async function removeDeviceExclusiveEntry(vma: Vma, addr: number, pfn: number): Promise<number> {
  const mm = vma.mm;
  const k = mm.kernel;
  const head = k.pm.folioHead(pfn);
  if (k.pm.refcount[head] === 0) return 0;
  k.getPage(pfn);
  if (!trylockPage(k, pfn)) {
    k.putPage(pfn);
    await waitOnPageLocked(k, pfn);
    return 0;
  }
  const range = mmuNotifierRangeInit(mm, MMU_NOTIFY_EXCLUSIVE, addr, addr + PAGE_SIZE, null);
  await mmuNotifierInvalidateRangeStart(range);
  const off = findEntry(k.pt, mm.pgd, addr / PAGE_SIZE, 1);
  if (
    off >= 0 &&
    (k.pt.words[off]! & PTE_KIND_MASK) === PTE_DEVICE_EXCLUSIVE &&
    k.pt.words[off + 1] === pfn
  ) {
    const wr = (vma.flags & VM_WRITE) !== 0;
    k.pt.words[off] = PTE_PRESENT | (wr ? PTE_WRITE | PTE_DIRTY : 0) | (k.pt.words[off]! & PTE_SOFT_DIRTY);
  }
  mmuNotifierInvalidateRangeEnd(range);
  unlockPage(k, pfn);
  k.putPage(pfn);
  return 0;
}

/** hugetlb_fault with FAULT_FLAG_UNSHARE (a read-only GUP pin of a page that may be shared). */
async function hugetlbUnshareFault(vma: Vma, addr: number): Promise<number> {
  const r = await hugetlbFault(vma, addr, false, true);
  traceFault(vma, addr, false, r);
  return r;
}

/**
 * hugetlb_fault: map a huge page from the pool of the VMA's size; copy-on-write for private
 * mappings. The huge entry is a PMD leaf for 2 MiB pages and a PUD leaf for 1 GiB ones
 * (huge_pte_alloc). With `unshare`, a read-only entry is given an exclusive page that stays
 * read-only (hugetlb_wp).
 */
async function hugetlbFault(vma: Vma, addr: number, write: boolean, unshare = false): Promise<number> {
  const mm = vma.mm;
  const k = mm.kernel;
  const pm = k.pm;
  const h = hstateVma(vma);
  const nr = h.pagesPerHugePage;
  const haddr = Math.floor(addr / h.size) * h.size;
  const pmdOff = ensureEntry(k.pt, mm.pgd, haddr / PAGE_SIZE, h.level);
  if (pmdOff < 0) return VM_FAULT_SIGBUS;
  const lo = k.pt.words[pmdOff]!;
  const kind = lo & PTE_KIND_MASK;
  const wr = (vma.flags & VM_WRITE) !== 0;
  if (kind === PTE_NONE) {
    // hugetlb_no_page: a child whose page the owner took away (HPAGE_RESV_UNMAPPED) is killed.
    if (vma.hugetlbResvUnmapped) return VM_FAULT_SIGBUS;
    const file = vma.file;
    const idx = vma.pageIndex(haddr) / nr;
    // A hugetlbfs file's page: a shared mapping maps the page cache folio (bringing one in if
    // needed), writable in a writable VMA; a private one maps it read-only when the file holds it,
    // and a write then copies it at once (hugetlb_wp).
    if (file !== null && ((vma.flags & VM_MAYSHARE) !== 0 || file.pages.has(idx))) {
      const folio = hugetlbfsGetFolio(k, file, idx);
      if (folio === 0) return VM_FAULT_SIGBUS; // vmf_error(-ENOSPC)
      pm.refcount[folio]!++;
      pm.entireMapcount[folio]!++; // hugetlb_add_file_rmap
      const shared = (vma.flags & VM_SHARED) !== 0;
      k.pt.words[pmdOff] = PTE_PRESENT | PTE_LEAF | PTE_YOUNG | (shared && wr ? PTE_WRITE | PTE_DIRTY : 0);
      k.pt.words[pmdOff + 1] = folio;
      mm.hugetlbPages += nr;
      if (!write || shared) return 0;
      return hugetlbFault(vma, addr, write, unshare);
    }
    const head = allocHugetlbFolio(h, vma, haddr, false);
    if (head === 0) return VM_FAULT_SIGBUS; // vmf_error(-ENOSPC)
    initAnonFolio(vma, haddr, head, false, nr);
    h.clearRestoreReserve(head); // hugetlb_add_new_anon_rmap
    k.pt.words[pmdOff] = PTE_PRESENT | PTE_LEAF | PTE_YOUNG | (write && wr ? PTE_WRITE | PTE_DIRTY : 0);
    k.pt.words[pmdOff + 1] = head;
    mm.hugetlbPages += nr;
    return 0;
  }
  if (kind !== PTE_PRESENT) {
    if (kind >= PTE_MIGRATION_READ && kind <= PTE_MIGRATION_WRITE)
      await waitOnPageLocked(k, k.pt.words[pmdOff + 1]!);
    return kind === PTE_HWPOISON ? VM_FAULT_HWPOISON : 0;
  }
  const head = k.pt.words[pmdOff + 1]!;
  if ((!write && !unshare) || (lo & PTE_WRITE) !== 0) {
    k.pt.words[pmdOff] = lo | PTE_YOUNG | (write ? PTE_DIRTY : 0);
    return 0;
  }
  // hugetlb_wp: an unshare of an exclusive page has nothing to do.
  if (unshare && (pm.flags[head]! & PG_anon_exclusive) !== 0) return 0;
  // Reuse when this is the folio's only mapping. Not its refcount, deliberately: copying for
  // unexpected (temporary) references could make fork()+exit() users run out of huge pages, so
  // FOLL_GET users (vmsplice) can still see later writes — the kernel's known hugetlb leak.
  if (
    (pm.flags[head]! & PG_anon_exclusive) !== 0 ||
    (pm.entireMapcount[head] === 1 && (pm.flags[head]! & PG_anon) !== 0)
  ) {
    pm.flags[head]! |= PG_anon_exclusive;
    if (!unshare) k.pt.words[pmdOff] = lo | PTE_WRITE | PTE_DIRTY | PTE_YOUNG;
    return 0;
  }
  // The owner's copy may not use the mapping's reservations (cow_from_owner); nor may a child,
  // which has none: both need a free huge page no reservation holds.
  // A page cache folio is no one's copy: the owner's copy of it uses the mapping's reservation.
  const cowFromOwner = vma.hugetlbResvMap !== null && (pm.flags[head]! & PG_anon) !== 0;
  const copy = allocHugetlbFolio(h, vma, haddr, cowFromOwner);
  if (copy === 0) {
    if (!cowFromOwner) return VM_FAULT_SIGBUS; // vmf_error(-ENOSPC)
    // The owner keeps its page: unmap_ref_private takes it from the forked children sharing it
    // (they get SIGBUS at their next fault there), and the write reuses it once it is the only
    // mapping left (retry_avoidcopy).
    await unmapRefPrivate(vma, head, haddr);
    if (k.pt.words[pmdOff] !== lo || k.pt.words[pmdOff + 1] !== head) return 0;
    if (pm.entireMapcount[head] !== 1) return VM_FAULT_SIGBUS;
    pm.flags[head]! |= PG_anon_exclusive;
    k.pt.words[pmdOff] = lo | PTE_WRITE | PTE_DIRTY | PTE_YOUNG;
    return 0;
  }
  // copy_user_large_folio: every page of the folio (content slots are shared, not copied).
  for (let i = 0; i < nr; i++) pm.copyPage(copy + i, head + i);
  const range = mmuNotifierRangeInit(mm, MMU_NOTIFY_CLEAR, haddr, haddr + h.size);
  await mmuNotifierInvalidateRangeStart(range);
  if (k.pt.words[pmdOff] !== lo || k.pt.words[pmdOff + 1] !== head) {
    k.putPage(copy);
    mmuNotifierInvalidateRangeEnd(range);
    return 0;
  }
  initAnonFolio(vma, haddr, copy, false, nr);
  h.clearRestoreReserve(copy);
  // make_huge_pte(…, !unshare): an unshare copy is mapped read-only.
  k.pt.words[pmdOff] = PTE_PRESENT | PTE_LEAF | PTE_YOUNG | (unshare ? 0 : PTE_WRITE | PTE_DIRTY);
  k.pt.words[pmdOff + 1] = copy;
  pm.entireMapcount[head]!--;
  k.putPage(head);
  mmuNotifierInvalidateRangeEnd(range);
  return 0;
}

/**
 * unmap_ref_private: the owner of a private hugetlb mapping found no huge page for its
 * copy-on-write of `head` at `haddr`: the page is unmapped from every other private VMA of the
 * mapping without reservations of its own (forked children), each announced as UNMAP
 * (`unmap_hugepage_range`), and those VMAs are marked HPAGE_RESV_UNMAPPED.
 */
async function unmapRefPrivate(vma: Vma, head: number, haddr: number): Promise<void> {
  const family = vma.anonVma;
  if (family === null) return;
  const k = vma.mm.kernel;
  const index = vma.pageIndex(haddr);
  for (const other of [...family.vmas]) {
    if (other === vma || (other.flags & VM_MAYSHARE) !== 0 || other.hugetlbResvMap !== null) continue;
    if (!other.isHugetlb) continue;
    const addr = other.start + (index - other.pgoff) * PAGE_SIZE;
    if (addr < other.start || addr >= other.end) continue;
    const mm = other.mm;
    const h = hstateVma(other);
    const range = mmuNotifierRangeInit(mm, MMU_NOTIFY_UNMAP, addr, addr + h.size);
    await mmuNotifierInvalidateRangeStart(range);
    const off = findEntry(k.pt, mm.pgd, addr / PAGE_SIZE, h.level);
    if (
      off >= 0 &&
      (k.pt.words[off]! & (PTE_KIND_MASK | PTE_LEAF)) === (PTE_PRESENT | PTE_LEAF) &&
      k.pt.words[off + 1] === head
    ) {
      other.hugetlbResvUnmapped = true;
      zapHugePmd(mm, off);
    }
    mmuNotifierInvalidateRangeEnd(range);
  }
}
