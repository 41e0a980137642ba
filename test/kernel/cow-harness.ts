/**
 * The vitest side of the COW self-test port (src/selftest/cow/): one test per case of
 * selftests/mm/cow.c, titled by its `[RUN]` line, expecting what Linux 6.12 reports: pass, but an
 * expected failure (XFAIL) for the four vmsplice() tests on hugetlb (the kernel's known leak:
 * hugetlb_wp reuses a page mapped once whatever its other references) on both hugetlb sizes,
 * 2 MiB and 1 GiB, and a skip where 6.12's MADV_COLLAPSE refuses (a THP whose every PTE is
 * read-only after fork). hmmsim models every case (`cowNotModelled()` is empty); a case it did not
 * would be expected to skip with its reason.
 */
import { describe, expect, it } from 'vitest';
import { type CowCase, type CowOutcome, listCowCases } from '../../src/selftest/cow/index.ts';

/** What 6.12 reports for `c` (with swap and huge pages), or `skip` where hmmsim does not model it. */
export function expectedCowOutcome(c: CowCase): CowOutcome {
  if (c.notModelled !== undefined) return 'skip';
  // All its PTEs are read-only (COW-shared): SCAN_PAGE_RO, MADV_COLLAPSE fails with -EINVAL.
  if (c.name === 'Basic COW after fork() when collapsing after fork() (fully shared)') return 'skip';
  if (c.name.startsWith('vmsplice()') && c.name.includes('with hugetlb')) return 'xfail';
  return 'pass';
}

/** One vitest suite titled `title` with the cases `select` picks, in cow.c's order. */
export function portCowToVitest(title: string, select: (c: CowCase) => boolean): void {
  describe(title, () => {
    for (const c of listCowCases().filter(select))
      it(c.name, async () => {
        const r = await c.run({ kernelVersion: '6.12' });
        const want = expectedCowOutcome(c);
        expect(`${r.outcome}: ${r.message}`).toMatch(new RegExp(`^${want}: `));
        // A case hmmsim does not model says so; the one 6.12 skips says what 6.12 says.
        if (c.notModelled !== undefined) expect(r.message).toContain('not modelled');
        else if (want === 'skip') expect(r.message).toBe('MADV_COLLAPSE failed: Invalid argument');
      });
  });
}
