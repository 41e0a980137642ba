/** selftests/mm/cow.c: vmsplice() in the child and in the parent. The cases are in src/selftest/cow/; this file runs them under vitest. */
import { portCowToVitest } from './cow-harness.ts';

portCowToVitest('cow.c: vmsplice() in the child and in the parent', (c) => c.test.startsWith('vmsplice()'));
