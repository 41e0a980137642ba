/**
 * The test functions of `tools/testing/selftests/mm/cow.c` (Linux 6.12), in its words: COW
 * after fork (with and without the mprotect() optimisation), vmsplice() in the child and in the
 * parent, R/O long-term GUP pins on shared, previously-shared and exclusive pages, THP collapse
 * around fork, and the non-anonymous COW and pin tests. Each reports exactly one result.
 * @module
 */
import {
  MADV_COLLAPSE,
  MADV_DOFORK,
  MADV_DONTFORK,
  PROT_READ,
  PROT_WRITE,
  type Process,
} from '../../mm/index.ts';
import { Pipe } from '../../mm/pipe.ts';
import { EAGAIN, EBUSY, EINVAL, ENOMEM } from '../../sim/errno.ts';
import { GupTestPinLongterm, PIN_LONGTERM_TEST_FLAG_USE_FAST } from './gup-test.ts';
import { CommPipes, type CowEnv, cowFork, memcmp, memcpyFrom, memset } from './runtime.ts';

/** `typedef void (*test_fn)(char *mem, size_t size, bool hugetlb)`. */
export type TestFn = (env: CowEnv, mem: number, size: number, isHugetlb: boolean) => Promise<void>;
/** `typedef void (*non_anon_test_fn)(char *mem, const char *smem, size_t size)`. */
export type NonAnonTestFn = (env: CowEnv, mem: number, smem: number, size: number) => Promise<void>;

/** `typedef int (*child_fn)(char *mem, size_t size, struct comm_pipes *comm_pipes)`, in the child. */
type ChildFn = (child: Process, mem: number, size: number, comm: CommPipes) => Promise<number>;

/** `child_memcmp_fn`: back up the contents, let the parent modify them, compare. */
export async function childMemcmpFn(
  child: Process,
  mem: number,
  size: number,
  comm: CommPipes,
): Promise<number> {
  const old = await memcpyFrom(child, mem, size);
  comm.childReady.complete();
  await comm.parentReady.waitForCompletion();
  return memcmp(old, await memcpyFrom(child, mem, size), size);
}

/** `child_vmsplice_memcmp_fn`: vmsplice() the range (a R/O reference), unmap it, read it back later. */
async function childVmspliceMemcmpFn(
  child: Process,
  mem: number,
  size: number,
  comm: CommPipes,
): Promise<number> {
  const old = await memcpyFrom(child, mem, size);
  const pipe = new Pipe(child.kernel);
  // Trigger a read-only pin.
  const transferred = await pipe.vmsplice(child.mm, mem, size);
  if (transferred < 0) return transferred;
  if (transferred === 0) return -EINVAL;
  // Unmap it from our page tables.
  const r = await child.munmap(mem, size);
  if (r < 0) return r;
  comm.childReady.complete();
  await comm.parentReady.waitForCompletion();
  // See if we still read the old values via the pipe.
  const cur = new Uint8Array(transferred);
  pipe.read(cur);
  pipe.close();
  return memcmp(old, cur, transferred);
}

async function doTestCowInParent(
  env: CowEnv,
  mem: number,
  size: number,
  doMprotect: boolean,
  fn: ChildFn,
  xfail: boolean,
): Promise<void> {
  const { process, ksft } = env;
  const comm = new CommPipes(env.machine);
  const child = await cowFork(env, (c) => fn(c, mem, size, comm));
  await comm.childReady.waitForCompletion();
  if (doMprotect) {
    // mprotect() optimizations might try avoiding write-faults by directly mapping pages writable.
    let ret = await process.mprotect(mem, size, PROT_READ);
    ret |= await process.mprotect(mem, size, PROT_READ | PROT_WRITE);
    if (ret) {
      ksft.fail('mprotect() failed');
      comm.parentReady.complete();
      await child.wait();
      return;
    }
  }
  // Modify the page.
  await memset(process, mem, 0xff, size);
  comm.parentReady.complete();
  const status = await child.wait();
  const ret = status === null ? -EINVAL : status;
  if (!ret) ksft.pass('No leak from parent into child');
  // With hugetlb, some vmsplice() tests are expected to fail: harder to fix, and nobody cares.
  else if (xfail) ksft.xfail('Leak from parent into child');
  else ksft.fail('Leak from parent into child');
}

