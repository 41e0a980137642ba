/**
 * Virtual memory areas (`struct vm_area_struct`): a contiguous range of an address space with its
 * flags and backing.
 * @module
 */

import type { AnonVma } from './anon-vma.ts';
import { PAGE_SIZE, VM_HUGETLB, VM_IO, VM_MAYWRITE, VM_MIXEDMAP, VM_PFNMAP, VM_SHARED } from './constants.ts';
import type { SimFile } from './file.ts';
import type { ResvMap } from './hugetlb.ts';
import type { MmStruct } from './mm-struct.ts';
import type { Userfaultfd } from './userfaultfd.ts';

/** What a driver answers to a fault in its special mapping (`vm_operations_struct.fault`). */
export interface VmOperations {
  /** Human-readable name of the mapping's owner, for traces and messages. */
  readonly name: string;
  /**
   * Called for a fault on a none PTE of this mapping. Returns the pfn of a page with a struct
   * page to map (its refcount is taken by the core), or a negative VM_FAULT_* code negated
   * (`-VM_FAULT_SIGBUS`). Optional: drivers that insert every page at mmap time leave it out.
   */
  fault?(vma: Vma, addr: number): number;
  /** Called when the VMA is split at `addr`; return false to refuse (munmap/mprotect fail). */
  maySplit?(vma: Vma, addr: number): boolean;
  /** Called when the VMA goes away. */
  close?(vma: Vma): void;
}

/** One VMA. `start` and `end` are page aligned, `end` exclusive. */
export class Vma {
  /** Owning address space. */
  readonly mm: MmStruct;
  /** First address. */
  start: number;
  /** End (exclusive). */
  end: number;
  /** VM_* flags. */
  flags: number;
  /**
   * Page offset: for file mappings the file page at `start`; for anonymous mappings the linear
   * page index of `start` (kept across mremap so rmap finds pages by their index).
   */
  pgoff: number;
  /** Backing file (including the shmem file of a shared anonymous mapping), or null. */
  file: SimFile | null;
  /** Anonymous reverse-map family, created at the first anonymous page. */
  anonVma: AnonVma | null = null;
  /**
   * The VMA's `anon_vma_chain` holds more than its own anon_vma: it was forked from (or split or
   * copied from such a VMA) a VMA that had one. Such a VMA does not merge with one that has no
   * anon_vma (`list_is_singular(&vma->anon_vma_chain)` in `is_mergeable_anon_vma`).
   */
  anonVmaFromParent = false;
  /** Driver operations of a special mapping, or null. */
  vmOps: VmOperations | null;
  /**
   * hugetlb private mapping: the reserve map, set for the VMAs of the process that mapped it
   * (HPAGE_RESV_OWNER); null in forked children and MAP_NORESERVE mappings.
   */
  hugetlbResvMap: ResvMap | null = null;
  /**
   * HPAGE_RESV_UNMAPPED: the owner took a huge page away from this (child's) VMA because the
   * pool had none for its copy-on-write; a later fault on a missing page is SIGBUS.
   */
  hugetlbResvUnmapped = false;
  /**
   * hugetlb: the order of the huge page size it maps (`huge_page_order(hstate_vma(vma))`): 9 for
   * 2 MiB pages (PMD leaves), 18 for 1 GiB pages (PUD leaves).
   */
  hugetlbOrder = 9;
  /** The userfaultfd context the VMA is registered with (VM_UFFD_MISSING), or null. */
  uffd: Userfaultfd | null = null;

  /** @internal use the mm's mapping functions to create VMAs */
  constructor(
    mm: MmStruct,
    start: number,
    end: number,
    flags: number,
    pgoff: number,
    file: SimFile | null,
    vmOps: VmOperations | null = null,
  ) {
    this.mm = mm;
    this.start = start;
    this.end = end;
    this.flags = flags;
    this.pgoff = pgoff;
    this.file = file;
    this.vmOps = vmOps;
  }

  /** Anonymous memory: no file behind it (`vma_is_anonymous`). Shared anonymous is shmem, not anonymous. */
  get isAnonymous(): boolean {
    return this.file === null && this.vmOps === null;
  }

  /** `is_vm_hugetlb_page`. */
  get isHugetlb(): boolean {
    return (this.flags & VM_HUGETLB) !== 0;
  }

  /** Private and may be written: pages are copied on write (`is_cow_mapping`). */
  get isCow(): boolean {
    return (this.flags & (VM_SHARED | VM_MAYWRITE)) === VM_MAYWRITE;
  }

  /** VM_IO or VM_PFNMAP: no struct pages behind it. */
  get isIoOrPfnmap(): boolean {
    return (this.flags & (VM_IO | VM_PFNMAP)) !== 0;
  }

  /** VM_MIXEDMAP. */
  get isMixedmap(): boolean {
    return (this.flags & VM_MIXEDMAP) !== 0;
  }

  /** Linear page index of `addr` (`linear_page_index`). */
  pageIndex(addr: number): number {
    return this.pgoff + (addr - this.start) / PAGE_SIZE;
  }

  /** Size in bytes. */
  get size(): number {
    return this.end - this.start;
  }
}
