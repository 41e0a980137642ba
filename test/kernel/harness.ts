/**
 * The vitest side of the kernel self-test port: the tests themselves, their fixtures and helpers
 * live in `src/selftest/` (framework-free, so `hmmsim selftest` runs the very same code); each
 * `test/kernel/*.test.ts` hands one of its files to {@link portToVitest}.
 */
import { describe, it } from 'vitest';
import type { SelftestFile } from '../../src/selftest/index.ts';

/**
 * One vitest suite titled like the file, with one test per case, titled like the kselftest
 * harness prints it (`hmm.hmm_device_private.anon_read`), in the file's declaration order (each
 * test's variants together). The case runs as is: its fixture set-up, body and teardown, failing
 * on the first failed assertion.
 */
export function portToVitest(file: SelftestFile): void {
  describe(file.title, () => {
    for (const c of file.cases()) it(c.name, () => c.run(), c.timeout);
  });
}
