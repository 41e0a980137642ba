/**
 * CPU accesses to user memory: a TLB-like walk of the page tables for each page, and on a miss the
 * architecture's fault path (x86 do_user_addr_fault): mmap read lock, VMA lookup, access check
 * (SIGSEGV), `handle_mm_fault`, and the signal for a failed fault. Accessed and dirty bits are set
 * as the hardware would.
 * @module
 */

import { UsageError } from '../sim/errors.ts';
import {
  FAULT_FLAG_ALLOW_RETRY,
  FAULT_FLAG_KILLABLE,
  FAULT_FLAG_TRIED,
  FAULT_FLAG_WRITE,
  PAGE_SIZE,
  VM_EXEC,
  VM_FAULT_HWPOISON,
  VM_FAULT_OOM,
  VM_FAULT_RETRY,
  VM_FAULT_SIGBUS,
  VM_FAULT_SIGSEGV,
  VM_READ,
  VM_WRITE,
} from './constants.ts';
import { ContentSnapshot } from './content-snapshot.ts';
import { handleMmFaultNoWait } from './fault.ts';
import type { MmStruct } from './mm-struct.ts';
import { leafLevel, leafOffset, walkLeaf } from './page-table.ts';
import { PTE_DIRTY, PTE_KIND_MASK, PTE_PRESENT, PTE_PROTNONE, PTE_WRITE, PTE_YOUNG } from './pte.ts';
import { BusError, FatalSignalKill, OutOfMemoryKill, SegmentationFault } from './signals.ts';
import { staleTlbLookup } from './stale-tlb.ts';

/**
 * The hardware walk: the pfn that `vpn` translates to for a read or write, setting the accessed
 * (and dirty) bit; -1 when the access would fault.
 */
export function translate(mm: MmStruct, vpn: number, write: boolean): number {
  // Failpoint M2 (docs/mutants.md; fixed by 60bae7370896): a translation the migration
  // collect left cached.
  if (mm.kernel.quirks.collectFlushesAfterUnlock) {
    const pfn = staleTlbLookup(mm, vpn, write);
    if (pfn >= 0) return pfn;
  }
  const pool = mm.kernel.pt;
  const leaf = walkLeaf(pool, mm.pgd, vpn);
  const off = leafOffset(leaf);
  const w = pool.words;
  const lo = w[off]!;
  if ((lo & PTE_KIND_MASK) !== PTE_PRESENT || (lo & PTE_PROTNONE) !== 0) return -1;
  if (write && (lo & PTE_WRITE) === 0) return -1;
  const bits = write ? PTE_YOUNG | PTE_DIRTY : PTE_YOUNG;
  if ((lo & bits) !== bits) w[off] = lo | bits;
  const level = leafLevel(leaf);
  const pfn = w[off + 1]!;
  return level === 1 ? pfn : pfn + (vpn % (level === 2 ? 512 : 262144));
}

/**
 * A user-mode fault at `addr` (do_user_addr_fault): throws SegmentationFault, BusError or
 * OutOfMemoryKill when the kernel would deliver a signal.
 */
export async function userFault(mm: MmStruct, addr: number, write: boolean): Promise<void> {
  const p = userFaultNoWait(mm, addr, write);
  if (p) await p;
}

/**
 * {@link userFault} without a promise in the common case: returns undefined once the fault is
 * handled when nothing had to wait (the mmap lock was free, the scheduler did not switch, the
 * fault took no sleeping branch), or a promise to await otherwise. Signals are thrown either way.
 */
export function userFaultNoWait(mm: MmStruct, addr: number, write: boolean): Promise<void> | undefined {
  if (!mm.mmapLock.downReadTrylock()) return userFaultWaitingForLock(mm, addr, write);
  return userFaultLocked(mm, addr, write);
}

async function userFaultWaitingForLock(mm: MmStruct, addr: number, write: boolean): Promise<void> {
  await mm.mmapLock.downRead();
  const p = userFaultLocked(mm, addr, write);
  if (p) await p;
}

