/**
 * CPU accesses to user memory: a TLB-like walk of the page tables for each page, and on a miss the
 * architecture's fault path (x86 do_user_addr_fault): mmap read lock, VMA lookup, access check
 * (SIGSEGV), `handle_mm_fault`, and the signal for a failed fault. Accessed and dirty bits are set
 * as the hardware would.
 * @module
 */
import {
  FAULT_FLAG_WRITE,
  PAGE_SIZE,
  VM_EXEC,
  VM_FAULT_HWPOISON,
  VM_FAULT_OOM,
  VM_FAULT_SIGBUS,
  VM_FAULT_SIGSEGV,
  VM_READ,
  VM_WRITE,
} from './constants.ts';
import { handleMmFault } from './fault.ts';
import type { MmStruct } from './mm-struct.ts';
import { walkLevel, walkToLeaf } from './page-table.ts';
import { PTE_DIRTY, PTE_KIND_MASK, PTE_PRESENT, PTE_PROTNONE, PTE_WRITE, PTE_YOUNG } from './pte.ts';
import { BusError, OutOfMemoryKill, SegmentationFault } from './signals.ts';

/**
 * The hardware walk: the pfn that `vpn` translates to for a read or write, setting the accessed
 * (and dirty) bit; -1 when the access would fault.
 */
export function translate(mm: MmStruct, vpn: number, write: boolean): number {
  const pool = mm.kernel.pt;
  const off = walkToLeaf(pool, mm.pgd, vpn);
  const w = pool.words;
  const lo = w[off]!;
  if ((lo & PTE_KIND_MASK) !== PTE_PRESENT || (lo & PTE_PROTNONE) !== 0) return -1;
  if (write && (lo & PTE_WRITE) === 0) return -1;
  const bits = write ? PTE_YOUNG | PTE_DIRTY : PTE_YOUNG;
  if ((lo & bits) !== bits) w[off] = lo | bits;
  const level = walkLevel;
  const pfn = w[off + 1]!;
  return level === 1 ? pfn : pfn + (vpn % (level === 2 ? 512 : 262144));
}

/**
 * A user-mode fault at `addr` (do_user_addr_fault): throws SegmentationFault, BusError or
 * OutOfMemoryKill when the kernel would deliver a signal.
 */
export async function userFault(mm: MmStruct, addr: number, write: boolean): Promise<void> {
  if (!mm.mmapLock.downReadTrylock()) await mm.mmapLock.downRead();
  let r: number;
  try {
    const vma = mm.vmaLookup(addr);
    if (vma === null) throw new SegmentationFault(addr, write, 'no mapping at this address');
    const allowed = write ? (vma.flags & VM_WRITE) !== 0 : (vma.flags & (VM_READ | VM_WRITE | VM_EXEC)) !== 0;
    if (!allowed)
      throw new SegmentationFault(addr, write, `the mapping does not allow ${write ? 'writes' : 'reads'}`);
    r = await handleMmFault(vma, addr, write ? FAULT_FLAG_WRITE : 0);
  } finally {
    mm.mmapLock.upRead();
  }
  if ((r & VM_FAULT_OOM) !== 0) throw new OutOfMemoryKill(addr, write);
  if ((r & (VM_FAULT_SIGBUS | VM_FAULT_HWPOISON)) !== 0)
    throw new BusError(
      addr,
      write,
      r & VM_FAULT_HWPOISON ? 'hardware-poisoned page' : 'the fault could not provide a page',
    );
  if ((r & VM_FAULT_SIGSEGV) !== 0)
    throw new SegmentationFault(addr, write, 'the fault handler refused the access');
}

/** Reads `length` bytes at `addr` as the CPU would. */
export async function cpuRead(mm: MmStruct, addr: number, length: number): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  const pm = mm.kernel.pm;
  const sched = mm.kernel.sched;
  let done = 0;
  while (done < length) {
    const a = addr + done;
    const vpn = Math.floor(a / PAGE_SIZE);
    const pageOff = a - vpn * PAGE_SIZE;
    const n = Math.min(PAGE_SIZE - pageOff, length - done);
    const p = sched.point('cpu read');
    if (p) await p;
    const pfn = translate(mm, vpn, false);
    if (pfn < 0) {
      await userFault(mm, a, false);
      continue;
    }
    pm.readBytes(pfn, pageOff, out, done, n);
    done += n;
  }
  return out;
}

/** Writes `data` at `addr` as the CPU would. */
export async function cpuWrite(mm: MmStruct, addr: number, data: Uint8Array): Promise<void> {
  const pm = mm.kernel.pm;
  const sched = mm.kernel.sched;
  const length = data.length;
  let done = 0;
  while (done < length) {
    const a = addr + done;
    const vpn = Math.floor(a / PAGE_SIZE);
    const pageOff = a - vpn * PAGE_SIZE;
    const n = Math.min(PAGE_SIZE - pageOff, length - done);
    const p = sched.point('cpu write');
    if (p) await p;
    const pfn = translate(mm, vpn, true);
    if (pfn < 0) {
      await userFault(mm, a, true);
      continue;
    }
    pm.writeBytes(pfn, pageOff, data, done, n);
    done += n;
  }
}
