/**
 * The bounded retry loops in progress during a race, per thread, as they announce themselves
 * (`retryAttempt` / `retryTimeout` of the observer: dmirror's fault loop and any driver's
 * `RetryDeadline`), so that a spent step budget can be told apart from a livelock.
 *
 * A bounded loop in the kernel spins in real time until `HMM_RANGE_DEFAULT_TIMEOUT` passes; in the
 * simulation an attempt costs little virtual time, so the step budget can run out long before
 * the deadline. When it does while a loop has attempted recently and its deadline lies ahead,
 * the runner moves the clock to just past that deadline — the time the spinning would have
 * taken — and grants more steps: a loop that honours its deadline gives up, one that does not is
 * reported by the liveness oracle at its next attempt. The time moved does not count against
 * the scenario's `maxVirtualTime`.
 * @module
 */
import type { MmObserver } from '../mm/observer.ts';
import type { Scheduler } from '../sim/scheduler.ts';
import type { SimThread } from '../sim/thread.ts';

/** One loop in progress. */
interface Loop {
  where: string;
  deadline: number;
  /** Scheduler step of its last attempt. */
  lastStep: number;
}

/** Steps granted after a move of the clock (at least). */
const MIN_GRANT = 10_000;

/** See the module comment. */
export class BoundedLoops implements MmObserver {
  private readonly sched: Scheduler;
  private readonly loops = new Map<SimThread, Loop>();
  /** Virtual ns the clock was moved forward in all. */
  warped = 0;

  constructor(sched: Scheduler) {
    this.sched = sched;
  }

  retryAttempt(where: string, startedAt: number, timeoutNs: number): void {
    const t = this.sched.current;
    let loop = this.loops.get(t);
    if (loop === undefined) {
      loop = { where, deadline: 0, lastStep: 0 };
      this.loops.set(t, loop);
    }
    loop.where = where;
    loop.deadline = startedAt + timeoutNs;
    loop.lastStep = this.sched.steps;
  }

  retryTimeout(): void {
    this.loops.delete(this.sched.current);
  }

  /**
   * The step budget `budget` (steps of the race) is spent: when some loop attempted within the
   * last tenth of it and its deadline lies ahead, moves the clock past the earliest such deadline,
   * raises the scheduler's budget and returns what happened in words; otherwise null.
   */
  warp(budget: number): string | null {
    const sched = this.sched;
    const now = sched.clock.now;
    const recent = sched.steps - Math.max(1, Math.floor(budget / 10));
    let best: Loop | null = null;
    for (const loop of this.loops.values())
      if (loop.lastStep >= recent && loop.deadline >= now && (best === null || loop.deadline < best.deadline))
        best = loop;
    if (best === null) return null;
    const to = best.deadline + 1;
    this.warped += to - now;
    sched.clock.advanceTo(to);
    sched.stepBudget = sched.steps + Math.max(MIN_GRANT, Math.floor(budget / 10));
    return `step budget spent inside the bounded loop ${best.where}: virtual time moved ${((to - now) / 1e6).toFixed(3)} ms forward to its deadline`;
  }
}