/** The fault with the mmap read lock held; releases it. */
function userFaultLocked(mm: MmStruct, addr: number, write: boolean): Promise<void> | undefined {
  let r: number | Promise<number>;
  try {
    const vma = mm.vmaLookup(addr);
    if (vma === null) throw new SegmentationFault(addr, write, 'no mapping at this address');
    const allowed = write ? (vma.flags & VM_WRITE) !== 0 : (vma.flags & (VM_READ | VM_WRITE | VM_EXEC)) !== 0;
    if (!allowed)
      throw new SegmentationFault(addr, write, `the mapping does not allow ${write ? 'writes' : 'reads'}`);
    // x86 do_user_addr_fault: the fault may drop the lock (userfaultfd) and is killable.
    r = handleMmFaultNoWait(
      vma,
      addr,
      (write ? FAULT_FLAG_WRITE : 0) | FAULT_FLAG_ALLOW_RETRY | FAULT_FLAG_KILLABLE,
    );
  } catch (e) {
    mm.mmapLock.upRead();
    throw e;
  }
  if (typeof r !== 'number') return userFaultFinish(mm, r, addr, write);
  mm.mmapLock.upRead();
  deliverFaultSignal(r, addr, write);
  return undefined;
}

async function userFaultFinish(
  mm: MmStruct,
  pending: Promise<number>,
  addr: number,
  write: boolean,
): Promise<void> {
  let r: number;
  try {
    r = await pending;
  } catch (e) {
    mm.mmapLock.upRead();
    throw e;
  }
  // VM_FAULT_RETRY: the fault dropped the mmap lock (handle_userfault); the access faults again
  // with FAULT_FLAG_TRIED unless the task is dying (then the kill is what happens next).
  while ((r & VM_FAULT_RETRY) !== 0) {
    if (mm.kernel.sched.current.fatalSignalPending) throw new FatalSignalKill(addr, write);
    r = await userFaultRetry(mm, addr, write);
  }
  mm.mmapLock.upRead();
  deliverFaultSignal(r, addr, write);
}

/** The fault again after VM_FAULT_RETRY: the lock is retaken; returns with it held unless RETRY again. */
async function userFaultRetry(mm: MmStruct, addr: number, write: boolean): Promise<number> {
  await mm.mmapLock.downRead();
  const vma = mm.vmaLookup(addr);
  const allowed =
    vma !== null &&
    (write ? (vma.flags & VM_WRITE) !== 0 : (vma.flags & (VM_READ | VM_WRITE | VM_EXEC)) !== 0);
  if (!allowed) {
    mm.mmapLock.upRead();
    throw new SegmentationFault(
      addr,
      write,
      vma === null ? 'no mapping at this address' : 'access not allowed',
    );
  }
  try {
    return await handleMmFaultNoWait(
      vma,
      addr,
      (write ? FAULT_FLAG_WRITE : 0) | FAULT_FLAG_ALLOW_RETRY | FAULT_FLAG_KILLABLE | FAULT_FLAG_TRIED,
    );
  } catch (e) {
    mm.mmapLock.upRead();
    throw e;
  }
}

