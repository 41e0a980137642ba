/**
 * get_user_pages and pin_user_pages (mm/gup.c, reduced): check the VMA (`check_vma_flags`), look
 * up each page, faulting it in (writable with FOLL_WRITE) when the page tables do not allow the
 * access, and take a reference (FOLL_GET) or a pin (FOLL_PIN: GUP_PIN_COUNTING_BIAS). A read-only
 * pin of a page that may be shared (`gup_must_unshare`) is refused (-EMLINK inside GUP) and
 * faulted with FAULT_FLAG_UNSHARE, which gives the process an exclusive copy to pin. GUP never
 * returns device-private pages: their fault migrates them back to RAM. FOLL_LONGTERM does not
 * accept device-coherent pages: the caller-supplied `migrateCoherent` moves them to system memory
 * first.
 * @module
 */
import { EFAULT, EMLINK, ENOMEM, EOPNOTSUPP } from '../sim/errno.ts';
import { kernelBug, UsageError } from '../sim/errors.ts';
import { translate } from './access.ts';
import {
  FAULT_FLAG_REMOTE,
  FAULT_FLAG_UNSHARE,
  FAULT_FLAG_WRITE,
  PAGE_SIZE,
  VM_FAULT_ERROR,
  VM_FAULT_OOM,
  VM_MAYREAD,
  VM_MAYWRITE,
  VM_READ,
  VM_SHARED,
  VM_WRITE,
} from './constants.ts';
import { handleMmFault } from './fault.ts';
import { GUP_PIN_COUNTING_BIAS } from './gup-bias.ts';
import type { MmStruct } from './mm-struct.ts';
import { PG_anon, PG_anon_exclusive, PG_zone_device } from './page-flags.ts';
import { walkToLeaf } from './page-table.ts';
import { PTE_KIND_MASK, PTE_PRESENT, PTE_SPECIAL, PTE_WRITE } from './pte.ts';
import type { Vma } from './vma.ts';

/** Fault in writable. */
export const FOLL_WRITE = 0x01;
/** Take a normal reference (get_user_pages). */
export const FOLL_GET = 0x04;
/** Access the VMA even without the permission (ptrace's access; read: needs VM_MAYREAD). */
export const FOLL_FORCE = 0x10;
/** Split a PMD-mapped THP to PTEs (make_device_exclusive needs a PTE). */
export const FOLL_SPLIT_PMD = 0x20;
/** The pin may last long: device-coherent pages must move to system memory first. */
export const FOLL_LONGTERM = 0x100;
/** Take a DMA pin (pin_user_pages). */
export const FOLL_PIN = 0x40000;

export { GUP_PIN_COUNTING_BIAS };

/**
 * `__get_user_pages`: the pfns of `nrPages` pages from `start`, each holding a reference (FOLL_GET)
 * or a pin (FOLL_PIN); the caller holds the mmap lock. Returns the pfns, or -errno when the first
 * page cannot be had (-EFAULT for no VMA or a forbidden access, -ENOMEM when a fault ran out of
 * memory); later failures return the pages obtained so far.
 */
export async function getUserPages(
  mm: MmStruct,
  start: number,
  nrPages: number,
  gupFlags: number,
): Promise<number[] | number> {
  if ((gupFlags & (FOLL_GET | FOLL_PIN)) === (FOLL_GET | FOLL_PIN))
    throw new UsageError('getUserPages(gupFlags)', 'FOLL_GET and FOLL_PIN are exclusive');
  if (!mm.mmapLock.heldByCurrent())
    throw new UsageError('getUserPages', `the caller must hold the mmap lock of mm ${mm.id}`);
  const k = mm.kernel;
  const coherentMigrator = k.coherentMigrator;
  const write = (gupFlags & FOLL_WRITE) !== 0;
  const pages: number[] = [];
  for (let i = 0; i < nrPages; i++) {
    const addr = Math.floor(start / PAGE_SIZE) * PAGE_SIZE + i * PAGE_SIZE;
    let pfn = -1;
    for (let tries = 0; pfn < 0; tries++) {
      const p = k.sched.point('gup');
      if (p) await p;
      const vma = mm.vmaLookup(addr);
      const err = vma === null ? -EFAULT : checkVmaFlags(vma, gupFlags);
      if (err !== 0 || vma === null) return pages.length > 0 ? pages : err;
      const t = translate(mm, addr / PAGE_SIZE, write);
      if (t >= 0 && followMustUnshare(mm, vma, addr, t, gupFlags) === -EMLINK) {
        // follow_page_pte's -EMLINK: fault with FAULT_FLAG_UNSHARE, then look again.
        const r = await handleMmFault(vma, addr, FAULT_FLAG_REMOTE | FAULT_FLAG_UNSHARE);
        if ((r & VM_FAULT_ERROR) !== 0) {
          if (pages.length > 0) return pages;
          return (r & VM_FAULT_OOM) !== 0 ? -ENOMEM : -EFAULT;
        }
        if (tries > 1000) kernelBug(`getUserPages: no progress at 0x${addr.toString(16)}`);
        continue;
      }
      if (t >= 0 && !k.pm.isZeroPfn(t)) {
        if (
          (gupFlags & FOLL_LONGTERM) !== 0 &&
          (k.pm.flags[t]! & PG_zone_device) !== 0 &&
          coherentMigrator !== null
        ) {
          if ((await coherentMigrator(mm, addr, t)) !== 0) return pages.length > 0 ? pages : -ENOMEM;
          continue;
        }
        pfn = t;
        break;
      }
      if (t >= 0 && k.pm.isZeroPfn(t) && !write) {
        pfn = t;
        break;
      }
      const r = await handleMmFault(vma, addr, FAULT_FLAG_REMOTE | (write ? FAULT_FLAG_WRITE : 0));
      if ((r & VM_FAULT_ERROR) !== 0) {
        if (pages.length > 0) return pages;
        return (r & VM_FAULT_OOM) !== 0 ? -ENOMEM : -EFAULT;
      }
      if (tries > 1000) kernelBug(`getUserPages: no progress at 0x${addr.toString(16)}`);
    }
    if (!k.pm.isZeroPfn(pfn)) {
      if ((gupFlags & FOLL_PIN) !== 0) k.pm.refcount[k.pm.folioHead(pfn)]! += GUP_PIN_COUNTING_BIAS;
      else if ((gupFlags & FOLL_GET) !== 0) k.getPage(pfn);
    }
    pages.push(pfn);
  }
  return pages;
}

