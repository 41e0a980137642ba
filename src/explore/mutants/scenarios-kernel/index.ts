/**
 * The races that kill the kernel-side mutants (switches in src/mm, src/hmm and src/devmem, see
 * `../kernel.ts`). Each runs on a small machine (16 MiB, no hugetlb pool, dmirror devices with one
 * 2 MiB chunk) with one or two processes, and is what a program, a device driver or the kernel
 * would do: a device READ, SNAPSHOT or migration racing a CPU access, munmap, mprotect, madvise or
 * fork. Two scenarios drive `hmmRangeFault` themselves, as a driver that sets per-page requests
 * (`pfnFlagsMask`) does — dmirror asks for every page the same way and never exposes them. The
 * unmutated kernel survives every one; each `check` states what a correct run may end with.
 * @module
 */

export * from './device-private.ts';
export * from './device-versus-cpu.ts';
export * from './fork.ts';
export { KERNEL_SCENARIO_MACHINE, kernelPageValue } from './kit.ts';
export * from './per-page.ts';
export * from './two-devices.ts';
