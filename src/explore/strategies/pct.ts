/**
 * PCT, probabilistic concurrency testing (Burckhardt, Kothari, Musuvathi, Nagarakatte, ASPLOS
 * 2010): every thread gets a random priority, the highest-priority runnable thread always runs,
 * and at d − 1 random steps the priority of the thread about to run drops below every initial
 * priority. A bug of depth d (d ordering constraints) is found by one schedule with probability
 * at least 1 / (n · k^(d−1)) for n threads and k steps.
 *
 * Steps are the runner's decision points (two or more runnable threads). k is not known before
 * the first schedule: it starts at {@link PCT_INITIAL_STEPS} and is the longest schedule seen so
 * far after that.
 * @module
 */
import { Prng } from '../../sim/prng.ts';
import type { SimThread } from '../../sim/thread.ts';
import type { ScheduleResult } from '../types.ts';
import type { Chooser, Strategy } from './strategy.ts';

/** The run-length estimate k of the first schedule, before any schedule was seen. */
export const PCT_INITIAL_STEPS = 16;

/** PCT over schedules of one scenario; `depth` is the bug depth d (≥ 1). */
export class PctStrategy implements Strategy, Chooser {
  /** @inheritDoc */
  readonly name = 'pct';
  /** PCT never runs out of schedules. */
  readonly exhausted = false;
  private readonly prng: Prng;
  /** The bug depth d. */
  readonly depth: number;
  /** The run-length estimate k. */
  private steps = PCT_INITIAL_STEPS;
  /** Priority by thread id in the current schedule (higher runs first; undefined = not seen yet). */
  private priority: number[] = [];
  /** Change points of the current schedule (1-based step numbers, ascending). */
  private readonly changes: number[] = [];
  /** Decision points passed in the current schedule. */
  private step = 0;

  /** @param seed seed of the priorities and change points; @param depth the bug depth d */
  constructor(seed: number, depth: number) {
    this.prng = new Prng(seed);
    this.depth = depth;
  }

  /** Draws the change points of a new schedule; priorities are drawn as threads show up. */
  next(): Chooser {
    this.priority = [];
    this.step = 0;
    this.changes.length = 0;
    for (let i = 1; i < this.depth; i++) this.changes.push(1 + this.prng.nextInt(this.steps));
    this.changes.sort((a, b) => a - b);
    return this;
  }

  /** Learns the run length. */
  done(result: ScheduleResult): void {
    if (result.choices.length > this.steps) this.steps = result.choices.length;
  }

  /** The highest-priority candidate, after lowering it if this step is a change point. */
  choose(candidates: readonly SimThread[]): number {
    this.step++;
    let best = this.highest(candidates);
    // Several change points may fall on one step: each lowers the thread about to run.
    for (let c = 0; c < this.changes.length; c++) {
      if (this.changes[c] !== this.step) continue;
      // The c-th change point (0-based) sets priority d − 1 − c: below every initial priority
      // (all ≥ d) and below the earlier change points'.
      this.priority[candidates[best]!.id] = this.depth - 1 - c;
      best = this.highest(candidates);
    }
    return best;
  }

  private highest(candidates: readonly SimThread[]): number {
    let best = 0;
    let bestPriority = -1;
    for (let i = 0; i < candidates.length; i++) {
      const id = candidates[i]!.id;
      let p = this.priority[id];
      if (p === undefined) {
        // A random initial priority in [d, d + 1): distinct from every other with overwhelming
        // probability (equal ones favour the first candidate), and above every lowered one.
        p = this.depth + this.prng.nextFloat();
        this.priority[id] = p;
      }
      if (p > bestPriority) {
        best = i;
        bestPriority = p;
      }
    }
    return best;
  }
}