/** `test_cow_in_parent`. */
export const testCowInParent: TestFn = (env, mem, size) =>
  doTestCowInParent(env, mem, size, false, childMemcmpFn, false);
/** `test_cow_in_parent_mprotect`. */
export const testCowInParentMprotect: TestFn = (env, mem, size) =>
  doTestCowInParent(env, mem, size, true, childMemcmpFn, false);
/** `test_vmsplice_in_child`. */
export const testVmspliceInChild: TestFn = (env, mem, size, isHugetlb) =>
  doTestCowInParent(env, mem, size, false, childVmspliceMemcmpFn, isHugetlb);
/** `test_vmsplice_in_child_mprotect`. */
export const testVmspliceInChildMprotect: TestFn = (env, mem, size, isHugetlb) =>
  doTestCowInParent(env, mem, size, true, childVmspliceMemcmpFn, isHugetlb);

async function doTestVmspliceInParent(
  env: CowEnv,
  mem: number,
  size: number,
  beforeFork: boolean,
  xfail: boolean,
): Promise<void> {
  const { process, ksft } = env;
  const old = await memcpyFrom(process, mem, size);
  const comm = new CommPipes(env.machine);
  const pipe = new Pipe(env.machine);
  let transferred = 0;
  try {
    if (beforeFork) {
      transferred = await pipe.vmsplice(process.mm, mem, size);
      if (transferred <= 0) {
        ksft.fail('vmsplice() failed');
        return;
      }
    }
    const child = await cowFork(env, async (c) => {
      comm.childReady.complete();
      await comm.parentReady.waitForCompletion();
      // Modify page content in the child.
      await memset(c, mem, 0xff, size);
      return 0;
    });
    if (!beforeFork) {
      transferred = await pipe.vmsplice(process.mm, mem, size);
      if (transferred <= 0) {
        ksft.fail('vmsplice() failed');
        await child.wait();
        return;
      }
    }
    await comm.childReady.waitForCompletion();
    if ((await process.munmap(mem, size)) < 0) {
      ksft.fail('munmap() failed');
      return;
    }
    comm.parentReady.complete();
    // Wait until the child is done writing.
    if ((await child.wait()) === null) {
      ksft.fail('wait() failed');
      return;
    }
    // See if we still read the old values.
    const cur = new Uint8Array(transferred);
    pipe.read(cur);
    if (!memcmp(old, cur, transferred)) ksft.pass('No leak from child into parent');
    else if (xfail) ksft.xfail('Leak from child into parent');
    else ksft.fail('Leak from child into parent');
  } finally {
    pipe.close();
  }
}

/** `test_vmsplice_before_fork`. */
export const testVmspliceBeforeFork: TestFn = (env, mem, size, isHugetlb) =>
  doTestVmspliceInParent(env, mem, size, true, isHugetlb);
/** `test_vmsplice_after_fork`. */
export const testVmspliceAfterFork: TestFn = (env, mem, size, isHugetlb) =>
  doTestVmspliceInParent(env, mem, size, false, isHugetlb);

/** `enum ro_pin_test`. */
type RoPinTest =
  | 'RO_PIN_TEST'
  | 'RO_PIN_TEST_SHARED'
  | 'RO_PIN_TEST_PREVIOUSLY_SHARED'
  | 'RO_PIN_TEST_RO_EXCLUSIVE';

