/**
 * Kernel-side mutants (switches in src/mm, src/hmm, src/devmem) and their scenarios.
 * @module
 */
import type { MutantSpec } from './spec.ts';

/** The kernel-side mutants. */
export const KERNEL_MUTANTS: readonly MutantSpec[] = [];
