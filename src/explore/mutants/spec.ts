/**
 * How a mutant is described: the catalogue row it reproduces, where the switch lives, and the
 * scenario (with its budget) that kills it.
 * @module
 */
import type { MutantId } from '../../mm/mutant.ts';
import type { Scenario, StrategyName } from '../types.ts';

/** One switchable mistake and the race that exposes it. */
export interface MutantSpec {
  /** The catalogue id (`MUTANT_IDS`). */
  readonly id: MutantId;
  /** The mistake in one line, as the catalogue states it. */
  readonly title: string;
  /** Where the real bug and its fix are recorded (commit, thread, CVE). */
  readonly source: string;
  /** 'kernel' for a switch in mm/hmm/devmem, 'driver' for a variant of dmirror. */
  readonly side: 'kernel' | 'driver';
  /**
   * Where the failpoint is read: `file Function[, Function]` (a method as `Class.method`),
   * optionally followed by the kernel's names in parentheses; several files separated by `; `.
   * `test/architecture/failpoints.test.ts` checks that the mutant's quirk flag is read there and
   * nowhere else.
   */
  readonly site: string;
  /** The oracle expected to report it ('mirror', 'lost-data', 'liveness', …). */
  readonly oracle: string;
  /** The scenario that kills it. */
  // biome-ignore lint/suspicious/noExplicitAny: each mutant's scenario has its own state type
  readonly scenario: Scenario<any>;
  /** Strategy with which the mutant must be killed. */
  readonly strategy: StrategyName;
  /** Budget in schedules within which the mutant must be killed. */
  readonly schedules: number;
}
