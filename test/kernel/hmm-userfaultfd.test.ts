/**
 * hmm-tests.c, the lock-drop series' userfaultfd_read in the device-private and device-coherent
 * variants.
 *
 * The tests are in `src/selftest/tests/userfaultfd.ts`; this file runs them under vitest.
 */
import { selftests } from '../../src/selftest/tests/userfaultfd.ts';
import { portToVitest } from './harness.ts';

portToVitest(selftests);
