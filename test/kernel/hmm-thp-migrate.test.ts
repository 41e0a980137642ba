/**
 * hmm-tests.c, migration of transparent huge pages to and from device memory:
 * migrate_anon_huge_empty, migrate_anon_huge_zero, migrate_anon_huge_free,
 * migrate_anon_huge_fault, migrate_partial_unmap_fault, migrate_remap_fault,
 * migrate_anon_huge_err and migrate_anon_huge_zero_err, each in the device-private and
 * device-coherent variants. The machine has THP (2 MiB PMDs), so none of them skips.
 *
 * The tests are in `src/selftest/tests/thp-migrate.ts`; this file runs them under vitest.
 */
import { selftests } from '../../src/selftest/tests/thp-migrate.ts';
import { portToVitest } from './harness.ts';

portToVitest(selftests);
