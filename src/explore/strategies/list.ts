/**
 * A chooser that follows a recorded list of choices (replays and shrinking), with the default
 * choice 0 beyond its end.
 * @module
 */
import { UsageError } from '../../sim/errors.ts';
import type { SimThread } from '../../sim/thread.ts';
import type { Chooser } from './strategy.ts';

/**
 * Follows `choices`; beyond the list it chooses 0 (no preemption, or the longest-waiting thread).
 * A choice out of range for its decision point throws a {@link UsageError} when `strict` (a token
 * that does not fit the scenario), and becomes 0 otherwise (shrinking tries lists that need not
 * fit).
 */
export class ListChooser implements Chooser {
  private readonly choices: readonly number[];
  private readonly strict: boolean;
  private i = 0;
  /** The error of the first choice out of range (strict mode), whatever the run made of it. */
  mismatch: UsageError | null = null;

  /** @param choices the choices to follow; @param strict reject a choice out of range */
  constructor(choices: readonly number[], strict: boolean) {
    this.choices = choices;
    this.strict = strict;
  }

  /** The next recorded choice. */
  choose(candidates: readonly SimThread[], label: string): number {
    const i = this.i++;
    if (i >= this.choices.length) return 0;
    const c = this.choices[i]!;
    if (c < candidates.length) return c;
    if (!this.strict) return 0;
    this.mismatch ??= new UsageError(
      'replay token choices',
      `choice ${i} is ${c}, but decision ${i} at "${label}" has ${candidates.length} candidates: the token does not fit this scenario`,
    );
    throw this.mismatch;
  }
}
