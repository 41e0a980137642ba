/**
 * hmm-tests.c, device memory and fork: anon_write_child (a forked child writes its copy through
 * its own device file, with and without the parent's pages migrated, with and without THP),
 * hmm_gup_test (get_user_pages and pin_user_pages on device pages) and hmm_cow_in_device (a
 * copy-on-write break of device pages), each in the device-private and device-coherent variants.
 *
 * The tests are in `src/selftest/tests/child.ts`; this file runs them under vitest.
 */
import { selftests } from '../../src/selftest/tests/child.ts';
import { portToVitest } from './harness.ts';

portToVitest(selftests);
