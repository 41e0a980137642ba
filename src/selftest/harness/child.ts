/**
 * `fork`, `waitpid` and `kill` of the kernel's HMM self-tests: a child process whose part of the
 * C test runs as its own simulated thread.
 * @module
 */
import type { Machine } from '../../machine.ts';
import type { Process } from '../../mm/index.ts';
import { EINVAL } from '../../sim/errno.ts';
import type { SimThread } from '../../sim/thread.ts';
import { Completion } from '../../sim/wait-queue.ts';
import { expect } from '../expect.ts';

/** `SIGABRT`: how a child whose ASSERT failed dies (the harness aborts it). */
export const SIGABRT = 6;
/** `SIGKILL`. */
export const SIGKILL = 9;

/** What `waitpid` reports about a child (WIFEXITED, WEXITSTATUS, WIFSIGNALED, WTERMSIG). */
export interface HmmWaitStatus {
  /** What waitpid returned: the child's pid. */
  pid: number;
  /** `WIFEXITED`. */
  exited: boolean;
  /** `WEXITSTATUS`. */
  exitStatus: number;
  /** `WIFSIGNALED`. */
  signaled: boolean;
  /** `WTERMSIG`. */
  termsig: number;
  /** The failed assertion of an aborted child, for the report. */
  error?: unknown;
}

/** Thrown inside a killed child's body to end it. */
const KILLED = Symbol('SIGKILL');

/**
 * A forked child: its own Process (the copy-on-write copy of the parent's address space, the
 * parent's descriptors inherited), running the child's part of the C test as its own simulated
 * thread. The child's heap (the `hmm_buffer` and its mirror) is the caller's to copy.
 */
export class HmmChild {
  /** The child's process. */
  readonly process: Process;
  /** The child's pid, what `fork` returned to the parent. */
  readonly pid: number;
  /** @internal */
  thread: SimThread<HmmWaitStatus> | null = null;
  private readonly machine: Machine;
  private readonly killed: Completion;
  private isKilled = false;

  /** @internal Use {@link hmmFork}. */
  constructor(machine: Machine, process: Process) {
    this.machine = machine;
    this.process = process;
    this.pid = process.pid;
    this.killed = new Completion(machine.sched, `kill of ${process.pid}`);
  }

  /** The child's `while (1) { }`: runs until a signal ends it. */
  async untilKilled(): Promise<never> {
    await this.killed.waitForCompletion();
    throw KILLED;
  }

  /** `kill(pid, SIGKILL)`: the child process dies (its address space and descriptors go). 0 or -EINVAL. */
  async kill(sig: number): Promise<number> {
    if (sig !== SIGKILL) return -EINVAL;
    this.isKilled = true;
    if (!this.process.exited) await this.process.exit();
    this.killed.complete();
    return 0;
  }

  /** `waitpid(pid, &status, 0)`: waits for the child to end and reports how. */
  async waitpid(): Promise<HmmWaitStatus> {
    return this.machine.sched.join(this.thread!);
  }

  /** @internal */
  get wasKilled(): boolean {
    return this.isKilled;
  }
}

/**
 * `fork()`: the parent's process forks and `child` — the C test's `if (pid == 0)` branch — runs
 * on the child Process as its own simulated thread, started when the parent next waits. A child
 * whose body returns exits with status 0 (`_exit(0)`, unless it exited itself); a failed
 * assertion aborts it (SIGABRT, the harness's behaviour), which the parent sees in `waitpid`.
 */
export async function hmmFork(
  machine: Machine,
  parent: Process,
  child: (self: HmmChild) => Promise<void>,
): Promise<HmmChild> {
  const handle = new HmmChild(machine, await parent.fork());
  handle.thread = machine.sched.spawn(`child ${handle.pid}`, async (): Promise<HmmWaitStatus> => {
    try {
      await child(handle);
      if (!handle.process.exited) await handle.process.exit();
      return { pid: handle.pid, exited: true, exitStatus: 0, signaled: false, termsig: 0 };
    } catch (error) {
      if (error === KILLED || handle.wasKilled)
        return { pid: handle.pid, exited: false, exitStatus: 0, signaled: true, termsig: SIGKILL };
      if (!handle.process.exited) await handle.process.exit();
      return { pid: handle.pid, exited: false, exitStatus: 0, signaled: true, termsig: SIGABRT, error };
    }
  });
  return handle;
}

/** `ASSERT_EQ(WIFEXITED(status), 1)`, naming the child's failed assertion if it aborted. */
export function assertExited(status: HmmWaitStatus): void {
  const what =
    status.error === undefined ? 'WIFEXITED(status)' : `WIFEXITED(status) [child: ${String(status.error)}]`;
  expect(status.exited, what).toBe(true);
}
