/**
 * EXCLUSIVE, device atomic access (`dmirror_exclusive` and `dmirror_atomic_map` in
 * lib/test_hmm.c): each page of a range is made device-exclusive in the CPU page tables and mapped
 * ATOMIC in the device page table, then the range is read back through it. Any later CPU access
 * restores the PTE, announced as an EXCLUSIVE invalidation with no owner, which erases the entry.
 * @module
 */
import { makeDeviceExclusive, makeDeviceExclusiveRange } from '../../devmem/device-exclusive.ts';
import { PAGE_SIZE } from '../../mm/constants.ts';
import { mmgetNotZero, mmput } from '../../mm/exit.ts';
import { mmapReadLock, mmapReadUnlock } from '../../mm/mmap-lock.ts';
import { unlockPage } from '../../mm/page-lock.ts';
import { EBUSY, EINVAL, ENOMEM } from '../../sim/errno.ts';
import type { HmmDmirrorCmd } from './cmd.ts';
import type { DmirrorFile } from './file.ts';
import { DPT_XA_TAG_ATOMIC, xaTagPointer } from './pt.ts';
import { dmirrorBounceInit, dmirrorDoRead } from './read-write.ts';

/** `dmirror_atomic_map`: maps page `pfn` at `addr` in the device page table with the ATOMIC tag. */
export async function dmirrorAtomicMap(addr: number, pfn: number, dmirror: DmirrorFile): Promise<number> {
  await dmirror.mutex.lock();
  dmirror.pt.set(addr / PAGE_SIZE, xaTagPointer(pfn, DPT_XA_TAG_ATOMIC));
  const o = dmirror.mdevice.kernel.observer;
  if (o?.mirrorUpdate) o.mirrorUpdate(dmirror);
  dmirror.mutex.unlock();
  return 0;
}

/**
 * `dmirror_exclusive`: `make_device_exclusive` on each page of `cmd.npages` pages at `cmd.addr`
 * under the mmap read lock, with no owner (as the driver passes NULL: its own conversion's
 * EXCLUSIVE invalidation erases the entry, and the driver stores it again right after), then an
 * ATOMIC mirror entry. The first failure (-EOPNOTSUPP for a page that is not anonymous, a fault
 * error…) is returned. Then the range is read back as MIGRATE_TO_DEV does: -ENOENT when a page
 * has no entry, else `cmd.ptr` and `cmd.cpages`. -EINVAL when the mirrored mm has gone. With
 * `kernelVersion: '6.12'`, 6.12's driver and `make_device_exclusive_range` instead (-EBUSY unless
 * every page was made exclusive).
 */
export async function dmirrorExclusive(dmirror: DmirrorFile, cmd: HmmDmirrorCmd): Promise<number> {
  const start = cmd.addr;
  const size = cmd.npages * PAGE_SIZE;
  const end = start + size;
  const mm = dmirror.notifier.mm!;
  const k = mm.kernel;
  if (!mmgetNotZero(mm)) return -EINVAL;
  let ret = 0;
  await mmapReadLock(mm);
  try {
    if (k.kernelVersion === '6.12') ret = await dmirrorExclusiveRange612(dmirror, start, end);
    for (let addr = start; k.kernelVersion !== '6.12' && ret === 0 && addr < end; addr += PAGE_SIZE) {
      const page = await makeDeviceExclusive(mm, addr, null);
      if (page < 0) {
        ret = page;
        break;
      }
      ret = await dmirrorAtomicMap(addr, page, dmirror);
      unlockPage(k, page);
      k.putPage(page);
    }
  } finally {
    mmapReadUnlock(mm);
    await mmput(mm);
  }
  if (ret !== 0) return ret;

  // Return the data for verification.
  const bounce = dmirrorBounceInit(start, size);
  if (bounce === null) return -ENOMEM;
  await dmirror.mutex.lock();
  ret = dmirrorDoRead(dmirror, start, end, bounce);
  dmirror.mutex.unlock();
  if (ret === 0) cmd.ptr = bounce.ptr;
  cmd.cpages = bounce.cpages;
  return ret;
}

/** `ARRAY_SIZE(pages)` of 6.12's `dmirror_exclusive`: pages per make_device_exclusive_range call. */
const DMIRROR_EXCLUSIVE_BATCH = 64;

/** The ATOMIC mirror entries of 6.12's driver: one per page made exclusive; returns how many. */
async function dmirrorAtomicMapPages(addr: number, pages: number[], dmirror: DmirrorFile): Promise<number> {
  let mapped = 0;
  for (let i = 0; i < pages.length; i++) {
    if (pages[i] === 0) continue;
    await dmirrorAtomicMap(addr + i * PAGE_SIZE, pages[i]!, dmirror);
    mapped++;
  }
  return mapped;
}

/**
 * 6.12's `dmirror_exclusive` loop: `make_device_exclusive_range` on 64 pages at a time; the ATOMIC
 * entries are stored only when GUP returned every page of the batch, and unless every page of it
 * was made exclusive the command fails with -EBUSY (whatever the reason: a GUP error, a tail page
 * of a THP, hugetlb, shared or file memory). The caller holds the mmap read lock.
 */
async function dmirrorExclusiveRange612(dmirror: DmirrorFile, start: number, end: number): Promise<number> {
  const k = dmirror.mdevice.kernel;
  const mm = dmirror.notifier.mm!;
  for (let addr = start, next = start; addr < end; addr = next) {
    next = Math.min(end, addr + DMIRROR_EXCLUSIVE_BATCH * PAGE_SIZE);
    const pages = await makeDeviceExclusiveRange(mm, addr, next, null);
    let mapped = 0;
    if (typeof pages !== 'number') {
      if (pages.length === (next - addr) / PAGE_SIZE)
        mapped = await dmirrorAtomicMapPages(addr, pages, dmirror);
      for (const pfn of pages) {
        if (pfn === 0) continue;
        unlockPage(k, pfn);
        k.putPage(pfn);
      }
    }
    if (addr + mapped * PAGE_SIZE < next) return -EBUSY;
  }
  return 0;
}
