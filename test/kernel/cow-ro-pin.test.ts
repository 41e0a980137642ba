/** selftests/mm/cow.c: R/O GUP and GUP-fast pins on shared, previously-shared and exclusive pages. The cases are in src/selftest/cow/; this file runs them under vitest. */
import { portCowToVitest } from './cow-harness.ts';

portCowToVitest('cow.c: R/O GUP and GUP-fast pins on shared, previously-shared and exclusive pages', (c) =>
  c.test.startsWith('R/O GUP'),
);
