/**
 * Device memory back to system memory (`dmirror_devmem_fault` and
 * `dmirror_devmem_fault_alloc_and_copy` in lib/test_hmm.c): the pagemap's `migrate_to_ram`,
 * run when a CPU access hits a device-private entry, and the allocate-and-copy step it shares
 * with MIGRATE_TO_SYS.
 * @module
 */
import type { VmFault } from '../../devmem/memremap.ts';
import {
  MIGRATE_VMA_SELECT_COMPOUND,
  type MigrateVma,
  migrateVmaFinalize,
  migrateVmaPages,
  migrateVmaSetup,
} from '../../devmem/migrate-device.ts';
import {
  MIGRATE_PFN_COMPOUND,
  MIGRATE_PFN_MIGRATE,
  MIGRATE_PFN_WRITE,
  migratePfn,
  migratePfnToPage,
  mpfnHas,
} from '../../devmem/migrate-pfn.ts';
import { HPAGE_PMD_ORDER, PAGE_SIZE, VM_FAULT_OOM, VM_FAULT_SIGBUS } from '../../mm/constants.ts';
import { PG_locked } from '../../mm/page-flags.ts';
import { unlockPage } from '../../mm/page-lock.ts';
import { findEntry } from '../../mm/page-table.ts';
import { PTE_LEAF } from '../../mm/pte.ts';
import { dmirrorCharge } from './cost.ts';
import type { DmirrorDevice } from './device.ts';
import { dmirrorBackingPage, dmirrorOfBackingPage, dmirrorSelectDevice } from './devmem-alloc.ts';
import type { DmirrorFile } from './file.ts';
import { dmirrorMigrateLock } from './mutant-locks.ts';
import { HMM_DMIRROR_FLAG_FAIL_ALLOC } from './uapi.ts';

/**
 * `dmirror_devmem_fault_alloc_and_copy`: for each collected device page, a system destination —
 * a folio of the backing folio's order, or a single page — locked, the mirror entries of the pages
 * erased from `pt` (the migrating file's table: its invalidation callback skips its own device's
 * migrations) and the data copied from the backing store. FAIL_ALLOC (one-shot) makes the large
 * allocation fail and the folio is rebuilt from single pages. Returns 0, or VM_FAULT_OOM when a
 * single page cannot be had (the pages already allocated for the folio are freed).
 *
 * `dmirror` is the file whose table is cleared and whose flags are consulted; `mdevice` is the
 * device owning the pages (the same device, unless that file was already released).
 */
export function dmirrorDevmemFaultAllocAndCopy(
  args: MigrateVma,
  dmirror: DmirrorFile | null,
  mdevice: DmirrorDevice,
): number {
  const k = mdevice.kernel;
  const pm = k.pm;
  const src = args.src;
  const dst = args.dst;
  // Slots are counted, and the page of slot `i` is `first + i`: a page address loop variable
  // (a double) may be boxed on every iteration.
  const first = args.start / PAGE_SIZE;
  const n = Math.min(args.npages, (args.end - args.start) / PAGE_SIZE);
  for (let i = 0; i < n; ) {
    let spage = migratePfnToPage(src[i]!);
    if (spage === 0 || !mpfnHas(src[i]!, MIGRATE_PFN_MIGRATE)) {
      // The kernel steps over a skipped slot by the order of the slot before it; a compound slot
      // is always alone in its range (a PMD-aligned batch or fault), so stepping by one is the same.
      i++;
      continue;
    }
    if (k.pgmapOf(spage) === null) {
      // Not device memory: WARN_ON in the kernel, and the slot is left alone.
      i++;
      continue;
    }
    spage = dmirrorBackingPage(k, spage);
    const order = pm.order[spage]!;
    const nr = 1 << order;
    let flags = order !== 0 ? MIGRATE_PFN_COMPOUND : 0;
    if (mpfnHas(src[i]!, MIGRATE_PFN_WRITE)) flags |= MIGRATE_PFN_WRITE;
    let dpage: number;
    if (dmirror !== null && (dmirror.flags & HMM_DMIRROR_FLAG_FAIL_ALLOC) !== 0) {
      // Fault injection: this allocation fails, once.
      dmirror.flags &= ~HMM_DMIRROR_FLAG_FAIL_ALLOC;
      flags &= ~MIGRATE_PFN_COMPOUND;
      dpage = 0;
    } else if (order !== 0) {
      dpage = pm.allocPages(HPAGE_PMD_ORDER);
      dmirrorCharge(mdevice, 0, 1);
    } else {
      dpage = pm.allocPages(0);
      dmirrorCharge(mdevice, 0, 1);
    }
    if (dpage === 0 && order === 0) return VM_FAULT_OOM;
    dst[i] = flags;
    if (dpage !== 0) {
      pm.flags[dpage]! |= PG_locked;
      dst[i] = migratePfn(dpage) + flags;
    }
    for (let j = 0; j < nr; j++) {
      let dstPage: number;
      if (dpage === 0 && order !== 0) {
        // Try with smaller pages when the large allocation failed.
        const page = pm.allocPages(0);
        dmirrorCharge(mdevice, 0, 1);
        if (page === 0) {
          for (let f = j - 1; f >= 0; f--) {
            const fpage = migratePfnToPage(dst[i + f]!);
            unlockPage(k, fpage);
            k.putPage(fpage);
          }
          for (let c = 0; c < nr; c++) dst[i + c] = 0;
          return VM_FAULT_OOM;
        }
        pm.flags[page]! |= PG_locked;
        dst[i + j] = migratePfn(page);
        dstPage = page;
      } else {
        dstPage = dpage + j;
      }
      if (dmirror !== null) dmirror.pt.delete(first + i + j);
      pm.copyPage(dstPage, spage + j);
      dmirrorCharge(mdevice, 1, 0);
    }
    i += nr;
  }
  return 0;
}

