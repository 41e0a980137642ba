/**
 * The kernel's COW self-tests (`tools/testing/selftests/mm/cow.c`, Linux 6.12) ported to
 * hmmsim: its 670 cases in its order — 12 anonymous tests (without io_uring, which the kernel
 * build leaves out when liburing is missing, as the oracle's is) on a base page, a swapped-out
 * one, THPs of the eight sizes 16 kB … 2 MiB in six to eight ways each and hugetlb pages of 2 MiB
 * and 1 GiB; 4 THP-collapse tests; 3 non-anonymous tests on the zero page, a memfd, a tmpfile,
 * the huge zero page and hugetlb memfds. Each case is named by cow.c's `[RUN]` line and runs on
 * a machine of its own.
 * @module
 */
import { Machine } from '../../machine.ts';
import { PAGE_SIZE, PMD_SIZE, PUD_SIZE } from '../../mm/index.ts';
import type { KernelVersion } from '../../mm/kernel.ts';
import {
  doRunWithBasePage,
  doRunWithThp,
  runWithHugetlb,
  runWithHugeZeropage,
  runWithMemfdHugetlb,
  runWithShmemFile,
  runWithZeropage,
  type ThpRun,
} from './runs.ts';
import { type CowEnv, type CowOutcome, type CowResult, Ksft } from './runtime.ts';
import * as t from './tests.ts';

export type { CowOutcome, CowResult } from './runtime.ts';

/** One case of the suite. */
export interface CowCase {
  /** cow.c's `[RUN]` description: `Basic COW after fork() ... with base page`. */
  readonly name: string;
  /** The anonymous test (or THP / non-anonymous test) it belongs to: `Basic COW after fork()`. */
  readonly test: string;
  /**
   * Why hmmsim does not run it, when it does not: the case is then reported as skipped with
   * this reason (never dropped), and listed by {@link cowNotModelled}.
   */
  readonly notModelled?: string;
  /** Runs the case on a new machine. */
  run(options?: CowRunOptions): Promise<CowResult>;
}

/** Options of {@link CowCase.run}. */
export interface CowRunOptions {
  /** The kernel whose behaviour the machine follows (default `'mainline'`). */
  kernelVersion?: KernelVersion;
  /** Called with the case's machine before anything runs on it (e.g. to attach a trace). */
  onMachine?: (machine: Machine) => void;
}

/** The THP sizes `detect_thp_sizes` finds on x86-64: orders 2 … 9. */
export const COW_THP_SIZES: readonly number[] = [2, 3, 4, 5, 6, 7, 8, 9].map((o) => PAGE_SIZE << o);
/** The hugetlb sizes of an x86-64 guest with gigantic pages: 2 MiB and 1 GiB. */
export const COW_HUGETLB_SIZES: readonly number[] = [PMD_SIZE, PUD_SIZE];

/** The size of a gigantic (PUD-mapped) hugetlb page. */
const GIGANTIC_SIZE = PUD_SIZE;

/** `anon_test_cases[]`, without the two io_uring tests (LOCAL_CONFIG_HAVE_LIBURING unset). */
const ANON_TEST_CASES: readonly [string, t.TestFn][] = [
  ['Basic COW after fork()', t.testCowInParent],
  ['Basic COW after fork() with mprotect() optimization', t.testCowInParentMprotect],
  ['vmsplice() + unmap in child', t.testVmspliceInChild],
  ['vmsplice() + unmap in child with mprotect() optimization', t.testVmspliceInChildMprotect],
  ['vmsplice() before fork(), unmap in parent after fork()', t.testVmspliceBeforeFork],
  ['vmsplice() + unmap in parent after fork()', t.testVmspliceAfterFork],
  ['R/O GUP pin on R/O-mapped shared page', t.testRoPinOnShared],
  ['R/O GUP-fast pin on R/O-mapped shared page', t.testRoFastPinOnShared],
  ['R/O GUP pin on R/O-mapped previously-shared page', t.testRoPinOnRoPreviouslyShared],
  ['R/O GUP-fast pin on R/O-mapped previously-shared page', t.testRoFastPinOnRoPreviouslyShared],
  ['R/O GUP pin on R/O-mapped exclusive page', t.testRoPinOnRoExclusive],
  ['R/O GUP-fast pin on R/O-mapped exclusive page', t.testRoFastPinOnRoExclusive],
];

/** `anon_thp_test_cases[]`. */
const ANON_THP_TEST_CASES: readonly [string, t.TestFn][] = [
  ['Basic COW after fork() when collapsing before fork()', t.testAnonThpCollapseUnshared],
  ['Basic COW after fork() when collapsing after fork() (fully shared)', t.testAnonThpCollapseFullyShared],
  ['Basic COW after fork() when collapsing after fork() (lower shared)', t.testAnonThpCollapseLowerShared],
  ['Basic COW after fork() when collapsing after fork() (upper shared)', t.testAnonThpCollapseUpperShared],
];

/** `non_anon_test_cases[]`. */
const NON_ANON_TEST_CASES: readonly [string, t.NonAnonTestFn][] = [
  ['Basic COW', t.testCow],
  ['R/O longterm GUP pin', t.testRoPin],
  ['R/O longterm GUP-fast pin', t.testRoFastPin],
];