/** Throws the signal a failed fault delivers (VM_FAULT_* bits of `r`); returns if none. */
function deliverFaultSignal(r: number, addr: number, write: boolean): void {
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

/**
 * Visits `[addr, addr + length)` page by page as the CPU accesses it: each part of a page is
 * handed to `access` with the frame it translates to (`pfn`), its offset in the page, how many
 * bytes came before it and its length, once the translation exists — faulting first (and
 * retrying) when it does not. What the CPU does with the bytes is `access`'s.
 */
async function cpuAccess(
  mm: MmStruct,
  addr: number,
  length: number,
  write: boolean,
  access: (pfn: number, pageOff: number, done: number, n: number, a: number) => void,
): Promise<void> {
  const sched = mm.kernel.sched;
  const point = write ? 'cpu write' : 'cpu read';
  let done = 0;
  while (done < length) {
    const a = addr + done;
    const vpn = Math.floor(a / PAGE_SIZE);
    const pageOff = a - vpn * PAGE_SIZE;
    const n = Math.min(PAGE_SIZE - pageOff, length - done);
    const p = sched.point(point);
    if (p) await p;
    const pfn = translate(mm, vpn, write);
    if (pfn < 0) {
      const f = userFaultNoWait(mm, a, write);
      if (f) await f;
      continue;
    }
    access(pfn, pageOff, done, n, a);
    done += n;
  }
}

/** Reads `length` bytes at `addr` as the CPU would. */
export async function cpuRead(mm: MmStruct, addr: number, length: number): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  const pm = mm.kernel.pm;
  await cpuAccess(mm, addr, length, false, (pfn, pageOff, done, n, a) => {
    pm.readBytes(pfn, pageOff, out, done, n);
    const o = mm.kernel.observer;
    if (o?.userRead) o.userRead(mm, a, out.subarray(done, done + n));
  });
  return out;
}

/** Writes `data` at `addr` as the CPU would. */
export async function cpuWrite(mm: MmStruct, addr: number, data: Uint8Array): Promise<void> {
  const pm = mm.kernel.pm;
  await cpuAccess(mm, addr, data.length, true, (pfn, pageOff, done, n, a) => {
    pm.writeBytes(pfn, pageOff, data, done, n);
    const o = mm.kernel.observer;
    if (o?.userWrite) o.userWrite(mm, a, data.subarray(done, done + n));
  });
}

/**
 * A {@link cpuWrite} of `length` bytes that `produce` makes a chunk at a time: `produce(dst, done,
 * n)` puts bytes `done..done+n` of the data into `dst[0..n)` (n ≤ PAGE_SIZE) just before they are
 * stored. The same faults, scheduling points and stores in the same order as writing all the bytes
 * at once, with one page-sized buffer instead of `length` bytes made up front (a large write's data
 * is fresh host memory, costly in a browser worker).
 */
export async function cpuWriteFrom(
  mm: MmStruct,
  addr: number,
  length: number,
  produce: (dst: Uint8Array, done: number, n: number) => void,
): Promise<void> {
  const pm = mm.kernel.pm;
  const page = new Uint8Array(PAGE_SIZE);
  await cpuAccess(mm, addr, length, true, (pfn, pageOff, done, n, a) => {
    produce(page, done, n);
    pm.writeBytes(pfn, pageOff, page, 0, n);
    const o = mm.kernel.observer;
    if (o?.userWrite) o.userWrite(mm, a, page.subarray(0, n));
  });
}

/**
 * `memset(addr, byte, length)` as the CPU would do it: the same faults and accessed/dirty bits as
 * a {@link cpuWrite} of `length` bytes of `byte`, without a buffer of that length (whole pages
 * share one content slot per value: a 1 GiB page costs no 1 GiB of host memory).
 */
export async function cpuFill(mm: MmStruct, addr: number, byte: number, length: number): Promise<void> {
  const pm = mm.kernel.pm;
  let page: Uint8Array | null = null;
  await cpuAccess(mm, addr, length, true, (pfn, pageOff, _done, n, a) => {
    pm.fillBytes(pfn, pageOff, byte, n);
    const o = mm.kernel.observer;
    if (o?.userWrite) {
      page ??= new Uint8Array(PAGE_SIZE).fill(byte);
      o.userWrite(mm, a, page.subarray(0, n));
    }
  });
}

/**
 * Reads the `npages` pages from the page-aligned `addr` as the CPU would (the faults and accessed
 * bits of a {@link cpuRead}), into a {@link ContentSnapshot}: what a copy of them holds, kept
 * without copying (a 1 GiB range costs its page references, not 1 GiB).
 */
