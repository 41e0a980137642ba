/** selftests/mm/cow.c: Basic COW after fork() (with and without the mprotect() optimization). The cases are in src/selftest/cow/; this file runs them under vitest. */
import { portCowToVitest } from './cow-harness.ts';

portCowToVitest(
  'cow.c: Basic COW after fork() (with and without the mprotect() optimization)',
  (c) => c.test.startsWith('Basic COW after fork()') && !c.test.includes('collapsing'),
);
