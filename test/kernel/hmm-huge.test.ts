/**
 * hmm-tests.c, huge mappings: anon_write_huge (a THP), anon_write_hugetlbfs and compound
 * (hugetlb), each in the device-private and device-coherent variants.
 *
 * The tests are in `src/selftest/tests/huge.ts`; this file runs them under vitest.
 */
import { selftests } from '../../src/selftest/tests/huge.ts';
import { portToVitest } from './harness.ts';

portToVitest(selftests);