/** The `[RUN]` suffix and `thp_run` of each THP way, in `run_anon_test_case`'s order. */
const THP_RUNS: readonly [string, ThpRun, boolean][] = [
  ['THP', 'THP_RUN_PMD', true],
  ['swapped-out THP', 'THP_RUN_PMD_SWAPOUT', true],
  ['PTE-mapped THP', 'THP_RUN_PTE', false],
  ['swapped-out, PTE-mapped THP', 'THP_RUN_PTE_SWAPOUT', false],
  ['single PTE of THP', 'THP_RUN_SINGLE_PTE', false],
  ['single PTE of swapped-out THP', 'THP_RUN_SINGLE_PTE_SWAPOUT', false],
  ["partially mremap()'ed THP", 'THP_RUN_PARTIAL_MREMAP', false],
  ['partially shared THP', 'THP_RUN_PARTIAL_SHARED', false],
];

/**
 * The machine of a case: as the oracle's guest (THP `always`, its build default), with swap and
 * huge pages enough for every case (the guest gets a swap device and huge pages too). A case on
 * 1 GiB pages gets the two gigantic pages the guest's `hugepagesz=1G hugepages=2` reserves, and
 * the 3 GiB of memory they need (the first GiB holds the zero pages; page contents are stored
 * lazily, so the host pays for the frames' metadata, 23 MB, not for the gigabytes).
 */
function cowMachine(options: CowRunOptions | undefined, gigantic: boolean): Machine {
  const machine = new Machine({
    memory: gigantic ? 3 * GIGANTIC_SIZE : 64 * 1024 * 1024,
    swap: 32 * 1024 * 1024,
    hugetlbPages: 4,
    giganticPages: gigantic ? 2 : 0,
    thp: 'always',
    kernelVersion: options?.kernelVersion ?? 'mainline',
  });
  options?.onMachine?.(machine);
  return machine;
}

function cowCase(
  name: string,
  test: string,
  body: (env: CowEnv) => Promise<void>,
  notModelled?: string,
  gigantic = false,
): CowCase {
  return {
    name,
    test,
    ...(notModelled === undefined ? {} : { notModelled }),
    async run(options) {
      if (notModelled !== undefined)
        return { name, outcome: 'skip', message: `not modelled: ${notModelled}`, notes: [], virtualNs: 0 };
      const machine = cowMachine(options, gigantic);
      const ksft = new Ksft();
      let outcome: CowOutcome;
      let message: string;
      try {
        const process = await machine.createProcess();
        await body({ machine, process, ksft });
        if (ksft.outcome === null) throw new Error('the case reported no result');
        outcome = ksft.outcome;
        message = ksft.message;
      } catch (e) {
        outcome = 'fail';
        message = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
      }
      const virtualNs = machine.sched.clock.now;
      machine.dispose();
      return { name, outcome, message, notes: ksft.notes, virtualNs };
    },
  };
}

/** The per-size THP settings `run_anon_test_case` pushes: the PMD size `never`, this size `always`. */
function pushThpSize(env: CowEnv, size: number): void {
  env.machine.thpSizes.set(PMD_SIZE / 1024, 'never');
  env.machine.thpSizes.set(size / 1024, 'always');
}

/** Every case of cow.c, in the order it runs them (670); built anew on each call (no module state). */
export function listCowCases(): readonly CowCase[] {
  const cases: CowCase[] = [];
  for (const [desc, fn] of ANON_TEST_CASES) {
    cases.push(cowCase(`${desc} ... with base page`, desc, (env) => doRunWithBasePage(env, fn, false)));
    cases.push(
      cowCase(`${desc} ... with swapped out base page`, desc, (env) => doRunWithBasePage(env, fn, true)),
    );
    for (const size of COW_THP_SIZES)
      for (const [what, run, pmdOnly] of THP_RUNS) {
        if (pmdOnly && size !== PMD_SIZE) continue;
        cases.push(
          cowCase(`${desc} ... with ${what} (${size / 1024} kB)`, desc, async (env) => {
            pushThpSize(env, size);
            await doRunWithThp(env, fn, run, size);
          }),
        );
      }
    for (const size of COW_HUGETLB_SIZES)
      cases.push(
        cowCase(
          `${desc} ... with hugetlb (${size / 1024} kB)`,
          desc,
          (env) => runWithHugetlb(env, fn, size),
          undefined,
          size === GIGANTIC_SIZE,
        ),
      );
  }
  for (const [desc, fn] of ANON_THP_TEST_CASES)
    cases.push(cowCase(desc, desc, (env) => doRunWithThp(env, fn, 'THP_RUN_PMD', PMD_SIZE)));
  for (const [desc, fn] of NON_ANON_TEST_CASES) {
    cases.push(cowCase(`${desc} ... with shared zeropage`, desc, (env) => runWithZeropage(env, fn)));
    cases.push(cowCase(`${desc} ... with memfd`, desc, (env) => runWithShmemFile(env, fn)));
    cases.push(cowCase(`${desc} ... with tmpfile`, desc, (env) => runWithShmemFile(env, fn)));
    cases.push(cowCase(`${desc} ... with huge zeropage`, desc, (env) => runWithHugeZeropage(env, fn)));
    for (const size of COW_HUGETLB_SIZES)
      cases.push(
        cowCase(
          `${desc} ... with memfd hugetlb (${size / 1024} kB)`,
          desc,
          (env) => runWithMemfdHugetlb(env, fn, size),
          undefined,
          size === GIGANTIC_SIZE,
        ),
      );
  }
  return Object.freeze(cases);
}

/** The cases hmmsim does not run, with why: reported as skipped, by name. */
export function cowNotModelled(): readonly CowCase[] {
  return listCowCases().filter((c) => c.notModelled !== undefined);
}

export { CowTap } from './tap.ts';
