/**
 * The kernel's HMM self-test suite (tools/testing/selftests/mm/hmm-tests.c) ported to hmmsim, as
 * a library: every test case, in the kernel's order, runnable without a test framework. The
 * vitest suite (`test/kernel/`) and `hmmsim selftest` run these same cases.
 * @module
 */
import type { SelftestCase, SelftestFile } from './harness.ts';
import { selftests as anon } from './tests/anon.ts';
import { selftests as benchmark } from './tests/benchmark.ts';
import { selftests as child } from './tests/child.ts';
import { selftests as exclusive } from './tests/exclusive.ts';
import { selftests as file } from './tests/file.ts';
import { selftests as huge } from './tests/huge.ts';
import { selftests as migrate } from './tests/migrate.ts';
import { selftests as thpMigrate } from './tests/thp-migrate.ts';
import { selftests as userfaultfd } from './tests/userfaultfd.ts';

export { deepEqual, expect, formatValue, SelftestAssertionError, type SelftestMatchers } from './expect.ts';
export type { SelftestCase, SelftestDefinition, SelftestFile, SelftestRunOptions } from './harness.ts';
export { describeSelftestFailure, runSelftest, type SelftestResult } from './run.ts';
export { KselftestTap } from './tap.ts';

/** The port's files, each a {@link SelftestFile} of tests in its declaration order. */
export const SELFTEST_FILES: readonly SelftestFile[] = [
  anon,
  child,
  huge,
  file,
  migrate,
  exclusive,
  thpMigrate,
  benchmark,
  userfaultfd,
];

/**
 * The `TEST_F`s of hmm-tests.c (baseline `torvalds/linux` 0eaed89c, plus `userfaultfd_read` of
 * the 2026 lock-drop series) in the order the file declares them, which is the order the kselftest harness keeps within a fixture.
 */
export const HMM_TESTS_ORDER: readonly string[] = [
  'open_close',
  'anon_read',
  'anon_read_prot',
  'anon_write',
  'anon_write_prot',
  'anon_write_child',
  'anon_write_child_shared',
  'anon_write_huge',
  'anon_write_hugetlbfs',
  'file_read',
  'file_write',
  'migrate',
  'migrate_file_private',
  'migrate_fault',
  'migrate_release',
  'migrate_shared',
  'migrate_mixed',
  'migrate_multiple',
  'anon_read_multiple',
  'anon_teardown',
  'mixedmap',
  'snapshot',
  'compound',
  'double_map',
  'exclusive',
  'exclusive_mprotect',
  'exclusive_cow',
  'hmm_gup_test',
  'hmm_cow_in_device',
  'migrate_anon_huge_empty',
  'migrate_anon_huge_zero',
  'migrate_anon_huge_free',
  'migrate_anon_huge_fault',
  'migrate_partial_unmap_fault',
  'migrate_remap_fault',
  'migrate_anon_huge_err',
  'migrate_anon_huge_zero_err',
  'benchmark_thp_migration',
  // The 2026 lock-drop series (v8), declared after the benchmark.
  'userfaultfd_read',
];

/** The fixtures in declaration order (`FIXTURE(hmm)` before `FIXTURE(hmm2)`). */
const FIXTURE_ORDER = ['hmm', 'hmm2'];

/**
 * Every case of the suite, 78 of them, in the order the kselftest harness runs them: fixture by
 * fixture (hmm, hmm2), within a fixture variant by variant (device-private, then
 * device-coherent), within a variant test by test in hmm-tests.c's declaration order.
 */
export function listSelftests(): readonly SelftestCase[] {
  const definitions = SELFTEST_FILES.flatMap((f) => f.definitions);
  const rank = (test: string): number => {
    const i = HMM_TESTS_ORDER.indexOf(test);
    if (i < 0) throw new Error(`self-test ${test} is not in HMM_TESTS_ORDER`);
    return i;
  };
  for (const test of HMM_TESTS_ORDER)
    if (!definitions.some((d) => d.test === test)) throw new Error(`self-test ${test} is not ported`);
  const cases: SelftestCase[] = [];
  for (const fixture of FIXTURE_ORDER) {
    const mine = definitions.filter((d) => d.fixture === fixture).sort((a, b) => rank(a.test) - rank(b.test));
    const variants = [...new Set(mine.flatMap((d) => d.cases.map((c) => c.variant)))];
    for (const variant of variants)
      for (const d of mine) cases.push(...d.cases.filter((c) => c.variant === variant));
  }
  return Object.freeze(cases);
}
