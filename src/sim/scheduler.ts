/**
 * The scheduler of simulated threads (kernel/sched, reduced to what HMM's concurrency needs).
 *
 * Exactly one simulated thread runs at a time. A thread gives up the CPU only at an explicit
 * preemption point (`point`), when it blocks (`block`, locks, wait queues), sleeps, or finishes.
 * The host context (a test body, the CLI) is thread 0, "main": calls it makes run as main, and
 * other threads run only when main passes a point, blocks or joins them.
 * @module
 */
import { VirtualClock } from './clock.ts';
import { DeadlockError, ExternalAwaitError, StepBudgetError, UsageError } from './errors.ts';
import { RunToBlockPolicy, type SchedulePolicy } from './policy.ts';
import { SimThread } from './thread.ts';

/** Hooks from the host; the core never touches timers itself. */
export interface SchedulerHost {
  /**
   * Runs `callback` once the host's microtask queue is empty (Node: `setImmediate`). With it the
   * scheduler detects a simulated thread that awaits something outside the simulation.
   */
  idle?: (callback: () => void) => void;
}

/** Options of a {@link Scheduler}. */
export interface SchedulerOptions {
  /** Who runs next at each point; default: run to block. */
  policy?: SchedulePolicy;
  /** Maximum preemption points in the whole run before a {@link StepBudgetError}. */
  stepBudget?: number;
  /** Host hooks (see {@link SchedulerHost}). */
  host?: SchedulerHost;
}

/** Called at every context switch and point, for traces and the race explorer's records. */
export type SwitchObserver = (from: SimThread, to: SimThread, point: string) => void;

/** Runs simulated threads one at a time over a virtual clock. */
export class Scheduler {
  /** Virtual time of this machine. */
  readonly clock = new VirtualClock();
  /** The host context. */
  readonly main: SimThread;
  /** The thread running now. */
  current: SimThread;
  /** Every thread ever spawned, main first. */
  readonly threads: SimThread[] = [];
  /** Chooser of the next thread. */
  policy: SchedulePolicy;
  /** Preemption points passed in this run. */
  steps = 0;
  /** Limit on `steps`. */
  stepBudget: number;
  /** Context switches so far. */
  switches = 0;
  /** Optional observer of switches. */
  onSwitch: SwitchObserver | null = null;
  /**
   * Optional observer of every preemption point, called as the point is reached (before the
   * policy chooses who runs next): the race explorer's oracles check there.
   */
  onPoint: ((label: string) => void) | null = null;
  /**
   * Called when a point finds the step budget spent, before a {@link StepBudgetError} is thrown:
   * returns true when it raised `stepBudget` (the race explorer does so for a bounded retry loop
   * whose deadline virtual time has not reached yet).
   */
  onBudgetSpent: ((label: string) => boolean) | null = null;
  private readonly ready: SimThread[] = [];
  private readonly sleepers: SimThread[] = [];
  /** Earliest `wakeAt` among the sleepers (infinity when none). */
  private nextWake = Number.POSITIVE_INFINITY;
  private readonly host: SchedulerHost;
  private idleArmed = false;

  /** Creates a scheduler whose current thread is the host's "main". */
  constructor(options: SchedulerOptions = {}) {
    this.policy = options.policy ?? new RunToBlockPolicy();
    this.stepBudget = options.stepBudget ?? Number.POSITIVE_INFINITY;
    this.host = options.host ?? {};
    this.main = new SimThread(0, 'main');
    this.main.state = 'running';
    this.current = this.main;
    this.threads.push(this.main);
  }

  /**
   * Creates a simulated thread running `fn`. It starts when the scheduler first switches to it,
   * not before: the caller keeps running until it passes a point, blocks or joins.
   */
  spawn<T>(name: string, fn: () => Promise<T> | T): SimThread<T> {
    if (typeof fn !== 'function') throw new UsageError('spawn(fn)', 'fn must be a function');
    const t = new SimThread<T>(this.threads.length, name);
    this.threads.push(t as SimThread);
    t.resume = () => {
      Promise.resolve()
        .then(fn)
        .then(
          (value) => this.finish(t, value, undefined, false),
          (err: unknown) => this.finish(t, undefined, err, true),
        );
    };
    this.ready.push(t as SimThread);
    return t;
  }

