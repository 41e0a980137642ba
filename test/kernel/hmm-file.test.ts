/**
 * hmm-tests.c, file and device-file mappings: file_read, file_write (a shared tmpfile) and
 * mixedmap (the dmirror device file itself), each in the device-private and device-coherent
 * variants.
 *
 * The tests are in `src/selftest/tests/file.ts`; this file runs them under vitest.
 */
import { selftests } from '../../src/selftest/tests/file.ts';
import { portToVitest } from './harness.ts';

portToVitest(selftests);