async function doTestRoPin(
  env: CowEnv,
  mem: number,
  size: number,
  test: RoPinTest,
  fast: boolean,
): Promise<void> {
  const { process, ksft } = env;
  const gup = new GupTestPinLongterm(process);
  const comm = new CommPipes(env.machine);
  let child = null;
  if (test === 'RO_PIN_TEST_SHARED' || test === 'RO_PIN_TEST_PREVIOUSLY_SHARED') {
    // Share the pages with our child. As the pages are not pinned, this should just work.
    child = await cowFork(env, async () => {
      comm.childReady.complete();
      await comm.parentReady.waitForCompletion();
      return 0;
    });
    // Wait until our child is ready.
    await comm.childReady.waitForCompletion();
    if (test === 'RO_PIN_TEST_PREVIOUSLY_SHARED') {
      // Tell the child to quit now and wait until it quit. The pages should now be mapped R/O
      // into our page tables, but they are no longer shared.
      comm.parentReady.complete();
      if ((await child.wait()) === null) ksft.print('[INFO] wait() failed');
    }
  } else if (test === 'RO_PIN_TEST_RO_EXCLUSIVE') {
    // Map the page R/O into the page table (clear_softdirty() in between; soft-dirty tracking
    // only stops mprotect() from mapping it writable again at once, which hmmsim never does).
    let ret = await process.mprotect(mem, size, PROT_READ);
    ret |= await process.mprotect(mem, size, PROT_READ | PROT_WRITE);
    if (ret) {
      ksft.fail('mprotect() failed');
      return;
    }
  }
  // Take a R/O pin. This should trigger unsharing.
  const ret = await gup.start(mem, size, fast ? PIN_LONGTERM_TEST_FLAG_USE_FAST : 0);
  if (ret) {
    if (ret === -EINVAL) ksft.skip('PIN_LONGTERM_TEST_START failed');
    else ksft.fail('PIN_LONGTERM_TEST_START failed');
  } else {
    // Modify the page.
    await memset(process, mem, 0xff, size);
    // Read back the content via the pin and test if we observed the modification.
    const tmp = gup.read();
    if (typeof tmp === 'number') ksft.fail('PIN_LONGTERM_TEST_READ failed');
    else
      ksft.result(!memcmp(await memcpyFrom(process, mem, size), tmp, size), 'Longterm R/O pin is reliable');
    if (gup.stop()) ksft.print('[INFO] PIN_LONGTERM_TEST_STOP failed');
  }
  if (test === 'RO_PIN_TEST_SHARED' && child !== null) {
    comm.parentReady.complete();
    if ((await child.wait()) === null) ksft.print('[INFO] wait() failed');
  }
}

/** `test_ro_pin_on_shared`. */
export const testRoPinOnShared: TestFn = (env, mem, size) =>
  doTestRoPin(env, mem, size, 'RO_PIN_TEST_SHARED', false);
/** `test_ro_fast_pin_on_shared`. */
export const testRoFastPinOnShared: TestFn = (env, mem, size) =>
  doTestRoPin(env, mem, size, 'RO_PIN_TEST_SHARED', true);
/** `test_ro_pin_on_ro_previously_shared`. */
export const testRoPinOnRoPreviouslyShared: TestFn = (env, mem, size) =>
  doTestRoPin(env, mem, size, 'RO_PIN_TEST_PREVIOUSLY_SHARED', false);
/** `test_ro_fast_pin_on_ro_previously_shared`. */
export const testRoFastPinOnRoPreviouslyShared: TestFn = (env, mem, size) =>
  doTestRoPin(env, mem, size, 'RO_PIN_TEST_PREVIOUSLY_SHARED', true);
/** `test_ro_pin_on_ro_exclusive`. */
export const testRoPinOnRoExclusive: TestFn = (env, mem, size) =>
  doTestRoPin(env, mem, size, 'RO_PIN_TEST_RO_EXCLUSIVE', false);
/** `test_ro_fast_pin_on_ro_exclusive`. */
export const testRoFastPinOnRoExclusive: TestFn = (env, mem, size) =>
  doTestRoPin(env, mem, size, 'RO_PIN_TEST_RO_EXCLUSIVE', true);

/** `strerror(-r)` for the errnos MADV_COLLAPSE returns. */
function strerror(r: number): string {
  const text: Record<number, string> = {
    [-EINVAL]: 'Invalid argument',
    [-EAGAIN]: 'Resource temporarily unavailable',
    [-ENOMEM]: 'Cannot allocate memory',
    [-EBUSY]: 'Device or resource busy',
  };
  return text[r] ?? `Unknown error ${-r}`;
}

/** `enum anon_thp_collapse_test`. */
type AnonThpCollapseTest = 'UNSHARED' | 'FULLY_SHARED' | 'LOWER_SHARED' | 'UPPER_SHARED';

