/**
 * READ and WRITE, the device accessing CPU memory (`dmirror_read`, `dmirror_write`,
 * `dmirror_do_read`, `dmirror_do_write` and the bounce buffer in lib/test_hmm.c): copy through the
 * device page table as far as it goes, fault the rest in, and repeat until every page was copied.
 * @module
 */
import { PAGE_SIZE } from '../../mm/constants.ts';
import type { ContentSnapshot } from '../../mm/content-snapshot.ts';
import { EFAULT, ENOENT, ENOMEM } from '../../sim/errno.ts';
import type { HmmDmirrorCmd } from './cmd.ts';
import { dmirrorFault, dmirrorFaultUnlocked } from './fault.ts';
import type { DmirrorFile } from './file.ts';
import { DPT_LEAF_ENTRIES, DPT_XA_TAG_WRITE, xaPointerTag, xaUntagPointer } from './pt.ts';

/** `struct dmirror_bounce`: the kernel-side copy of the user buffer. */
export interface DmirrorBounce {
  /** The bytes. */
  ptr: Uint8Array;
  /** The first user address it stands for. */
  addr: number;
  /** Pages copied so far. */
  cpages: number;
}

/** `dmirror_bounce_init`: a bounce buffer of `size` bytes, or null when it cannot be allocated (vmalloc failing). */
export function dmirrorBounceInit(addr: number, size: number): DmirrorBounce | null {
  let ptr: Uint8Array;
  try {
    ptr = new Uint8Array(size);
  } catch {
    return null;
  }
  return { ptr, addr, cpages: 0 };
}

/**
 * `dmirror_do_read`: copies `[start, end)` from the pages the device page table names into the
 * bounce buffer, in order, and stops with -ENOENT at the first page without an entry (any tag
 * will do). Called with the file's mutex held.
 */
export function dmirrorDoRead(
  dmirror: DmirrorFile,
  start: number,
  end: number,
  bounce: DmirrorBounce,
): number {
  const k = dmirror.process.kernel;
  const pm = k.pm;
  let off = start - bounce.addr;
  for (let vpn = start / PAGE_SIZE, last = end / PAGE_SIZE; vpn < last; vpn++) {
    const entry = dmirror.pt.get(vpn);
    if (entry === undefined) return -ENOENT;
    pm.readBytes(xaUntagPointer(entry), 0, bounce.ptr, off, PAGE_SIZE);
    const o = k.observer;
    if (o?.deviceAccess) {
      const page = bounce.ptr.subarray(off, off + PAGE_SIZE);
      o.deviceAccess(dmirror, dmirror.mm, vpn * PAGE_SIZE, xaUntagPointer(entry), false, page);
    }
    off += PAGE_SIZE;
    bounce.cpages++;
  }
  return 0;
}

/**
 * {@link dmirrorDoRead} into a {@link ContentSnapshot} instead of a bounce buffer: the same pages
 * in the same order, the same -ENOENT, and `cmd.cpages` counted the same way; the bytes are
 * built only when the caller reads them. For callers without a `deviceAccess` observer (which
 * needs every page's bytes at once). Called with the file's mutex held.
 */
export function dmirrorDoReadSnapshot(
  dmirror: DmirrorFile,
  start: number,
  end: number,
  snapshot: ContentSnapshot,
  cmd: HmmDmirrorCmd,
): number {
  const pm = dmirror.process.kernel.pm;
  const pt = dmirror.pt;
  cmd.cpages = 0;
  // Counted by page, and the table read by leaf key and index (small integers): a page number
  // (a double above 2^31) would be boxed on every iteration that passes it to a call.
  const first = start / PAGE_SIZE;
  const n = (end - start) / PAGE_SIZE;
  let key = Math.floor(first / DPT_LEAF_ENTRIES);
  let index = first - key * DPT_LEAF_ENTRIES;
  for (let i = 0; i < n; i++) {
    const entry = pt.getAt(key, index);
    if (entry === undefined) return -ENOENT;
    snapshot.save(pm, i, xaUntagPointer(entry));
    cmd.cpages++;
    if (++index === DPT_LEAF_ENTRIES) {
      key++;
      index = 0;
    }
  }
  return 0;
}

/**
 * `dmirror_do_write`: copies the bounce buffer into the pages of `[start, end)`; an entry counts
 * only if the device may write through it (WRITE tag), otherwise -ENOENT. Called with the file's
 * mutex held.
 */
