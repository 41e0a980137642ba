/**
 * What `tools/testing/selftests/mm/cow.c` gets from libc, kselftest.h and vm_util.c, on
 * hmmsim: the test's result (`ksft_test_result_*`, exactly one per case), `fork()` with a child
 * that runs concurrently and exits with a status, the two synchronisation pipes (`struct
 * comm_pipes`), `memset`/`memcpy`/`memcmp` on simulated memory, and the pagemap queries.
 * @module
 */
import type { Machine } from '../../machine.ts';
import type { Process } from '../../mm/index.ts';
import { Completion } from '../../sim/wait-queue.ts';
import { PM_PRESENT, PM_SWAP, pagemapGetEntry } from '../harness.ts';

/** What one case reported, as kselftest counts it. */
export type CowOutcome = 'pass' | 'fail' | 'xfail' | 'skip';

/** What one case reported. */
export interface CowResult {
  /** The case's `[RUN]` description. */
  readonly name: string;
  /** How it ended, as kselftest counts it. */
  readonly outcome: CowOutcome;
  /** The result's message (`No leak from parent into child`), or the error that ended the case. */
  readonly message: string;
  /** `ksft_print_msg` lines of the case. */
  readonly notes: readonly string[];
  /** Virtual time the case's machine ran, in ns. */
  readonly virtualNs: number;
}

/** `ksft_test_result_*`: the one result of a case and the messages printed meanwhile. */
export class Ksft {
  /** The result, once reported. */
  outcome: CowOutcome | null = null;
  /** Its message (`No leak from parent into child`). */
  message = '';
  /** `ksft_print_msg` lines, without the `# ` prefix. */
  readonly notes: string[] = [];

  /** `ksft_test_result_pass`. */
  pass(msg: string): void {
    this.report('pass', msg);
  }

  /** `ksft_test_result_fail`. */
  fail(msg: string): void {
    this.report('fail', msg);
  }

  /** `ksft_test_result_xfail`. */
  xfail(msg: string): void {
    this.report('xfail', msg);
  }

  /** `ksft_test_result_skip`. */
  skip(msg: string): void {
    this.report('skip', msg);
  }

  /** `ksft_test_result(cond, msg)`. */
  result(cond: boolean, msg: string): void {
    this.report(cond ? 'pass' : 'fail', msg);
  }

  /** `ksft_print_msg`. */
  print(msg: string): void {
    this.notes.push(msg);
  }

  private report(outcome: CowOutcome, msg: string): void {
    // kselftest would count a second result as another test: the port's plan would not match.
    if (this.outcome !== null)
      throw new Error(`a second result (${outcome}: ${msg}) after ${this.outcome}: ${this.message}`);
    this.outcome = outcome;
    this.message = msg;
  }
}

/** The machine, the test process and its result: what every test function is handed. */
export interface CowEnv {
  readonly machine: Machine;
  /** The test program (the parent of every fork). */
  readonly process: Process;
  readonly ksft: Ksft;
}

/**
 * `struct comm_pipes`: the child writes `child_ready` and waits on `parent_ready`, the parent the
 * other way round. A pipe with one byte written is a completion here: only the ordering matters.
 */
export class CommPipes {
  /** `child_ready`. */
  readonly childReady: Completion;
  /** `parent_ready`. */
  readonly parentReady: Completion;

  constructor(machine: Machine) {
    this.childReady = new Completion(machine.sched, 'child_ready');
    this.parentReady = new Completion(machine.sched, 'parent_ready');
  }
}

/** A forked child: its process and how to wait for its exit status. */
export interface CowChild {
  readonly process: Process;
  /**
   * `wait(&status)`: the child's `exit()` status (WIFEXITED), or null when it did not exit
   * normally (a simulated signal or error ended it).
   */
  wait(): Promise<number | null>;
}

/**
 * `fork()` whose child runs `body` (the C test's `if (!ret) exit(fn(…))`) as its own simulated
 * thread, concurrently with the parent; the child exits with the status `body` returns. An
 * exception in the child (a SIGSEGV, a bug) ends it abnormally, as a signal would.
 */
export async function cowFork(env: CowEnv, body: (child: Process) => Promise<number>): Promise<CowChild> {
  const child = await env.process.fork();
  const thread = env.machine.sched.spawn(`child ${child.pid}`, async (): Promise<number | null> => {
    let status: number | null;
    try {
      status = (await body(child)) & 0xff;
    } catch {
      status = null;
    }
    if (!child.exited) await child.exit();
    return status;
  });
  return { process: child, wait: () => env.machine.sched.join(thread) };
}

/** `memset(mem, c, size)` through the CPU. */
export async function memset(p: Process, addr: number, c: number, size: number): Promise<void> {
  await p.write(addr, new Uint8Array(size).fill(c));
}

/** `memcpy(buf, mem, size)` through the CPU: a copy of what the process reads there. */
export async function memcpyFrom(p: Process, addr: number, size: number): Promise<Uint8Array> {
  return (await p.read(addr, size)).slice();
}

/** `memcmp(a, b, n)`: 0 when the first `n` bytes are equal, else the sign of the first difference. */
export function memcmp(a: Uint8Array, b: Uint8Array, n: number): number {
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! < b[i]! ? -1 : 1;
  return 0;
}

/** vm_util.c `pagemap_is_swapped`. */
export function pagemapIsSwapped(p: Process, addr: number): boolean {
  return (pagemapGetEntry(p, addr) & PM_SWAP) !== 0n;
}

/** vm_util.c `pagemap_is_populated`: present or swapped. */
export function pagemapIsPopulated(p: Process, addr: number): boolean {
  return (pagemapGetEntry(p, addr) & (PM_PRESENT | PM_SWAP)) !== 0n;
}
