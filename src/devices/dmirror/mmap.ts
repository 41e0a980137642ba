/**
 * mmap of the dmirror device file (`dmirror_fops_mmap` in lib/test_hmm.c): every page of the new
 * VMA gets a zeroed kernel page inserted with `vm_insert_page` semantics, which makes the VMA a
 * VM_MIXEDMAP mapping of ordinary struct pages. A private writable mapping gets read-only PTEs
 * (the first write copies the page); a shared writable one maps them writable.
 * @module
 */
import { PAGE_SIZE, VM_MIXEDMAP, VM_SHARED, VM_WRITE } from '../../mm/constants.ts';
import { insertPageLocked } from '../../mm/fault.ts';
import { ensureEntry } from '../../mm/page-table.ts';
import { PTE_KIND_MASK, PTE_NONE } from '../../mm/pte.ts';
import type { Vma, VmOperations } from '../../mm/vma.ts';
import { EBUSY, ENOMEM } from '../../sim/errno.ts';

/**
 * The VMA operations of a dmirror mapping: none beyond a name. A fault on a page that is no
 * longer there (after MADV_DONTNEED, say) finds no `fault` handler and raises SIGBUS, as a VMA
 * of a driver without `vm_ops->fault` does.
 */
export const dmirrorVmOps: VmOperations = { name: 'hmm_dmirror' };

/**
 * `vm_insert_page(vma, addr, pfn)`: maps one page with a struct page at `addr` (the core takes
 * its own reference and mapcount), marking the VMA VM_MIXEDMAP. -EBUSY when something is already
 * mapped there, -ENOMEM when a page table cannot be had. The caller holds the mmap lock.
 */
export function vmInsertPage(vma: Vma, addr: number, pfn: number): number {
  const k = vma.mm.kernel;
  vma.flags |= VM_MIXEDMAP;
  const off = ensureEntry(k.pt, vma.mm.pgd, addr / PAGE_SIZE, 1);
  if (off < 0) return -ENOMEM;
  if ((k.pt.words[off]! & PTE_KIND_MASK) !== PTE_NONE) return -EBUSY;
  // vm_page_prot: writable only for a shared writable mapping (a private one is copy-on-write).
  insertPageLocked(vma, off, pfn, (vma.flags & (VM_SHARED | VM_WRITE)) === (VM_SHARED | VM_WRITE));
  return 0;
}

/**
 * `dmirror_fops_mmap`: fills the VMA with zeroed pages. Each page's allocation reference is
 * dropped once it is mapped, so the mapping owns it and unmapping frees it. -ENOMEM when memory
 * runs out (the mapping is then undone by mmap).
 */
export function dmirrorFopsMmap(vma: Vma): number {
  const k = vma.mm.kernel;
  // The VMA belongs to a driver, not to anonymous memory.
  vma.vmOps = dmirrorVmOps;
  for (let addr = vma.start; addr < vma.end; addr += PAGE_SIZE) {
    // alloc_page(GFP_KERNEL | __GFP_ZERO): a fresh frame reads as zeros until written.
    const pfn = k.pm.allocPages(0);
    if (pfn === 0) return -ENOMEM;
    const ret = vmInsertPage(vma, addr, pfn);
    if (ret !== 0) {
      k.putPage(pfn);
      return ret;
    }
    k.putPage(pfn);
  }
  return 0;
}