export function dmirrorDoWrite(
  dmirror: DmirrorFile,
  start: number,
  end: number,
  bounce: DmirrorBounce,
): number {
  const k = dmirror.process.kernel;
  const pm = k.pm;
  let off = start - bounce.addr;
  for (let vpn = start / PAGE_SIZE, last = end / PAGE_SIZE; vpn < last; vpn++) {
    const entry = dmirror.pt.get(vpn);
    if (entry === undefined || xaPointerTag(entry) !== DPT_XA_TAG_WRITE) return -ENOENT;
    pm.writeBytes(xaUntagPointer(entry), 0, bounce.ptr, off, PAGE_SIZE);
    const o = k.observer;
    if (o?.deviceAccess) {
      const page = bounce.ptr.subarray(off, off + PAGE_SIZE);
      o.deviceAccess(dmirror, dmirror.mm, vpn * PAGE_SIZE, xaUntagPointer(entry), true, page);
    }
    off += PAGE_SIZE;
    bounce.cpages++;
  }
  return 0;
}

/** How a device read faults in the pages it found missing: the locked or the unlocked helper. */
type DmirrorFaultIn = (dmirror: DmirrorFile, start: number, end: number) => Promise<number>;

/**
 * `dmirror_read`: the device reads `cmd.npages` pages at `cmd.addr`. On success `cmd.ptr` holds
 * the data, `cmd.cpages` the pages read and `cmd.faults` the fault passes it took.
 */
export function dmirrorRead(dmirror: DmirrorFile, cmd: HmmDmirrorCmd): Promise<number> {
  return dmirrorReadFaulting(dmirror, cmd, (d, start, end) => dmirrorFault(d, start, end, false));
}

/**
 * `dmirror_read_unlocked` (HMM_DMIRROR_READ_UNLOCKED, the lock-drop series): {@link dmirrorRead}
 * with the missing pages faulted through `hmm_range_fault_unlocked_timeout(range, timeout)`, so
 * faults that must drop the mmap lock (userfaultfd) are served.
 */
export function dmirrorReadUnlocked(
  dmirror: DmirrorFile,
  cmd: HmmDmirrorCmd,
  timeout: number,
): Promise<number> {
  return dmirrorReadFaulting(dmirror, cmd, (d, start, end) =>
    dmirrorFaultUnlocked(d, start, end, false, timeout),
  );
}

/** The loop both reads share: read what is mirrored, fault in the rest with `faultIn`, again. */
async function dmirrorReadFaulting(
  dmirror: DmirrorFile,
  cmd: HmmDmirrorCmd,
  faultIn: DmirrorFaultIn,
): Promise<number> {
  const size = cmd.npages * PAGE_SIZE;
  let start = cmd.addr;
  const end = start + size;
  const bounce = dmirrorBounceInit(start, size);
  if (bounce === null) return -ENOMEM;
  let ret: number;
  for (;;) {
    await dmirror.mutex.lock();
    ret = dmirrorDoRead(dmirror, start, end, bounce);
    dmirror.mutex.unlock();
    if (ret !== -ENOENT) break;
    start = cmd.addr + bounce.cpages * PAGE_SIZE;
    ret = await faultIn(dmirror, start, end);
    if (ret !== 0) break;
    cmd.faults++;
  }
  // copy_to_user of the whole buffer
  if (ret === 0) cmd.ptr = bounce.ptr;
  cmd.cpages = bounce.cpages;
  return ret;
}

/**
 * `dmirror_write`: the device writes the first `cmd.npages` pages of `cmd.ptr` at `cmd.addr`
 * (-EFAULT when the buffer is shorter: copy_from_user failing). On success `cmd.cpages` holds the
 * pages written and `cmd.faults` the fault passes.
 */
export async function dmirrorWrite(dmirror: DmirrorFile, cmd: HmmDmirrorCmd): Promise<number> {
  const size = cmd.npages * PAGE_SIZE;
  let start = cmd.addr;
  const end = start + size;
  const bounce = dmirrorBounceInit(start, size);
  if (bounce === null) return -ENOMEM;
  const src = cmd.ptr;
  if (src === null || src.length < size) return -EFAULT;
  bounce.ptr.set(src.length === size ? src : src.subarray(0, size));
  let ret: number;
  for (;;) {
    await dmirror.mutex.lock();
    ret = dmirrorDoWrite(dmirror, start, end, bounce);
    dmirror.mutex.unlock();
    if (ret !== -ENOENT) break;
    start = cmd.addr + bounce.cpages * PAGE_SIZE;
    ret = await dmirrorFault(dmirror, start, end, true);
    if (ret !== 0) break;
    cmd.faults++;
  }
  cmd.cpages = bounce.cpages;
  return ret;
}
