/**
 * hmm-tests.c, device-exclusive (atomic) access: exclusive, exclusive_mprotect and
 * exclusive_cow, each in the device-private and device-coherent variants.
 *
 * The tests are in `src/selftest/tests/exclusive.ts`; this file runs them under vitest.
 */
import { selftests } from '../../src/selftest/tests/exclusive.ts';
import { portToVitest } from './harness.ts';

portToVitest(selftests);
