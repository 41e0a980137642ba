/**
 * Bounded exhaustive search by re-execution (iterative context bounding, Musuvathi and Qadeer,
 * PLDI 2007): depth-first over the tree of decisions, re-running the scenario from scratch for
 * every schedule, with at most `bound` preemptions per schedule. A preemption is choosing, at a
 * preemption point, another thread than the running one (which could have continued); the
 * choices after a block or an exit are not preemptions and are all branched.
 *
 * No partial-order reduction: the cheap rules one could add here (e.g. "do not switch to a
 * thread that has not started") are unsound for scenarios whose threads race from their very
 * first step, and the bound already keeps the trees small. See docs/semantics.md.
 * @module
 */
import type { SimThread } from '../../sim/thread.ts';
import type { ScheduleResult } from '../types.ts';
import { type Chooser, isPreemption, type Strategy } from './strategy.ts';

/** Thrown when re-running a prefix meets other decision points than before. */
export class NondeterministicScenarioError extends Error {
  /** `'NondeterministicScenarioError'`. */
  override name = 'NondeterministicScenarioError';
}

/** Depth-first enumeration of every schedule within a preemption bound. */
export class ExhaustiveStrategy implements Strategy, Chooser {
  /** @inheritDoc */
  readonly name = 'exhaustive';
  /** True once every schedule within the bound has been run. */
  exhausted = false;
  private readonly bound: number;
  /** Choices to replay at the start of the next schedule (the last one is the new branch). */
  private prefix: number[] = [];
  /** The candidate counts recorded for {@link prefix}. */
  private prefixCounts: number[] = [];
  /** Per decision point of the current schedule: the choice, the candidates, preemption or not. */
  private choices: number[] = [];
  private counts: number[] = [];
  private preemptions: boolean[] = [];

  /** @param bound the largest number of preemptions in one schedule (≥ 0) */
  constructor(bound: number) {
    this.bound = bound;
  }

  /** The chooser of the next schedule in depth-first order, or null when all were run. */
  next(): Chooser | null {
    if (this.exhausted) return null;
    this.choices = [];
    this.counts = [];
    this.preemptions = [];
    return this;
  }

  /** Follows the prefix, then the default (0: no preemption, or the longest-waiting thread). */
  choose(candidates: readonly SimThread[], label: string): number {
    const i = this.choices.length;
    let c = 0;
    if (i < this.prefix.length) {
      c = this.prefix[i]!;
      // The prefix was recorded with these very candidates; anything else means the scenario is
      // not deterministic, and re-execution cannot enumerate it.
      if (candidates.length !== this.prefixCounts[i]) {
        throw new NondeterministicScenarioError(
          `decision ${i} at "${label}" has ${candidates.length} candidates, ${this.prefixCounts[i]} when it was first run`,
        );
      }
    }
    this.choices.push(c);
    this.counts.push(candidates.length);
    this.preemptions.push(isPreemption(candidates));
    return c;
  }

  /** Moves to the deepest decision with an untried choice within the bound. */
  done(_result: ScheduleResult): void {
    if (this.choices.length < this.prefix.length) {
      throw new NondeterministicScenarioError(
        `re-running a schedule met ${this.choices.length} decision points, fewer than the ${this.prefix.length} recorded`,
      );
    }
    // used[i]: preemptions among decisions 0..i-1.
    const n = this.choices.length;
    const used = new Int32Array(n + 1);
    for (let i = 0; i < n; i++)
      used[i + 1] = used[i]! + (this.preemptions[i] && this.choices[i] !== 0 ? 1 : 0);
    for (let i = n - 1; i >= 0; i--) {
      const c = this.choices[i]! + 1;
      if (c >= this.counts[i]!) continue;
      if (this.preemptions[i] && used[i]! + 1 > this.bound) continue;
      this.prefix = this.choices.slice(0, i);
      this.prefix.push(c);
      this.prefixCounts = this.counts.slice(0, i + 1);
      return;
    }
    this.exhausted = true;
  }
}
