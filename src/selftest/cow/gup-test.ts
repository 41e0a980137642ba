/**
 * The long-term pin half of `/sys/kernel/debug/gup_test` (mm/gup_test.c) that cow.c uses:
 * `PIN_LONGTERM_TEST_START` pins a user range with `pin_user_pages(…, FOLL_LONGTERM)` (read-only
 * unless `PIN_LONGTERM_TEST_FLAG_USE_WRITE`), `PIN_LONGTERM_TEST_READ` copies the pinned pages'
 * contents out as they are now, `PIN_LONGTERM_TEST_STOP` unpins them. One instance per open file.
 * @module
 */

import { ContentSnapshot } from '../../mm/content-snapshot.ts';
import {
  FOLL_LONGTERM,
  FOLL_PIN,
  FOLL_WRITE,
  getUserPages,
  mmapReadLock,
  mmapReadUnlock,
  PAGE_SIZE,
  type Process,
  unpinUserPage,
} from '../../mm/index.ts';
import { EINVAL } from '../../sim/errno.ts';

/** `PIN_LONGTERM_TEST_FLAG_USE_WRITE`. */
export const PIN_LONGTERM_TEST_FLAG_USE_WRITE = 1;
/** `PIN_LONGTERM_TEST_FLAG_USE_FAST`. */
export const PIN_LONGTERM_TEST_FLAG_USE_FAST = 2;

/** An open gup_test file's long-term pin state (`pin_longterm_test_pages`). */
export class GupTestPinLongterm {
  private pages: number[] | null = null;
  private readonly process: Process;

  /** `open("/sys/kernel/debug/gup_test")` in `process`. */
  constructor(process: Process) {
    this.process = process;
  }

  /**
   * `ioctl(PIN_LONGTERM_TEST_START, {addr, size, flags})`: 0, or -EINVAL (already started, bad
   * flags, unaligned or empty range), or the -errno of the pinning, all pins then dropped. The
   * fast variant (`pin_user_pages_fast`) takes the same path: hmmsim has no lock-free walk, and
   * the kernel's fast walk falls back to it for every page these tests pin read-only and must
   * unshare.
   */
  async start(addr: number, size: number, flags: number): Promise<number> {
    if (this.pages !== null) return -EINVAL;
    if ((flags & ~(PIN_LONGTERM_TEST_FLAG_USE_WRITE | PIN_LONGTERM_TEST_FLAG_USE_FAST)) !== 0) return -EINVAL;
    if ((addr | size) % PAGE_SIZE !== 0 || size === 0) return -EINVAL;
    const nrPages = size / PAGE_SIZE;
    let gupFlags = FOLL_PIN | FOLL_LONGTERM;
    if ((flags & PIN_LONGTERM_TEST_FLAG_USE_WRITE) !== 0) gupFlags |= FOLL_WRITE;
    const mm = this.process.mm;
    const pages: number[] = [];
    this.pages = pages;
    await mmapReadLock(mm);
    try {
      while (pages.length < nrPages) {
        const got = await getUserPages(mm, addr + pages.length * PAGE_SIZE, nrPages - pages.length, gupFlags);
        if (typeof got === 'number') {
          this.stop();
          return got;
        }
        // One at a time: a 1 GiB range is 262144 pages, too many arguments for a spread.
        for (const pfn of got) pages.push(pfn);
      }
    } finally {
      mmapReadUnlock(mm);
    }
    return 0;
  }

  /**
   * `ioctl(PIN_LONGTERM_TEST_READ, &buf)`: the pinned pages' contents now (a snapshot: what the
   * copy into `buf` holds, without copying), or -EINVAL if none.
   */
  read(): ContentSnapshot | number {
    if (this.pages === null) return -EINVAL;
    const pm = this.process.kernel.pm;
    const out = new ContentSnapshot(this.pages.length);
    for (const [i, pfn] of this.pages.entries()) out.save(pm, i, pfn);
    return out;
  }

  /** `ioctl(PIN_LONGTERM_TEST_STOP)`: unpins everything (`unpin_user_pages`). */
  stop(): number {
    if (this.pages !== null) for (const pfn of this.pages) unpinUserPage(this.process.mm, pfn);
    this.pages = null;
    return 0;
  }
}
