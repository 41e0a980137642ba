/**
 * mmap and munmap (mm/mmap.c, mm/vma.c): argument checks with Linux's error codes, placement,
 * VMA creation for anonymous, shared-anonymous (shmem), file, hugetlb and device mappings,
 * MAP_POPULATE, and unmapping with UNMAP invalidation and page-table freeing.
 * @module
 */
import { EBADF, EINVAL, ENODEV, ENOMEM, EOPNOTSUPP } from '../sim/errno.ts';
import {
  FAULT_FLAG_WRITE,
  HPAGE_PMD_ORDER,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_FIXED_NOREPLACE,
  MAP_HUGE_MASK,
  MAP_HUGE_SHIFT,
  MAP_HUGETLB,
  MAP_NORESERVE,
  MAP_POPULATE,
  MAP_PRIVATE,
  MAP_SHARED,
  MMAP_MIN_ADDR,
  PAGE_SIZE,
  PMD_SIZE,
  PROT_EXEC,
  PROT_READ,
  PROT_WRITE,
  TASK_SIZE,
  VM_ACCOUNT,
  VM_DONTEXPAND,
  VM_EXEC,
  VM_FAULT_ERROR,
  VM_HUGETLB,
  VM_MAYEXEC,
  VM_MAYREAD,
  VM_MAYSHARE,
  VM_MAYWRITE,
  VM_NORESERVE,
  VM_READ,
  VM_SHARED,
  VM_WRITE,
} from './constants.ts';
import { handleMmFaultNoWait } from './fault.ts';
import type { OpenFile } from './fdtable.ts';
import { hstateVma, hugetlbOrderOfSizeLog, hugetlbReservePages } from './hugetlb.ts';
import { hugetlbfsReservePages } from './hugetlbfs.ts';
import type { MmStruct } from './mm-struct.ts';
import {
  MMU_NOTIFY_UNMAP,
  mmuNotifierInvalidateRangeEnd,
  mmuNotifierInvalidateRangeStart,
  mmuNotifierRangeInit,
} from './mmu-notifier.ts';
import { freePgtables } from './pgwalk.ts';
import { vmaMergeNewRange } from './vma-merge.ts';
import { isolateRange, vmaCreate, vmaRemove } from './vma-ops.ts';
import { zapVmaRange } from './zap.ts';

/** Known mmap flag bits; others are ignored as Linux ignores unknown legacy flags. */
const MAP_TYPE = 0x0f;
/** MAP_SHARED_VALIDATE: shared, with unknown flags rejected. */
const MAP_SHARED_VALIDATE = 0x03;

/** VM_* bits for PROT_* bits (`calc_vm_prot_bits`). */
export function calcVmProtBits(prot: number): number {
  return (
    ((prot & PROT_READ) !== 0 ? VM_READ : 0) |
    ((prot & PROT_WRITE) !== 0 ? VM_WRITE : 0) |
    ((prot & PROT_EXEC) !== 0 ? VM_EXEC : 0)
  );
}

/** Rounds `len` up to whole pages. */
export function pageAlign(len: number): number {
  return Math.ceil(len / PAGE_SIZE) * PAGE_SIZE;
}

/** True for an integer address/length the 64-bit ABI could carry. */
function isUlong(v: number): boolean {
  return Number.isInteger(v) && v >= 0 && v <= 2 ** 64;
}

/**
 * `do_mmap` with the caller holding the mmap write lock. Returns the address or -errno. `fdLookup`
 * resolves a descriptor. MAP_POPULATE is the caller's job (after the lock is dropped).
 */
