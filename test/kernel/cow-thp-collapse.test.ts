/** selftests/mm/cow.c: COW around THP collapse. The cases are in src/selftest/cow/; this file runs them under vitest. */
import { portCowToVitest } from './cow-harness.ts';

portCowToVitest('cow.c: COW around THP collapse', (c) => c.test.includes('collapsing'));