  /** True when some thread other than the current one could run. */
  get contended(): boolean {
    return this.ready.length > 0;
  }

  /**
   * A preemption point: where the kernel could be preempted. Returns `undefined` when the current
   * thread keeps running (the common, fast case), or a promise to await when another thread was
   * chosen. Use `const p = sched.point(label); if (p) await p;` in hot paths.
   */
  point(label: string): Promise<void> | undefined {
    const cur = this.current;
    cur.at = label;
    cur.steps++;
    if (++this.steps > this.stepBudget) this.budgetSpent(label);
    if (this.onPoint !== null) this.onPoint(label);
    if (this.clock.now >= this.nextWake) this.wakeDue();
    if (this.ready.length === 0 || !this.policy.preemptive) return undefined;
    const candidates = [cur, ...this.ready];
    const i = this.policy.choose(candidates, label);
    if (i === 0) return undefined;
    const next = candidates[i];
    if (next === undefined) throw new UsageError('SchedulePolicy.choose', `index ${i} out of range`);
    this.ready.push(cur);
    return this.park(cur, 'runnable', next, label);
  }

  /** A preemption point that is always awaited: `await sched.yield('label')`. */
  async yield(label: string): Promise<void> {
    const p = this.point(label);
    if (p) await p;
  }

  /**
   * Blocks the current thread until another thread calls `wake` on it. `reason` says what it
   * waits on (it appears in deadlock reports). Callers re-check their condition after waking.
   */
  block(reason: string): Promise<void> {
    const cur = this.current;
    cur.waitingOn = reason;
    cur.at = reason;
    return this.park(cur, 'blocked', null, reason);
  }

  /** Makes a blocked thread runnable again (it runs when the policy chooses it). */
  wake(t: SimThread): void {
    if (t.state !== 'blocked') return;
    t.state = 'runnable';
    t.waitingOn = null;
    this.ready.push(t);
  }

  /** Sleeps the current thread for `ns` of virtual time. */
  sleep(ns: number): Promise<void> {
    const cur = this.current;
    cur.at = 'sleep';
    cur.wakeAt = this.clock.now + Math.max(0, ns);
    this.sleepers.push(cur);
    if (cur.wakeAt < this.nextWake) this.nextWake = cur.wakeAt;
    return this.park(cur, 'sleeping', null, 'sleep');
  }

  /** Waits for `t` to finish; returns its result or rethrows its error. */
  async join<T>(t: SimThread<T>): Promise<T> {
    if (t === this.current) throw new UsageError('join', 'a thread cannot join itself');
    while (t.state !== 'done') {
      t.joiners.push(this.current);
      await this.block(`join ${t.name}`);
    }
    if (t.failed) throw t.error;
    return t.result as T;
  }

  /** Every thread that has not finished, described one per line. */
  describeThreads(): string {
    return this.threads
      .filter((t) => t.state !== 'done')
      .map((t) => t.describe())
      .join('\n');
  }

  private budgetSpent(label: string): void {
    if (this.onBudgetSpent?.(label) && this.steps <= this.stepBudget) return;
    this.overBudget(label);
  }

  private overBudget(label: string): never {
    throw new StepBudgetError(
      `step budget of ${this.stepBudget} preemption points exhausted at "${label}" in #${this.current.id} ${this.current.name} (a livelock, or a run longer than allowed)\n${this.describeThreads()}`,
    );
  }