export async function cpuReadSnapshot(mm: MmStruct, addr: number, npages: number): Promise<ContentSnapshot> {
  if (addr % PAGE_SIZE !== 0)
    throw new UsageError('cpuReadSnapshot(addr)', `must be page-aligned, got ${addr}`);
  const pm = mm.kernel.pm;
  const snap = new ContentSnapshot(npages);
  await cpuAccess(mm, addr, npages * PAGE_SIZE, false, (pfn, _pageOff, done, _n, a) => {
    snap.save(pm, done / PAGE_SIZE, pfn);
    const o = mm.kernel.observer;
    if (o?.userRead) o.userRead(mm, a, pm.readableBytes(pfn));
  });
  return snap;
}

/** The four bytes of a little-endian 32-bit value. */
function le32(v: number): Uint8Array {
  return new Uint8Array([v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24]);
}

/**
 * Stores a little-endian 32-bit value at `addr` as the CPU would: the same steps as a 4-byte
 * {@link cpuWrite}, without a buffer and without a promise when nothing waits (returns undefined
 * once stored, or a promise to await).
 */
export function cpuStore32(mm: MmStruct, addr: number, value: number): Promise<void> | undefined {
  if (addr - Math.floor(addr / PAGE_SIZE) * PAGE_SIZE > PAGE_SIZE - 4)
    return cpuWrite(mm, addr, le32(value >>> 0)); // crosses a page
  const p = mm.kernel.sched.point('cpu write');
  if (p) return p.then(() => store32AfterPoint(mm, addr, value));
  return store32AfterPoint(mm, addr, value);
}

function store32AfterPoint(mm: MmStruct, addr: number, value: number): Promise<void> | undefined {
  const vpn = Math.floor(addr / PAGE_SIZE);
  for (;;) {
    const pfn = translate(mm, vpn, true);
    if (pfn >= 0) {
      mm.kernel.pm.writeU32(pfn, addr - vpn * PAGE_SIZE, value);
      const o = mm.kernel.observer;
      if (o?.userWrite32) o.userWrite32(mm, addr, value);
      return undefined;
    }
    const f = userFaultNoWait(mm, addr, true);
    if (f) return f.then(() => cpuStore32(mm, addr, value));
    const p = mm.kernel.sched.point('cpu write');
    if (p) return p.then(() => store32AfterPoint(mm, addr, value));
  }
}

/**
 * Loads a little-endian unsigned 32-bit value at `addr` as the CPU would: the same steps as a
 * 4-byte {@link cpuRead}, returning the value itself when nothing waits, or a promise of it.
 */
export function cpuLoad32(mm: MmStruct, addr: number): number | Promise<number> {
  if (addr - Math.floor(addr / PAGE_SIZE) * PAGE_SIZE > PAGE_SIZE - 4)
    return cpuRead(mm, addr, 4).then((b) => (b[0]! | (b[1]! << 8) | (b[2]! << 16) | (b[3]! << 24)) >>> 0);
  const p = mm.kernel.sched.point('cpu read');
  if (p) return p.then(() => load32AfterPoint(mm, addr));
  return load32AfterPoint(mm, addr);
}

function load32AfterPoint(mm: MmStruct, addr: number): number | Promise<number> {
  const vpn = Math.floor(addr / PAGE_SIZE);
  for (;;) {
    const pfn = translate(mm, vpn, false);
    if (pfn >= 0) {
      const value = mm.kernel.pm.readU32(pfn, addr - vpn * PAGE_SIZE);
      const o = mm.kernel.observer;
      if (o?.userRead32) o.userRead32(mm, addr, value);
      return value;
    }
    const f = userFaultNoWait(mm, addr, false);
    if (f) return f.then(() => cpuLoad32(mm, addr));
    const p = mm.kernel.sched.point('cpu read');
    if (p) return p.then(() => load32AfterPoint(mm, addr));
  }
}
