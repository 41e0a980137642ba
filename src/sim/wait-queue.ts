/**
 * Wait queues and completions (include/linux/wait.h, completion.h).
 * @module
 */
import type { Scheduler } from './scheduler.ts';
import type { SimThread } from './thread.ts';

/** Threads sleeping until a condition holds; woken by `wakeUpAll`. */
export class WaitQueue {
  /** Name used in deadlock reports. */
  readonly name: string;
  private readonly sched: Scheduler;
  private waiters: SimThread[] = [];

  /** @param sched the machine's scheduler; @param name for reports */
  constructor(sched: Scheduler, name: string) {
    this.sched = sched;
    this.name = name;
  }

  /** Sleeps until `condition()` is true (checked before sleeping and after each wake-up): `wait_event`. */
  async waitEvent(condition: () => boolean): Promise<void> {
    while (!condition()) {
      this.waiters.push(this.sched.current);
      await this.sched.block(`wait queue ${this.name}`);
    }
  }

  /** Wakes every sleeper; each re-checks its condition. */
  wakeUpAll(): void {
    if (this.waiters.length === 0) return;
    const w = this.waiters;
    this.waiters = [];
    for (const t of w) this.sched.wake(t);
  }

  /** Number of threads sleeping on this queue. */
  get length(): number {
    return this.waiters.length;
  }
}

/** A one-shot or counting event: `wait_for_completion` / `complete` / `complete_all`. */
export class Completion {
  private done = 0;
  private readonly wq: WaitQueue;

  /** @param sched the machine's scheduler; @param name for reports */
  constructor(sched: Scheduler, name: string) {
    this.wq = new WaitQueue(sched, `completion ${name}`);
  }

  /** Sleeps until completed, consuming one completion. */
  async waitForCompletion(): Promise<void> {
    await this.wq.waitEvent(() => this.done > 0);
    if (this.done !== Number.POSITIVE_INFINITY) this.done--;
  }

  /** Releases one waiter (or the next one to wait). */
  complete(): void {
    if (this.done !== Number.POSITIVE_INFINITY) this.done++;
    this.wq.wakeUpAll();
  }

  /** Releases every waiter, now and later. */
  completeAll(): void {
    this.done = Number.POSITIVE_INFINITY;
    this.wq.wakeUpAll();
  }

  /** True once completed and not yet consumed. */
  get isDone(): boolean {
    return this.done > 0;
  }
}