async function doTestAnonThpCollapse(
  env: CowEnv,
  mem: number,
  size: number,
  test: AnonThpCollapseTest,
): Promise<void> {
  const { process, ksft } = env;
  const pagesize = 4096;
  const comm = new CommPipes(env.machine);
  // Trigger PTE-mapping the THP by temporarily mapping a single subpage R/O, such that we can
  // try collapsing it later.
  if (await process.mprotect(mem + pagesize, pagesize, PROT_READ)) {
    ksft.fail('mprotect() failed');
    return;
  }
  if (await process.mprotect(mem + pagesize, pagesize, PROT_READ | PROT_WRITE)) {
    ksft.fail('mprotect() failed');
    return;
  }
  switch (test) {
    case 'UNSHARED': {
      // Collapse before actually COW-sharing the page.
      const r = await process.madvise(mem, size, MADV_COLLAPSE);
      if (r) {
        ksft.skip(`MADV_COLLAPSE failed: ${strerror(r)}`);
        return;
      }
      break;
    }
    case 'FULLY_SHARED':
      break; // COW-share the full PTE-mapped THP.
    case 'LOWER_SHARED':
      // Don't COW-share the upper part of the THP.
      if (await process.madvise(mem + size / 2, size / 2, MADV_DONTFORK)) {
        ksft.fail('MADV_DONTFORK failed');
        return;
      }
      break;
    case 'UPPER_SHARED':
      // Don't COW-share the lower part of the THP.
      if (await process.madvise(mem, size / 2, MADV_DONTFORK)) {
        ksft.fail('MADV_DONTFORK failed');
        return;
      }
      break;
  }
  const child = await cowFork(env, (c) => {
    if (test === 'LOWER_SHARED') return childMemcmpFn(c, mem, size / 2, comm);
    if (test === 'UPPER_SHARED') return childMemcmpFn(c, mem + size / 2, size / 2, comm);
    return childMemcmpFn(c, mem, size, comm);
  });
  await comm.childReady.waitForCompletion();
  if (test !== 'UNSHARED') {
    if (test !== 'FULLY_SHARED') {
      // Revert MADV_DONTFORK such that we merge the VMAs and are able to actually collapse.
      if (await process.madvise(mem, size, MADV_DOFORK)) {
        ksft.fail('MADV_DOFORK failed');
        comm.parentReady.complete();
        await child.wait();
        return;
      }
    }
    // Collapse before anyone modified the COW-shared page.
    const r = await process.madvise(mem, size, MADV_COLLAPSE);
    if (r) {
      ksft.skip(`MADV_COLLAPSE failed: ${strerror(r)}`);
      comm.parentReady.complete();
      await child.wait();
      return;
    }
  }
  // Modify the page.
  await memset(process, mem, 0xff, size);
  comm.parentReady.complete();
  const status = await child.wait();
  ksft.result(status === 0, 'No leak from parent into child');
}

/** `test_anon_thp_collapse_unshared`. */
export const testAnonThpCollapseUnshared: TestFn = (env, mem, size) =>
  doTestAnonThpCollapse(env, mem, size, 'UNSHARED');
/** `test_anon_thp_collapse_fully_shared`. */
export const testAnonThpCollapseFullyShared: TestFn = (env, mem, size) =>
  doTestAnonThpCollapse(env, mem, size, 'FULLY_SHARED');
/** `test_anon_thp_collapse_lower_shared`. */
export const testAnonThpCollapseLowerShared: TestFn = (env, mem, size) =>
  doTestAnonThpCollapse(env, mem, size, 'LOWER_SHARED');
/** `test_anon_thp_collapse_upper_shared`. */
export const testAnonThpCollapseUpperShared: TestFn = (env, mem, size) =>
  doTestAnonThpCollapse(env, mem, size, 'UPPER_SHARED');

/** `test_cow`: modify the private mapping, the other mapping must not change. */
export const testCow: NonAnonTestFn = async (env, mem, smem, size) => {
  const old = await memcpyFrom(env.process, smem, size);
  await memset(env.process, mem, 0xff, size);
  env.ksft.result(
    !memcmp(await memcpyFrom(env.process, smem, size), old, size),
    'Other mapping not modified',
  );
};

/** `test_ro_pin`. */
export const testRoPin: NonAnonTestFn = (env, mem, _smem, size) =>
  doTestRoPin(env, mem, size, 'RO_PIN_TEST', false);
/** `test_ro_fast_pin`. */
export const testRoFastPin: NonAnonTestFn = (env, mem, _smem, size) =>
  doTestRoPin(env, mem, size, 'RO_PIN_TEST', true);
