/**
 * hmm-tests.c, migration of base pages between system and device memory: migrate,
 * migrate_file_private, migrate_fault, migrate_release, migrate_shared, migrate_mixed (hmm2),
 * migrate_multiple, snapshot (hmm2) and double_map (hmm2), each in the device-private and
 * device-coherent variants.
 *
 * The tests are in `src/selftest/tests/migrate.ts`; this file runs them under vitest.
 */
import { selftests } from '../../src/selftest/tests/migrate.ts';
import { portToVitest } from './harness.ts';

portToVitest(selftests);
