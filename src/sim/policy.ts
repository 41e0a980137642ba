/**
 * Scheduling policies: who runs next at a preemption point. Normal runs use a fixed policy; the
 * race explorer plugs in its own chooser.
 * @module
 */
import type { Prng } from './prng.ts';
import type { SimThread } from './thread.ts';

/**
 * Chooses the next thread. `candidates` lists the threads that may run, in a deterministic
 * order; at a preemption point `candidates[0]` is the current thread (continuing costs no
 * switch). Returns an index into `candidates`.
 */
export interface SchedulePolicy {
  /** When false, preemption points never switch: threads run until they block or finish. */
  readonly preemptive: boolean;
  /** Picks an index into `candidates`. `point` is the label of the point being passed. */
  choose(candidates: readonly SimThread[], point: string): number;
}

/** Run each thread until it blocks or finishes, then the longest-waiting runnable one. */
export class RunToBlockPolicy implements SchedulePolicy {
  readonly preemptive = false;
  choose(): number {
    return 0;
  }
}

/** Switch to the longest-waiting runnable thread at every preemption point. */
export class RoundRobinPolicy implements SchedulePolicy {
  readonly preemptive = true;
  choose(candidates: readonly SimThread[]): number {
    // At a preemption point candidates[0] is the running thread, passed over; after a block or an
    // exit every candidate is waiting and candidates[0] has waited longest.
    return candidates.length > 1 && candidates[0]!.state === 'running' ? 1 : 0;
  }
}

/** Uniformly random choice at every point, from a seeded generator. */
export class RandomPolicy implements SchedulePolicy {
  readonly preemptive = true;
  private readonly prng: Prng;
  /** @param prng the seeded source of choices */
  constructor(prng: Prng) {
    this.prng = prng;
  }
  choose(candidates: readonly SimThread[]): number {
    return this.prng.nextInt(candidates.length);
  }
}
