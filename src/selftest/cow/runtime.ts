/**
 * What `tools/testing/selftests/mm/cow.c` gets from libc, kselftest.h and vm_util.c, on
 * hmmsim: the test's result (`ksft_test_result_*`, exactly one per case), `fork()` with a child
 * that runs concurrently and exits with a status, the two synchronisation pipes (`struct
 * comm_pipes`), `memset`/`memcpy`/`memcmp` on simulated memory, and the pagemap queries.
 * @module
 */
import type { Machine } from '../../machine.ts';
import { cpuFill, cpuReadSnapshot } from '../../mm/access.ts';
import type { ContentSnapshot } from '../../mm/content-snapshot.ts';
import { PAGE_SIZE, type Process } from '../../mm/index.ts';
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

/**
 * A copy of user memory the test keeps (`memcpy(old, mem, size)`), or bytes read from a pipe:
 * a {@link ContentSnapshot} of whole pages (exactly what a copy holds, without copying: the
 * 1 GiB hugetlb cases would need gigabytes of host memory) or plain bytes.
 */
export type CowBuf = ContentSnapshot | Uint8Array;

/** `memset(mem, c, size)` through the CPU (the faults of the writes; no buffer of `size`). */
export async function memset(p: Process, addr: number, c: number, size: number): Promise<void> {
  await cpuFill(p.mm, addr, c, size);
}

/** `memcpy(buf, mem, size)` through the CPU: a copy of what the process reads there (whole pages). */
export async function memcpyFrom(p: Process, addr: number, size: number): Promise<CowBuf> {
  if (addr % PAGE_SIZE !== 0 || size % PAGE_SIZE !== 0) return (await p.read(addr, size)).slice();
  return cpuReadSnapshot(p.mm, addr, size / PAGE_SIZE);
}

/** Page `i` of `b` into `scratch`, or `b`'s own bytes of that page. */
function pageOf(b: CowBuf, i: number, scratch: Uint8Array): Uint8Array {
  if (b instanceof Uint8Array) return b.subarray(i * PAGE_SIZE, (i + 1) * PAGE_SIZE);
  b.pageInto(i, scratch, 0);
  return scratch;
}

/**
 * `memcmp(a, b, n)`: 0 when the first `n` bytes are equal, else the sign of the first difference.
 * Pages of two snapshots naming the same content slot are equal without reading them.
 */
export function memcmp(a: CowBuf, b: CowBuf, n: number): number {
  const sa = new Uint8Array(PAGE_SIZE);
  const sb = new Uint8Array(PAGE_SIZE);
  const sameMemory = !(a instanceof Uint8Array) && !(b instanceof Uint8Array) && a.memory === b.memory;
  for (let i = 0; i * PAGE_SIZE < n; i++) {
    if (sameMemory) {
      const r = (a as ContentSnapshot).pinnedRef(i);
      if (r !== 0 && r === (b as ContentSnapshot).pinnedRef(i)) continue;
    }
    const pa = pageOf(a, i, sa);
    const pb = pageOf(b, i, sb);
    const len = Math.min(PAGE_SIZE, n - i * PAGE_SIZE);
    for (let j = 0; j < len; j++) if (pa[j] !== pb[j]) return pa[j]! < pb[j]! ? -1 : 1;
  }
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
