/**
 * Every mutant of the race explorer, kernel-side then driver-side.
 * @module
 */
import type { MutantId } from '../../mm/mutant.ts';
import { DRIVER_MUTANTS } from './driver.ts';
import { KERNEL_MUTANTS } from './kernel.ts';
import type { MutantSpec } from './spec.ts';

export type { MutantSpec } from './spec.ts';

/** All mutants with their kill scenarios. */
export const MUTANTS: readonly MutantSpec[] = [...KERNEL_MUTANTS, ...DRIVER_MUTANTS];

/** The mutant `id`, or undefined. */
export function findMutant(id: string): MutantSpec | undefined {
  return MUTANTS.find((m) => m.id === (id as MutantId));
}
