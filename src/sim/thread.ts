/**
 * A simulated thread: a CPU thread of a process, a device's fault handler or a kernel worker,
 * written as an `async` function and run by the {@link Scheduler} one at a time.
 * @module
 */

/** Where a simulated thread is in its life. */
export type ThreadState = 'runnable' | 'running' | 'blocked' | 'sleeping' | 'done';

/** One simulated thread. Created by `Scheduler.spawn`; the host's own context is thread 0, "main". */
export class SimThread<T = unknown> {
  /** Small integer id, in order of creation (main is 0). */
  readonly id: number;
  /** Name given at spawn, used in traces and reports. */
  readonly name: string;
  /** Current state. */
  state: ThreadState = 'runnable';
  /** Label of the last preemption point this thread passed or the wait it is in. */
  at = 'start';
  /** While blocked: what it waits on, for deadlock reports. */
  waitingOn: string | null = null;
  /** While sleeping: virtual time (ns) at which it becomes runnable. */
  wakeAt = 0;
  /** Preemption points passed (for reports and budgets). */
  steps = 0;
  /** Value the thread's function returned. */
  result: T | undefined = undefined;
  /** Error the thread's function threw, if any. */
  error: unknown = undefined;
  /** True once the function threw. */
  failed = false;
  /**
   * A fatal signal (SIGKILL) is pending for the task: killable waits (`mmap_read_lock_killable`,
   * `handle_userfault`) end with -EINTR / VM_FAULT_RETRY when they start or wake up.
   */
  fatalSignalPending = false;
  /** Threads waiting in `join` for this one. */
  readonly joiners: SimThread[] = [];
  /** @internal resumes the parked continuation (set while parked). */
  resume: (() => void) | null = null;
  /** @internal fails the parked continuation (deadlock or abort delivered to this thread). */
  reject: ((err: Error) => void) | null = null;

  /** @internal */
  constructor(id: number, name: string) {
    this.id = id;
    this.name = name;
  }

  /** One line for reports: `#2 unmapper blocked on mutex dmirror held by #1 fault`. */
  describe(): string {
    const what = this.state === 'blocked' ? ` on ${this.waitingOn ?? '?'}` : '';
    return `#${this.id} ${this.name} ${this.state}${what} (last point: ${this.at})`;
  }
}
