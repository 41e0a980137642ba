/**
 * What an exploration strategy is: something that hands the runner one {@link Chooser} per
 * schedule and learns from each schedule's result. The runner asks the chooser at every decision
 * point of the racing threads: a preemption point where another thread could run, or a block or
 * exit that leaves two or more threads runnable.
 * @module
 */
import type { SimThread } from '../../sim/thread.ts';
import type { ScheduleResult, StrategyName } from '../types.ts';

/**
 * Picks who runs at one decision point of one schedule. `candidates` has at least two threads,
 * in the scheduler's deterministic order; at a preemption point `candidates[0]` is the running
 * thread (choosing 0 means "no preemption"), after a block or an exit every candidate is waiting
 * and `candidates[0]` has waited longest. Returns an index into `candidates`.
 */
export interface Chooser {
  /** The index of the thread to run. */
  choose(candidates: readonly SimThread[], label: string): number;
}

/** A way of choosing schedules, one after the other. */
export interface Strategy {
  /** Which strategy this is. */
  readonly name: StrategyName;
  /** The chooser of the next schedule, or null when there is no schedule left to run. */
  next(): Chooser | null;
  /** The result of the schedule run with the last chooser from {@link next}. */
  done(result: ScheduleResult): void;
  /** True once every schedule the strategy can produce has been run (exhaustive search only). */
  readonly exhausted: boolean;
}

/**
 * True when the decision point with these candidates is a preemption point: the first candidate
 * is still running, so choosing anyone else preempts it. After a block or an exit the thread
 * that gave up the CPU is not among the candidates.
 */
export function isPreemption(candidates: readonly SimThread[]): boolean {
  return candidates[0]!.state === 'running';
}
