/**
 * EXCLUSIVE, device atomic access (`dmirror_exclusive` and `dmirror_atomic_map` in
 * lib/test_hmm.c): each page of a range is made device-exclusive in the CPU page tables and mapped
 * ATOMIC in the device page table, then the range is read back through it. Any later CPU access
 * restores the PTE, announced as an EXCLUSIVE invalidation with no owner, which erases the entry.
 * @module
 */
import { makeDeviceExclusive } from '../../devmem/device-exclusive.ts';
import { PAGE_SIZE } from '../../mm/constants.ts';
import { mmgetNotZero, mmput } from '../../mm/exit.ts';
import { mmapReadLock, mmapReadUnlock } from '../../mm/mmap-lock.ts';
import { unlockPage } from '../../mm/page-lock.ts';
import { EINVAL, ENOMEM } from '../../sim/errno.ts';
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
 * has no entry, else `cmd.ptr` and `cmd.cpages`. -EINVAL when the mirrored mm has gone.
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
    for (let addr = start; ret === 0 && addr < end; addr += PAGE_SIZE) {
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
