/**
 * Deliberate mistakes the race explorer can switch on, one at a time, to show that its oracles
 * and scenarios catch the bugs HMM and its drivers really had. The ids name the bug's family
 * (H = hmm_range_fault, D = driver retry protocol, M = device memory and migration, F = fork and
 * device-exclusive; L = liveness mistakes of our own naming). A machine turns its
 * mutant's id into failpoint flags once, when it is built: the kernel's in `kernel.quirks`
 * (`./quirks.ts`), dmirror's in each device's `quirks`; code reads a flag, never the id.
 * Descriptions, sources, sites and kill scenarios live in `src/explore/mutants`.
 * @module
 */

/** Every mutant id, in catalogue order. */
export const MUTANT_IDS = [
  'H1',
  'H2',
  'H3',
  'H4',
  'H5',
  'H8',
  'H9',
  'H10',
  'H12',
  'D1',
  'D2',
  'D3',
  'D4',
  'D5',
  'D6',
  'D11',
  'M1',
  'M2',
  'M3',
  'M8',
  'M9',
  'F1',
  'F2',
  'L1',
] as const;

/** The id of a switchable mistake (see {@link MUTANT_IDS}). */
export type MutantId = (typeof MUTANT_IDS)[number];

/** True when `id` names a mutant. */
export function isMutantId(id: unknown): id is MutantId {
  return typeof id === 'string' && (MUTANT_IDS as readonly string[]).includes(id);
}