export async function doMmap(
  mm: MmStruct,
  addr: number,
  length: number,
  prot: number,
  flags: number,
  fdLookup: () => OpenFile | undefined,
  offset: number,
): Promise<number> {
  if (
    !isUlong(addr) ||
    !isUlong(length) ||
    !isUlong(offset) ||
    !Number.isInteger(prot) ||
    !Number.isInteger(flags)
  )
    return -EINVAL;
  if (length === 0) return -EINVAL;
  if (offset % PAGE_SIZE !== 0) return -EINVAL;
  const type = flags & MAP_TYPE;
  if (type !== MAP_SHARED && type !== MAP_PRIVATE && type !== MAP_SHARED_VALIDATE) return -EINVAL;
  const shared = type !== MAP_PRIVATE;
  if ((prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC)) !== 0) return -EINVAL;
  const anonymous = (flags & MAP_ANONYMOUS) !== 0;
  let open: OpenFile | undefined;
  if (!anonymous) {
    open = fdLookup();
    if (open === undefined) return -EBADF;
  }
  // A hugetlbfs file maps hugetlb whether MAP_HUGETLB is given or not (ksys_mmap_pgoff).
  const hugetlbFile = open?.file?.hugetlb === true;
  const hugetlb = (flags & MAP_HUGETLB) !== 0 || hugetlbFile;
  // ksys_mmap_pgoff: an anonymous MAP_HUGETLB names its page size in the MAP_HUGE_* bits
  // (hstate_sizelog; -EINVAL for a size there is no hstate of); a hugetlbfs file has its own.
  const hugetlbOrder = hugetlbFile
    ? open!.file!.hugetlbOrder
    : hugetlb
      ? hugetlbOrderOfSizeLog((flags >>> MAP_HUGE_SHIFT) & MAP_HUGE_MASK)
      : HPAGE_PMD_ORDER;
  if (hugetlbOrder < 0) return -EINVAL;
  const align = hugetlb ? PAGE_SIZE * 2 ** hugetlbOrder : PAGE_SIZE;
  const len = Math.ceil(length / align) * align;
  if (len > TASK_SIZE) return -ENOMEM;
  const fixed = (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) !== 0;
  if (fixed && addr % align !== 0) return -EINVAL;
  if (open !== undefined) {
    if (hugetlb && !hugetlbFile) return -EINVAL; // MAP_HUGETLB needs anonymous memory or a hugetlbfs file
    if (hugetlbFile && offset % align !== 0) return -EINVAL; // hugetlbfs_file_mmap
    if (open.file === null && open.fops?.mmap === undefined) return -ENODEV;
  }
  // Shared anonymous hugetlb (an unlinked hugetlbfs file of its own) is not modelled.
  if (hugetlb && shared && !hugetlbFile) return -EOPNOTSUPP;

  // Placement.
  let start: number;
  if (fixed) {
    if (addr + len > TASK_SIZE || addr < MMAP_MIN_ADDR) return -ENOMEM;
    if ((flags & MAP_FIXED_NOREPLACE) !== 0 && !mm.isFree(addr, addr + len)) return -17; // EEXIST
    const r = await doMunmap(mm, addr, addr + len);
    if (r < 0) return r;
    start = addr;
  } else {
    // round_hint_to_min: a non-zero hint below mmap_min_addr is raised to it. The hint is rounded
    // down to a page, or up to a huge page for hugetlb (hugetlb_get_unmapped_area).
    let hint = Math.floor(addr / PAGE_SIZE) * PAGE_SIZE;
    if (hint !== 0 && hint < MMAP_MIN_ADDR) hint = MMAP_MIN_ADDR;
    hint = Math.ceil(hint / align) * align;
    if (hint !== 0 && hint + len <= TASK_SIZE && mm.isFree(hint, hint + len)) start = hint;
    else if (hint === 0 && anonymous && !shared && !hugetlb && len % PMD_SIZE === 0)
      start = thpGetUnmappedArea(mm, len);
    else start = mm.getUnmappedArea(len, align);
    if (start < 0) return -ENOMEM;
  }

  let vmFlags =
    calcVmProtBits(prot) |
    VM_MAYREAD |
    VM_MAYWRITE |
    VM_MAYEXEC |
    (shared ? VM_SHARED | VM_MAYSHARE : 0) |
    (hugetlb ? VM_HUGETLB | VM_DONTEXPAND : 0) | // as hugetlbfs_file_mmap sets them
    ((flags & MAP_NORESERVE) !== 0 ? VM_NORESERVE : 0);
  // A private writable mapping is charged to the overcommit accounting (accountable_mapping).
  if (!hugetlb && (vmFlags & (VM_NORESERVE | VM_SHARED | VM_WRITE)) === VM_WRITE) vmFlags |= VM_ACCOUNT;
  const k = mm.kernel;
  if (anonymous) {
    if (shared) {
      // A shared anonymous mapping is backed by a shmem file (shmem_zero_setup).
      const file = k.newFile(len, true);
      vmaCreate(mm, start, start + len, vmFlags, 0, file, null);
    } else if (hugetlb) {
      const vma = vmaCreate(mm, start, start + len, vmFlags, start / PAGE_SIZE, null, null);
      vma.hugetlbOrder = hugetlbOrder;
      // hugetlbfs_file_mmap reserves the mapping's huge pages; without enough, mmap fails after
      // a MAP_FIXED has already unmapped what was there (vms_clean_up_area ran first).
      if (hugetlb && hugetlbReservePages(hstateVma(vma), vma) < 0) {
        vmaRemove(vma);
        return -ENOMEM;
      }
    } else {
      // __mmap_region: an adjacent VMA with the same attributes takes the range
      // (vma_merge_new_range); only then is a VMA made.
      const pgoff = start / PAGE_SIZE;
      if (vmaMergeNewRange(mm, start, start + len, vmFlags, pgoff) === null)
        vmaCreate(mm, start, start + len, vmFlags, pgoff, null, null);
    }
    return start;
  }
  if (open!.file !== null) {
    const vma = vmaCreate(mm, start, start + len, vmFlags, offset / PAGE_SIZE, open!.file, null);
    vma.hugetlbOrder = hugetlbOrder;
    // hugetlbfs_file_mmap reserves the huge pages the mapping may need; without them mmap fails.
    if (hugetlbFile && hugetlbfsReservePages(k, vma, open!.file) < 0) {
      vmaRemove(vma);
      return -ENOMEM;
    }
    return start;
  }
  const vma = vmaCreate(mm, start, start + len, vmFlags, offset / PAGE_SIZE, null, null);
  const r = await open!.fops!.mmap!(vma);
  if (r < 0) {
    await doMunmap(mm, start, start + len);
    return r;
  }
  return start;
}

