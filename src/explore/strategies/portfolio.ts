/**
 * The portfolio: one strategy does not fit every bug. A random walk finds shallow races fast;
 * PCT of depth d finds a bug needing d ordering constraints with a guaranteed probability, but
 * only for that d (depth 2 rarely finds a three-thread bug). The portfolio takes its schedules in
 * turn from a random walk and from PCT at every depth from 2 to the scenario's thread count + 1
 * (at most {@link PORTFOLIO_MAX_DEPTH}), each member with a seed of its own derived from the
 * exploration's.
 * @module
 */
import type { ScheduleResult } from '../types.ts';
import { PctStrategy } from './pct.ts';
import { RandomStrategy } from './random.ts';
import type { Chooser, Strategy } from './strategy.ts';

/** The deepest PCT of the portfolio. */
export const PORTFOLIO_MAX_DEPTH = 5;

/** The depths of PCT in a portfolio for `threads` threads: 2 … threads + 1 (capped). */
export function portfolioDepths(threads: number): number[] {
  const out: number[] = [];
  for (let d = 2; d <= Math.min(threads + 1, PORTFOLIO_MAX_DEPTH); d++) out.push(d);
  return out;
}

/** Random walk plus PCT at several depths, schedule by schedule in turn. */
export class PortfolioStrategy implements Strategy {
  /** @inheritDoc */
  readonly name = 'portfolio';
  /** The portfolio never runs out of schedules. */
  readonly exhausted = false;
  /** The members, in turn order: random first, then PCT by increasing depth. */
  readonly members: readonly Strategy[];
  private turn = -1;

  /** @param seed the exploration's seed; @param threads the scenario's thread count */
  constructor(seed: number, threads: number) {
    // Distinct seeds per member (a seed is a non-negative integer below 2^32).
    const members: Strategy[] = [new RandomStrategy(seed)];
    for (const d of portfolioDepths(Math.max(1, threads)))
      members.push(new PctStrategy((seed + 0x9e3779b9 * d) >>> 0, d));
    this.members = members;
  }

  /** The next member's chooser. */
  next(): Chooser | null {
    this.turn = (this.turn + 1) % this.members.length;
    return this.members[this.turn]!.next();
  }

  /** Tells the member whose schedule it was. */
  done(result: ScheduleResult): void {
    this.members[this.turn]!.done(result);
  }

  /** Which member chose the last schedule: 'random' or 'pct depth d'. */
  describeLast(): string {
    const m = this.members[this.turn];
    return m === undefined ? 'none' : m instanceof PctStrategy ? `pct depth ${m.depth}` : m.name;
  }
}
