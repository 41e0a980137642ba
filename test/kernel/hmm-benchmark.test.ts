/**
 * hmm-tests.c, benchmark_thp_migration in the device-private and device-coherent variants: the
 * kernel benchmark's loop (a warm-up, then timed MIGRATE_TO_DEV / MIGRATE_TO_SYS rounds, with
 * and without THP, over buffer sizes from a quarter THP up), each run required to succeed. The
 * port also checks the data after every round (the kernel's does not), and stops at 8 THPs so
 * the suite stays fast; `bench/thp-migration.bench.ts` runs the full size list up to 128 THPs.
 *
 * The tests are in `src/selftest/tests/benchmark.ts`; this file runs them under vitest.
 */
import { selftests } from '../../src/selftest/tests/benchmark.ts';
import { portToVitest } from './harness.ts';

portToVitest(selftests);
