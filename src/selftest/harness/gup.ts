/**
 * `/sys/kernel/debug/gup_test` as `hmm_gup_test` uses it (tools/testing/selftests/mm/gup_test.h,
 * mm/gup_test.c).
 * @module
 */
import {
  FOLL_GET,
  FOLL_LONGTERM,
  FOLL_PIN,
  FOLL_WRITE,
  getUserPages,
  mmapReadLock,
  mmapReadUnlock,
  PAGE_SIZE,
  type Process,
  putUserPage,
  unpinUserPage,
} from '../../mm/index.ts';

/** gup_test commands used by hmm_gup_test (tools/testing/selftests/mm/gup_test.h). */
export type GupTestCmd =
  | 'GUP_FAST_BENCHMARK'
  | 'PIN_FAST_BENCHMARK'
  | 'PIN_LONGTERM_BENCHMARK'
  | 'GUP_BASIC_TEST';
/** `GUP_FAST_BENCHMARK`. */
export const GUP_FAST_BENCHMARK: GupTestCmd = 'GUP_FAST_BENCHMARK';
/** `PIN_FAST_BENCHMARK`. */
export const PIN_FAST_BENCHMARK: GupTestCmd = 'PIN_FAST_BENCHMARK';
/** `PIN_LONGTERM_BENCHMARK`. */
export const PIN_LONGTERM_BENCHMARK: GupTestCmd = 'PIN_LONGTERM_BENCHMARK';
/** `GUP_BASIC_TEST`. */
export const GUP_BASIC_TEST: GupTestCmd = 'GUP_BASIC_TEST';

/**
 * `gup_test_exec` through the gup_test debugfs file (mm/gup_test.c): for each chunk of
 * `npages` pages of `size` bytes at `addr`, `get_user_pages` (basic test),
 * `get_user_pages_fast`, `pin_user_pages_fast` or `pin_user_pages(… | FOLL_LONGTERM)` with
 * `FOLL_WRITE | flags`, then the references or pins are released (`put_back_pages`). The
 * simulated machine has no lock-free fast path: the fast variants take the slow path, as the
 * kernel's do for any page the fast walk cannot take (device-private entries, pages that must
 * migrate before a long-term pin). Like the ioctl, returns 0 however many pages were obtained.
 */
export async function gupTestExec(
  process: Process,
  addr: number,
  cmd: GupTestCmd,
  npages: number,
  size: number,
  flags: number,
): Promise<number> {
  const mm = process.mm;
  let gupFlags = FOLL_WRITE | flags;
  const pin = cmd === PIN_FAST_BENCHMARK || cmd === PIN_LONGTERM_BENCHMARK;
  if (cmd === PIN_LONGTERM_BENCHMARK) gupFlags |= FOLL_LONGTERM;
  gupFlags |= pin ? FOLL_PIN : FOLL_GET;
  const nrPages = size / PAGE_SIZE;
  const pages: number[] = [];
  await mmapReadLock(mm);
  try {
    for (let i = 0; i < nrPages; ) {
      const nr = Math.min(npages, nrPages - i);
      const got = await getUserPages(mm, addr + i * PAGE_SIZE, nr, gupFlags);
      if (typeof got === 'number' || got.length === 0) break;
      pages.push(...got);
      i += got.length;
    }
  } finally {
    mmapReadUnlock(mm);
  }
  for (const pfn of pages) {
    if (pin) unpinUserPage(mm, pfn);
    else putUserPage(mm, pfn);
  }
  return 0;
}
