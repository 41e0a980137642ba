/** selftests/mm/cow.c: non-anonymous memory: zero pages, memfd, tmpfile, hugetlb memfd. The cases are in src/selftest/cow/; this file runs them under vitest. */
import { portCowToVitest } from './cow-harness.ts';

portCowToVitest('cow.c: non-anonymous memory: zero pages, memfd, tmpfile, hugetlb memfd', (c) =>
  ['Basic COW', 'R/O longterm GUP pin', 'R/O longterm GUP-fast pin'].includes(c.test),
);
