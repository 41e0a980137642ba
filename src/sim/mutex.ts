/**
 * A sleeping mutex (kernel/locking/mutex.c): FIFO hand-off, owner tracking, and the errors
 * lockdep would raise for unlocking a mutex one does not hold or locking one twice.
 * @module
 */
import { UsageError } from './errors.ts';
import type { Scheduler } from './scheduler.ts';
import type { SimThread } from './thread.ts';

/** A mutex whose lock is a preemption point and may sleep. */
export class Mutex {
  /** Name used in reports. */
  readonly name: string;
  /** Holder, or null. */
  owner: SimThread | null = null;
  private readonly sched: Scheduler;
  private readonly waiters: SimThread[] = [];

  /** @param sched the machine's scheduler; @param name for reports */
  constructor(sched: Scheduler, name: string) {
    this.sched = sched;
    this.name = name;
  }

  /** `mutex_lock`: a preemption point, then the lock or a sleep until it is handed over. */
  async lock(): Promise<void> {
    const p = this.sched.point(`mutex_lock ${this.name}`);
    if (p) await p;
    const cur = this.sched.current;
    if (this.owner === null) {
      this.owner = cur;
      return;
    }
    if (this.owner === cur)
      throw new UsageError(`mutex ${this.name}`, `#${cur.id} ${cur.name} locks it twice (self-deadlock)`);
    this.waiters.push(cur);
    while (this.owner !== cur)
      await this.sched.block(`mutex ${this.name} held by #${this.owner?.id} ${this.owner?.name}`);
  }

  /** `mutex_trylock`: takes the lock if free; never sleeps. */
  trylock(): boolean {
    if (this.owner !== null) return false;
    this.owner = this.sched.current;
    return true;
  }

  /** `mutex_unlock`: hands the lock to the longest waiter. */
  unlock(): void {
    const cur = this.sched.current;
    if (this.owner !== cur) {
      throw new UsageError(
        `mutex ${this.name}`,
        `unlocked by #${cur.id} ${cur.name}, which does not hold it`,
      );
    }
    const next = this.waiters.shift() ?? null;
    this.owner = next;
    if (next) this.sched.wake(next);
  }

  /** `mutex_is_locked`. */
  isLocked(): boolean {
    return this.owner !== null;
  }
}
