/**
 * get_user_pages and pin_user_pages (mm/gup.c, reduced): look up each page, faulting it in
 * (writable with FOLL_WRITE) when the page tables do not allow the access, and take a reference
 * (FOLL_GET) or a pin (FOLL_PIN: GUP_PIN_COUNTING_BIAS). GUP never returns device-private pages:
 * their fault migrates them back to RAM. FOLL_LONGTERM does not accept device-coherent pages:
 * the caller-supplied `migrateCoherent` moves them to system memory first.
 * @module
 */
import { EFAULT, ENOMEM } from '../sim/errno.ts';
import { UsageError } from '../sim/errors.ts';
import { translate } from './access.ts';
import {
  FAULT_FLAG_REMOTE,
  FAULT_FLAG_WRITE,
  PAGE_SIZE,
  VM_EXEC,
  VM_FAULT_ERROR,
  VM_FAULT_OOM,
  VM_READ,
  VM_WRITE,
} from './constants.ts';
import { handleMmFault } from './fault.ts';
import { GUP_PIN_COUNTING_BIAS } from './gup-bias.ts';
import type { MmStruct } from './mm-struct.ts';
import { PG_zone_device } from './page-flags.ts';

/** Fault in writable. */
export const FOLL_WRITE = 0x01;
/** Take a normal reference (get_user_pages). */
export const FOLL_GET = 0x04;
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
      const allowed =
        vma !== null &&
        (write ? (vma.flags & VM_WRITE) !== 0 : (vma.flags & (VM_READ | VM_WRITE | VM_EXEC)) !== 0);
      if (!allowed || vma.isIoOrPfnmap) return pages.length > 0 ? pages : -EFAULT;
      const t = translate(mm, addr / PAGE_SIZE, write);
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
      if (tries > 1000) throw new Error(`getUserPages: no progress at 0x${addr.toString(16)}`);
    }
    if (!k.pm.isZeroPfn(pfn)) {
      if ((gupFlags & FOLL_PIN) !== 0) k.pm.refcount[k.pm.folioHead(pfn)]! += GUP_PIN_COUNTING_BIAS;
      else if ((gupFlags & FOLL_GET) !== 0) k.getPage(pfn);
    }
    pages.push(pfn);
  }
  return pages;
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