/**
 * True when the device-private entry behind `vmf` is a PMD entry mapping the whole device folio
 * (the kernel tells by `vmf->pte` being unset: the fault went through the huge PMD path).
 */
function faultIsPmdMapped(vmf: VmFault): boolean {
  const mm = vmf.vma.mm;
  const k = mm.kernel;
  const off = findEntry(k.pt, mm.pgd, Math.floor(vmf.address / PAGE_SIZE), 2);
  return off >= 0 && (k.pt.words[off]! & PTE_LEAF) !== 0;
}

/**
 * `dmirror_devmem_fault`, the pagemap's `migrate_to_ram`: moves the faulting page back to system
 * memory — the whole device folio over its aligned range when the folio is mapped by a PMD, only
 * the faulting page when it is mapped by PTEs (a partially unmapped or moved folio may not be
 * split yet). The migration is driven for the file recorded in the backing page (the one that
 * migrated the page), selecting its device's own pages (plus compound for a folio), with the
 * faulting page passed as the fault page. VM_FAULT_SIGBUS when setup fails, VM_FAULT_OOM when
 * no system page can be had, else 0.
 */
export async function dmirrorDevmemFault(vmf: VmFault): Promise<number> {
  const k = vmf.vma.mm.kernel;
  const pm = k.pm;
  const owner = k.pgmapOf(vmf.page)?.owner as DmirrorDevice;
  const head = pm.folioHead(vmf.page);
  const rpage = pm.private[head]!;
  const dmirror = rpage !== 0 ? dmirrorOfBackingPage(owner, rpage) : null;
  const mdevice = dmirror?.mdevice ?? owner;

  let order = pm.order[vmf.page]!;
  // Partially mapped folios: the PTE path migrates just the faulting page.
  if (!faultIsPmdMapped(vmf)) order = 0;
  const span = PAGE_SIZE * 2 ** order;
  const start = Math.floor(vmf.address / span) * span;
  const nr = span / PAGE_SIZE;
  const args: MigrateVma = {
    vma: vmf.vma,
    start,
    end: start + span,
    src: new Float64Array(nr),
    dst: new Float64Array(nr),
    cpages: 0,
    npages: 0,
    pgmapOwner: mdevice,
    flags: dmirrorSelectDevice(mdevice),
    faultPage: vmf.page,
  };
  if (order !== 0) args.flags |= MIGRATE_VMA_SELECT_COMPOUND;
  // In practice setup fails only for a broken VMA.
  if ((await migrateVmaSetup(args)) !== 0) return VM_FAULT_SIGBUS;
  if (mdevice.quirks.driverLockAcrossFault) {
    // M9 (docs/mutants.md): a driver-private lock in migrate_to_ram, taken with the faulting
    // page locked and its migration entries installed.
    const lock = dmirrorMigrateLock(mdevice);
    await lock.lock();
    try {
      return await devmemFaultMigrate(args, dmirror, mdevice);
    } finally {
      lock.unlock();
    }
  }
  return devmemFaultMigrate(args, dmirror, mdevice);
}

/** The allocate, copy and commit steps of {@link dmirrorDevmemFault}, after `migrate_vma_setup`. */
async function devmemFaultMigrate(
  args: MigrateVma,
  dmirror: DmirrorFile | null,
  mdevice: DmirrorDevice,
): Promise<number> {
  const ret = dmirrorDevmemFaultAllocAndCopy(args, dmirror, mdevice);
  if (ret !== 0) {
    migrateVmaFinalize(args);
    return ret;
  }
  await migrateVmaPages(args);
  // No device-side finalize: the copy step already erased the mirror entries.
  migrateVmaFinalize(args);
  return 0;
}