/**
 * `check_vma_flags`: 0, or -EFAULT when GUP may not access `vma` (VM_IO/VM_PFNMAP; a write without
 * VM_WRITE unless FOLL_FORCE on a COW mapping; a read without VM_READ unless FOLL_FORCE with
 * VM_MAYREAD), or -EOPNOTSUPP for FOLL_SPLIT_PMD on hugetlb ("mm/gup: reject FOLL_SPLIT_PMD with
 * hugetlb VMAs", also in 6.12's stable tree): refused before anything is faulted in. Unlike a CPU
 * access, VM_WRITE or VM_EXEC do not make a VMA readable for GUP.
 */
export function checkVmaFlags(vma: Vma, gupFlags: number): number {
  const f = vma.flags;
  if (vma.isIoOrPfnmap) return -EFAULT;
  if ((gupFlags & FOLL_SPLIT_PMD) !== 0 && vma.isHugetlb) return -EOPNOTSUPP;
  const force = (gupFlags & FOLL_FORCE) !== 0;
  if ((gupFlags & FOLL_WRITE) !== 0) {
    if ((f & VM_WRITE) === 0) {
      if (!force || vma.isHugetlb || !isCowMapping(f)) return -EFAULT;
    }
  } else if ((f & VM_READ) === 0) {
    if (!force || (f & VM_MAYREAD) === 0) return -EFAULT;
  }
  return 0;
}

/** `is_cow_mapping`: private and possibly writable. */
function isCowMapping(flags: number): boolean {
  return (flags & (VM_SHARED | VM_MAYWRITE)) === VM_MAYWRITE;
}

/**
 * `gup_must_unshare` for the page `pfn` found at `addr`: only a pin without FOLL_WRITE (a write
 * pin found a writable entry, which maps an exclusive page); an anonymous page must be
 * AnonExclusive; any other page (page cache, the zero page) must be unshared only by a
 * FOLL_LONGTERM pin in a COW mapping (hugetlb too: hugetlb_follow_page_mask unshares the same way).
 */
export function gupMustUnshare(mm: MmStruct, vma: Vma, pfn: number, gupFlags: number): boolean {
  if ((gupFlags & (FOLL_WRITE | FOLL_PIN)) !== FOLL_PIN) return false;
  const pm = mm.kernel.pm;
  if (pm.isZeroPfn(pfn) || (pm.flags[pfn]! & PG_anon) === 0) {
    if ((gupFlags & FOLL_LONGTERM) === 0) return false;
    return isCowMapping(vma.flags);
  }
  // A hugetlb folio keeps PageAnonExclusive on its head page only.
  const page = vma.isHugetlb ? pm.folioHead(pfn) : pfn;
  return (pm.flags[page]! & PG_anon_exclusive) === 0;
}

/**
 * The unshare check of follow_page_pte / follow_huge_pmd: -EMLINK when the entry mapping `pfn` is
 * not writable and {@link gupMustUnshare} holds, else 0. Frames without a struct page (special
 * entries other than the zero page) are not checked.
 */
function followMustUnshare(mm: MmStruct, vma: Vma, addr: number, pfn: number, gupFlags: number): number {
  if ((gupFlags & (FOLL_WRITE | FOLL_PIN)) !== FOLL_PIN) return 0;
  const pool = mm.kernel.pt;
  const lo = pool.words[walkToLeaf(pool, mm.pgd, addr / PAGE_SIZE)]!;
  if ((lo & PTE_KIND_MASK) !== PTE_PRESENT || (lo & PTE_WRITE) !== 0) return 0;
  if ((lo & PTE_SPECIAL) !== 0 && !mm.kernel.pm.isZeroPfn(pfn)) return 0;
  return gupMustUnshare(mm, vma, pfn, gupFlags) ? -EMLINK : 0;
}

/** `put_page` for a page from {@link getUserPages} with FOLL_GET. */
export function putUserPage(mm: MmStruct, pfn: number): void {
  if (!mm.kernel.pm.isZeroPfn(pfn)) mm.kernel.putPage(pfn);
}

/** `unpin_user_page`: drops a FOLL_PIN pin. */
export function unpinUserPage(mm: MmStruct, pfn: number): void {
  const k = mm.kernel;
  if (k.pm.isZeroPfn(pfn)) return;
  const head = k.pm.folioHead(pfn);
  if (k.pm.refcount[head]! < GUP_PIN_COUNTING_BIAS)
    throw new UsageError('unpinUserPage', `pfn ${pfn} is not pinned`);
  k.pm.refcount[head]! -= GUP_PIN_COUNTING_BIAS - 1;
  k.putPage(head);
}

/** `folio_maybe_dma_pinned`. */
export function folioMaybeDmaPinned(mm: MmStruct, pfn: number): boolean {
  return mm.kernel.pm.refcount[mm.kernel.pm.folioHead(pfn)]! >= GUP_PIN_COUNTING_BIAS;
}
