/**
 * The seeded random walk: at every decision point, a uniformly random candidate.
 * @module
 */
import { Prng } from '../../sim/prng.ts';
import type { SimThread } from '../../sim/thread.ts';
import type { Chooser, Strategy } from './strategy.ts';

/**
 * Random walk over schedules. One generator serves every schedule in turn, so schedule `i` of a
 * seed is always the same schedule.
 */
export class RandomStrategy implements Strategy, Chooser {
  /** @inheritDoc */
  readonly name = 'random';
  /** A random walk never runs out of schedules. */
  readonly exhausted = false;
  private readonly prng: Prng;

  /** @param seed seed of the walk */
  constructor(seed: number) {
    this.prng = new Prng(seed);
  }

  /** The same chooser every time: it draws from the shared generator. */
  next(): Chooser {
    return this;
  }

  /** Nothing to learn. */
  done(): void {}

  /** A uniformly random index. */
  choose(candidates: readonly SimThread[]): number {
    return this.prng.nextInt(candidates.length);
  }
}
