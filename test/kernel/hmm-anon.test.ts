/**
 * hmm-tests.c, private and shared anonymous memory read and written by the device:
 * open_close, anon_read, anon_read_prot, anon_write, anon_write_prot, anon_write_child_shared,
 * anon_read_multiple and anon_teardown, each in the device-private and device-coherent variants.
 *
 * The tests are in `src/selftest/tests/anon.ts`; this file runs them under vitest.
 */
import { selftests } from '../../src/selftest/tests/anon.ts';
import { portToVitest } from './harness.ts';

portToVitest(selftests);
