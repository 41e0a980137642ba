/**
 * CHECK_EXCLUSIVE (`dmirror_check_atomic` in lib/test_hmm.c): whether the device still holds
 * exclusive (atomic) access to a page of a range.
 * @module
 */
import { PAGE_SIZE } from '../../mm/constants.ts';
import { EPERM } from '../../sim/errno.ts';
import type { DmirrorFile } from './file.ts';
import { DPT_XA_TAG_ATOMIC, xaPointerTag } from './pt.ts';

/**
 * `dmirror_check_atomic`: -EPERM if any page of `[start, end)` still has an ATOMIC entry, else 0.
 * Read-only and writable entries are fine. Like the kernel, it reads the table without the mutex.
 */
export function dmirrorCheckAtomic(dmirror: DmirrorFile, start: number, end: number): number {
  const first = start / PAGE_SIZE;
  const last = end / PAGE_SIZE;
  if (last - first > dmirror.pt.size) {
    // Fewer entries than pages: the same answer from the table's side.
    for (const [vpn, entry] of dmirror.pt)
      if (vpn >= first && vpn < last && xaPointerTag(entry) === DPT_XA_TAG_ATOMIC) return -EPERM;
    return 0;
  }
  for (let vpn = first; vpn < last; vpn++) {
    const entry = dmirror.pt.get(vpn);
    if (entry !== undefined && xaPointerTag(entry) === DPT_XA_TAG_ATOMIC) return -EPERM;
  }
  return 0;
}
