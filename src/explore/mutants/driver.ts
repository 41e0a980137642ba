/**
 * Driver-side mutants (variants of dmirror, src/devices/dmirror) and their scenarios.
 * @module
 */
import type { MutantSpec } from './spec.ts';

/** The driver-side mutants. */
export const DRIVER_MUTANTS: readonly MutantSpec[] = [];
