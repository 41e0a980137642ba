/**
 * A reader/writer semaphore (kernel/locking/rwsem.c), used as the mmap lock. Waiters are served
 * in FIFO order; a queued writer holds back later readers, so writers are not starved.
 * @module
 */
import { UsageError } from './errors.ts';
import type { Scheduler } from './scheduler.ts';
import type { SimThread } from './thread.ts';

interface Waiter {
  thread: SimThread;
  write: boolean;
  granted: boolean;
}

/** Reader/writer sleeping lock. */
export class RwSemaphore {
  /** Name used in reports. */
  readonly name: string;
  /** Threads holding it for reading (one entry per acquisition). */
  readonly readers: SimThread[] = [];
  /** Thread holding it for writing, or null. */
  writer: SimThread | null = null;
  private readonly sched: Scheduler;
  private readonly waiters: Waiter[] = [];

  /** @param sched the machine's scheduler; @param name for reports */
  constructor(sched: Scheduler, name: string) {
    this.sched = sched;
    this.name = name;
  }

  /** `down_read`. */
  async downRead(): Promise<void> {
    const p = this.sched.point(`down_read ${this.name}`);
    if (p) await p;
    if (this.downReadTrylock()) return;
    await this.enqueue(false);
  }

  /** `down_read_trylock`: succeeds when no writer holds or waits. */
  downReadTrylock(): boolean {
    if (this.writer !== null || this.waiters.length > 0) return false;
    this.readers.push(this.sched.current);
    return true;
  }

  /** `up_read`. */
  upRead(): void {
    const cur = this.sched.current;
    let i = this.readers.lastIndexOf(cur);
    if (i < 0) {
      if (this.readers.length === 0)
        throw new UsageError(
          `rwsem ${this.name}`,
          `up_read by #${cur.id} ${cur.name} with no reader holding it`,
        );
      i = this.readers.length - 1; // up_read_non_owner
    }
    if (i === this.readers.length - 1) this.readers.pop();
    else this.readers.splice(i, 1);
    this.grant();
  }

  /** `down_write`. */
  async downWrite(): Promise<void> {
    const p = this.sched.point(`down_write ${this.name}`);
    if (p) await p;
    if (this.downWriteTrylock()) return;
    if (this.writer === this.sched.current || this.readers.includes(this.sched.current)) {
      throw new UsageError(
        `rwsem ${this.name}`,
        `#${this.sched.current.id} ${this.sched.current.name} takes it for writing while already holding it (self-deadlock)`,
      );
    }
    await this.enqueue(true);
  }

  /** `down_write_trylock`. */
  downWriteTrylock(): boolean {
    if (this.writer !== null || this.readers.length > 0 || this.waiters.length > 0) return false;
    this.writer = this.sched.current;
    return true;
  }

  /** `up_write`. */
  upWrite(): void {
    const cur = this.sched.current;
    if (this.writer !== cur)
      throw new UsageError(
        `rwsem ${this.name}`,
        `up_write by #${cur.id} ${cur.name}, which does not hold it for writing`,
      );
    this.writer = null;
    this.grant();
  }

  /** `downgrade_write`: the writer becomes a reader without releasing. */
  downgradeWrite(): void {
    const cur = this.sched.current;
    if (this.writer !== cur)
      throw new UsageError(`rwsem ${this.name}`, 'downgrade_write without holding it for writing');
    this.writer = null;
    this.readers.push(cur);
    this.grant();
  }

  /** `rwsem_is_locked`: held for reading or writing by anyone. */
  isLocked(): boolean {
    return this.writer !== null || this.readers.length > 0;
  }

  /** True when the current thread holds it (read or write): what `mmap_assert_locked` checks. */
  heldByCurrent(): boolean {
    const cur = this.sched.current;
    return this.writer === cur || this.readers.includes(cur);
  }

  /** True when the current thread holds it for writing. */
  writeHeldByCurrent(): boolean {
    return this.writer === this.sched.current;
  }

  private async enqueue(write: boolean): Promise<void> {
    const w: Waiter = { thread: this.sched.current, write, granted: false };
    this.waiters.push(w);
    while (!w.granted) {
      const holder = this.writer
        ? `writer #${this.writer.id} ${this.writer.name}`
        : `${this.readers.length} reader(s)`;
      await this.sched.block(`${write ? 'down_write' : 'down_read'} ${this.name} held by ${holder}`);
    }
  }

  /** Hands the lock to the waiters at the head of the queue that can have it now. */
  private grant(): void {
    while (this.waiters.length > 0 && this.writer === null) {
      const head = this.waiters[0]!;
      if (head.write) {
        if (this.readers.length > 0) return;
        this.waiters.shift();
        this.writer = head.thread;
        head.granted = true;
        this.sched.wake(head.thread);
        return;
      }
      this.waiters.shift();
      this.readers.push(head.thread);
      head.granted = true;
      this.sched.wake(head.thread);
    }
  }
}
