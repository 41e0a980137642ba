/**
 * The fixture of the kernel's HMM self-tests (tools/testing/selftests/mm/hmm-tests.c) on hmmsim,
 * one topic per file under `./harness/`: `hmm_buffer` and the int views (`buffer.ts`),
 * `hmm_dmirror_cmd` (`dmirror-cmd.ts`), the `hmm`/`hmm2` fixtures (`fixture.ts`), `TEST_F`
 * (`registry.ts`), fork/waitpid/kill (`child.ts`), gup_test (`gup.ts`), /proc/self/pagemap
 * (`pagemap.ts`) and the small system helpers (`system.ts`). The ported tests import them all
 * from here.
 * @module
 */
export * from './harness/buffer.ts';
export * from './harness/child.ts';
export * from './harness/dmirror-cmd.ts';
export * from './harness/fixture.ts';
export * from './harness/gup.ts';
export * from './harness/pagemap.ts';
export * from './harness/registry.ts';
export * from './harness/system.ts';