  /** Parks `cur` in `state`, hands the CPU to `next` (or the policy's choice) and resolves when `cur` runs again. */
  private park(
    cur: SimThread,
    state: SimThread['state'],
    next: SimThread | null,
    label: string,
  ): Promise<void> {
    cur.state = state;
    const p = new Promise<void>((resolve, reject) => {
      cur.resume = resolve;
      cur.reject = reject;
    });
    this.dispatch(next, label);
    // Armed after the switch, so one idle callback without progress is enough to report.
    if (cur === this.main && this.current !== this.main) this.armIdleCheck();
    return p;
  }

  private finish(t: SimThread, value: unknown, err: unknown, failed: boolean): void {
    t.state = 'done';
    t.result = value;
    t.error = err;
    t.failed = failed;
    t.at = failed ? 'failed' : 'done';
    for (const j of t.joiners) this.wake(j);
    t.joiners.length = 0;
    this.dispatch(null, `exit ${t.name}`);
  }

  /** Switches to `next`, or to the policy's choice among the ready threads, or wakes a sleeper. */
  private dispatch(next: SimThread | null, label: string): void {
    const from = this.current;
    if (next === null) {
      if (this.clock.now >= this.nextWake) this.wakeDue();
      if (this.ready.length === 0) this.wakeSleepers();
      if (this.ready.length === 0) {
        this.deadlock();
        return;
      }
      const i = this.ready.length === 1 ? 0 : this.policy.choose(this.ready, label);
      next = this.ready[i] ?? this.ready[0]!;
    }
    const at = this.ready.indexOf(next);
    if (at >= 0) this.ready.splice(at, 1);
    this.current = next;
    next.state = 'running';
    this.switches++;
    if (this.onSwitch) this.onSwitch(from, next, label);
    const resume = next.resume;
    next.resume = null;
    next.reject = null;
    if (resume) resume();
  }

  /** Advances virtual time to the earliest sleeper and makes every sleeper due by then runnable. */
  private wakeSleepers(): void {
    if (this.sleepers.length === 0) return;
    this.clock.advanceTo(this.nextWake);
    this.wakeDue();
  }

  /** Makes every sleeper whose time has come runnable (virtual time may pass by other means: costs). */
  private wakeDue(): void {
    let next = Number.POSITIVE_INFINITY;
    for (let i = 0; i < this.sleepers.length; ) {
      const s = this.sleepers[i]!;
      if (s.wakeAt <= this.clock.now) {
        this.sleepers.splice(i, 1);
        s.state = 'runnable';
        this.ready.push(s);
      } else {
        next = Math.min(next, s.wakeAt);
        i++;
      }
    }
    this.nextWake = next;
  }

  /** Nothing can run: report to main (parked), which becomes current again. */
  private deadlock(): void {
    const report = `deadlock: every simulated thread is blocked\n${this.describeThreads()}`;
    const main = this.main;
    const reject = main.reject;
    main.resume = null;
    main.reject = null;
    main.state = 'running';
    main.waitingOn = null;
    // A thread waiting on main stays blocked; main learns of the deadlock and can report it.
    this.current = main;
    if (reject) reject(new DeadlockError(report));
  }

  private armIdleCheck(): void {
    const idle = this.host.idle;
    if (!idle || this.idleArmed) return;
    this.idleArmed = true;
    const switchesAtArm = this.switches;
    const stepsAtArm = this.steps;
    idle(() => {
      this.idleArmed = false;
      const cur = this.current;
      if (cur === this.main || this.main.state === 'running') return;
      if (this.switches !== switchesAtArm || this.steps !== stepsAtArm) {
        // Progress was made since arming; check again once the host is idle again.
        this.armIdleCheck();
        return;
      }
      const reject = this.main.reject;
      if (!reject) return;
      // Describe the threads as they were found, before main is made current again.
      const error = new ExternalAwaitError(
        `simulated thread #${cur.id} ${cur.name} awaited something outside the simulation after "${cur.at}" (only simulated points, locks and waits may be awaited)\n${this.describeThreads()}`,
      );
      this.main.resume = null;
      this.main.reject = null;
      this.main.state = 'running';
      this.current = this.main;
      reject(error);
    });
  }
}