/**
 * `mm_populate` for MAP_POPULATE: faults every page in, writing for private writable mappings
 * (`populate_vma_page_range`). Caller holds the mmap read lock. Errors are ignored, as Linux does.
 */
export async function mmPopulate(mm: MmStruct, start: number, len: number): Promise<void> {
  for (let addr = start; addr < start + len; ) {
    const vma = mm.vmaLookup(addr);
    if (vma === null) return;
    if ((vma.flags & (VM_READ | VM_WRITE)) === 0) {
      addr = vma.end;
      continue;
    }
    const write = (vma.flags & (VM_WRITE | VM_SHARED)) === VM_WRITE;
    const end = Math.min(vma.end, start + len);
    for (; addr < end; addr += PAGE_SIZE) {
      const f = handleMmFaultNoWait(vma, addr, write ? FAULT_FLAG_WRITE : 0);
      const r = typeof f === 'number' ? f : await f;
      if ((r & VM_FAULT_ERROR) !== 0) return;
      if (mm.vmaLookup(addr) !== vma) break;
    }
  }
}

/**
 * `thp_get_unmapped_area` for an anonymous mapping without an address hint whose length is a
 * multiple of 2 MiB (`__get_unmapped_area`): a top-down search for the length plus 2 MiB, the
 * start then rounded up to 2 MiB, or, when the padded area was already aligned, moved up by
 * 2 MiB (the top of the padded area, as a top-down layout prefers). Falls back to the plain
 * search when the padded length does not fit.
 */
function thpGetUnmappedArea(mm: MmStruct, len: number): number {
  const padded = mm.getUnmappedArea(len + PMD_SIZE);
  if (padded < 0) return mm.getUnmappedArea(len);
  const offSub = (PMD_SIZE - (padded % PMD_SIZE)) % PMD_SIZE;
  return offSub === 0 ? padded + PMD_SIZE : padded + offSub;
}

/** MAP_POPULATE was given. */
export function wantsPopulate(flags: number): boolean {
  return (flags & MAP_POPULATE) !== 0;
}

/**
 * `do_vmi_munmap` with the mmap write lock held: splits the VMAs at the edges, announces UNMAP
 * over `[start, end)`, zaps every page, frees the page tables no VMA needs any more, and removes
 * the VMAs. Returns 0 or -errno (-EINVAL for a split that is not allowed).
 */
export async function doMunmap(mm: MmStruct, start: number, end: number): Promise<number> {
  const vmas = await isolateRange(mm, start, end);
  if (typeof vmas === 'number') return vmas;
  if (vmas.length === 0) return 0;
  const range = mmuNotifierRangeInit(mm, MMU_NOTIFY_UNMAP, start, end);
  await mmuNotifierInvalidateRangeStart(range);
  for (const vma of vmas) await zapVmaRange(vma, vma.start, vma.end);
  for (const vma of vmas) vmaRemove(vma);
  const prev = mm.vmasIn(0, start).pop();
  const next = mm.findVma(end);
  const floor = prev?.end ?? 0;
  const ceiling = next?.start ?? TASK_SIZE + PAGE_SIZE;
  freePgtables(
    mm.kernel.pt,
    mm.pgd,
    start / PAGE_SIZE,
    end / PAGE_SIZE,
    floor / PAGE_SIZE,
    ceiling / PAGE_SIZE,
  );
  mmuNotifierInvalidateRangeEnd(range);
  return 0;
}

/** munmap argument checks; returns the page-aligned end, or -EINVAL. */
export function munmapRange(addr: number, length: number): number {
  if (!isUlong(addr) || !isUlong(length) || addr % PAGE_SIZE !== 0 || length === 0) return -EINVAL;
  const end = addr + pageAlign(length);
  if (end > TASK_SIZE) return -EINVAL;
  return end;
}
