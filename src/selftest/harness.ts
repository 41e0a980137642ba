/**
 * The fixture of the kernel's HMM self-tests (tools/testing/selftests/mm/hmm-tests.c) on hmmsim:
 * `hmm_buffer`, `hmm_dmirror_cmd`, the `hmm`/`hmm2` fixtures with their device-private and
 * device-coherent variants, NTIMES and friends, and the int-array views the C tests get for free
 * (`int *ptr` over a mapping or the mirror buffer); and `TEST_F`, which registers a test in a
 * {@link SelftestFile} instead of running it.
 * @module
 */
import type { DmirrorFile } from '../devices/dmirror/index.ts';
import { Machine } from '../machine.ts';
import {
  FOLL_GET,
  FOLL_LONGTERM,
  FOLL_PIN,
  FOLL_WRITE,
  getUserPages,
  mmapReadLock,
  mmapReadUnlock,
  PAGE_SHIFT,
  PAGE_SIZE,
  type Process,
  putUserPage,
  unpinUserPage,
} from '../mm/index.ts';
import { findEntry } from '../mm/page-table.ts';
import { PTE_KIND_MASK, PTE_LEAF, PTE_NONE, PTE_PRESENT } from '../mm/pte.ts';
import { EINTR, EINVAL } from '../sim/errno.ts';
import { Prng } from '../sim/prng.ts';
import type { SimThread } from '../sim/thread.ts';
import { Completion } from '../sim/wait-queue.ts';
import { expect } from './expect.ts';

/** `HMM_BUFFER_SIZE`: 4 MiB, 1024 pages. */
export const HMM_BUFFER_SIZE = 1024 << 12;
/** `NTIMES`: repetitions of the *_multiple and teardown tests. */
export const NTIMES = 10;
/** `ONEKB`. */
export const ONEKB = 1 << 10;
/** `ONEMEG`. */
export const ONEMEG = 1 << 20;
/** `TWOMEG`. */
export const TWOMEG = 1 << 21;

/** Device number (minor) of the first device-private device. */
export const HMM_PRIVATE_DEVICE_ONE = 0;
/** Device number of the second device-private device. */
export const HMM_PRIVATE_DEVICE_TWO = 1;
/** Device number of the first device-coherent device. */
export const HMM_COHERENCE_DEVICE_ONE = 2;
/** Device number of the second device-coherent device. */
export const HMM_COHERENCE_DEVICE_TWO = 3;

/** `ALIGN(x, a)` for a power-of-two `a`. */
export function ALIGN(x: number, a: number): number {
  return Math.ceil(x / a) * a;
}

/** `struct hmm_buffer`. `ptr` 0 stands for NULL. */
export interface HmmBuffer {
  /** The CPU mapping (0 when there is none). */
  ptr: number;
  /** The host buffer: what the device read or writes, or one snapshot byte per page. */
  mirror: Uint8Array;
  /** Bytes to munmap on free. */
  size: number;
  /** Backing file, or -1. */
  fd: number;
  /** Copied from the command on success only. */
  cpages: number;
  /** Copied from the command on success only. */
  faults: number;
}

/** A buffer with a mirror of `mirrorSize` bytes (`malloc(sizeof(*buffer))` + `malloc(mirror)`). */
export function hmmBufferAlloc(size: number, mirrorSize = size): HmmBuffer {
  return { ptr: 0, mirror: new Uint8Array(mirrorSize), size, fd: -1, cpages: 0, faults: 0 };
}

/** `hmm_buffer_free`: munmaps the mapping if there still is one; the mirror goes with the object. */
export async function hmmBufferFree(process: Process, buffer: HmmBuffer): Promise<void> {
  if (buffer.ptr !== 0) {
    await process.munmap(buffer.ptr, buffer.size);
    buffer.ptr = 0;
  }
}

/** The ioctl requests used by the ported tests. */
export type HmmDmirrorRequest =
  | 'HMM_DMIRROR_READ'
  | 'HMM_DMIRROR_WRITE'
  | 'HMM_DMIRROR_MIGRATE_TO_DEV'
  | 'HMM_DMIRROR_MIGRATE_TO_SYS'
  | 'HMM_DMIRROR_SNAPSHOT'
  | 'HMM_DMIRROR_EXCLUSIVE'
  | 'HMM_DMIRROR_CHECK_EXCLUSIVE'
  | 'HMM_DMIRROR_RELEASE'
  | 'HMM_DMIRROR_FLAGS'
  | 'HMM_DMIRROR_READ_UNLOCKED';
/** `HMM_DMIRROR_READ`. */
export const HMM_DMIRROR_READ: HmmDmirrorRequest = 'HMM_DMIRROR_READ';
/** `HMM_DMIRROR_WRITE`. */
export const HMM_DMIRROR_WRITE: HmmDmirrorRequest = 'HMM_DMIRROR_WRITE';
/** `HMM_DMIRROR_MIGRATE_TO_DEV`. */
export const HMM_DMIRROR_MIGRATE_TO_DEV: HmmDmirrorRequest = 'HMM_DMIRROR_MIGRATE_TO_DEV';
/** `HMM_DMIRROR_MIGRATE_TO_SYS`. */
export const HMM_DMIRROR_MIGRATE_TO_SYS: HmmDmirrorRequest = 'HMM_DMIRROR_MIGRATE_TO_SYS';
/** `HMM_DMIRROR_SNAPSHOT`. */
export const HMM_DMIRROR_SNAPSHOT: HmmDmirrorRequest = 'HMM_DMIRROR_SNAPSHOT';
/** `HMM_DMIRROR_EXCLUSIVE`. */
export const HMM_DMIRROR_EXCLUSIVE: HmmDmirrorRequest = 'HMM_DMIRROR_EXCLUSIVE';
/** `HMM_DMIRROR_CHECK_EXCLUSIVE`. */
export const HMM_DMIRROR_CHECK_EXCLUSIVE: HmmDmirrorRequest = 'HMM_DMIRROR_CHECK_EXCLUSIVE';
/** `HMM_DMIRROR_RELEASE`. */
export const HMM_DMIRROR_RELEASE: HmmDmirrorRequest = 'HMM_DMIRROR_RELEASE';
/** `HMM_DMIRROR_FLAGS`. */
export const HMM_DMIRROR_FLAGS: HmmDmirrorRequest = 'HMM_DMIRROR_FLAGS';
/** `HMM_DMIRROR_READ_UNLOCKED` (0x09, the 2026 lock-drop series). */
export const HMM_DMIRROR_READ_UNLOCKED: HmmDmirrorRequest = 'HMM_DMIRROR_READ_UNLOCKED';

/**
 * `hmm_dmirror_cmd`: issues `request` with addr = `buffer.ptr`, ptr = `buffer.mirror`, npages,
 * retrying on EINTR. Returns 0 or -errno; only on success are cpages/faults copied into the buffer
 * and what the device copied out (READ data, SNAPSHOT bytes) written to the mirror, as the kernel
 * copies nothing back on error.
 */
export async function hmmDmirrorCmd(
  fd: DmirrorFile,
  request: HmmDmirrorRequest,
  buffer: HmmBuffer,
  npages: number,
): Promise<number> {
  const addr = buffer.ptr;
  for (;;) {
    let r: { ret: number; cpages: number; faults: number; data?: Uint8Array; prot?: Uint8Array };
    switch (request) {
      case 'HMM_DMIRROR_READ':
        r = await fd.read(addr, npages);
        break;
      case 'HMM_DMIRROR_WRITE':
        r = await fd.write(addr, npages, buffer.mirror);
        break;
      case 'HMM_DMIRROR_MIGRATE_TO_DEV':
        r = await fd.migrateToDev(addr, npages);
        break;
      case 'HMM_DMIRROR_MIGRATE_TO_SYS':
        r = await fd.migrateToSys(addr, npages);
        break;
      case 'HMM_DMIRROR_SNAPSHOT':
        r = await fd.snapshot(addr, npages);
        break;
      case 'HMM_DMIRROR_EXCLUSIVE':
        r = await fd.exclusive(addr, npages);
        break;
      case 'HMM_DMIRROR_CHECK_EXCLUSIVE':
        r = await fd.checkExclusive(addr, npages);
        break;
      case 'HMM_DMIRROR_RELEASE':
        r = await fd.release(addr, npages);
        break;
      case 'HMM_DMIRROR_FLAGS':
        r = await fd.setFlags(npages);
        break;
      case 'HMM_DMIRROR_READ_UNLOCKED':
        r = await fd.readUnlocked(addr, npages);
        break;
    }
    if (r.ret === 0) {
      const out = r.data ?? r.prot;
      // snapshot's 7-byte mirror receives MIGRATE_TO_DEV's page of read-back: in C the copy runs
      // past the malloc'd buffer into the heap; here the part that fits is kept.
      if (out !== undefined)
        buffer.mirror.set(out.length > buffer.mirror.length ? out.subarray(0, buffer.mirror.length) : out);
      buffer.cpages = r.cpages;
      buffer.faults = r.faults;
      return 0;
    }
    if (r.ret === -EINTR) continue;
    return r.ret;
  }
}

/** `hmm_migrate_sys_to_dev`. */
export function hmmMigrateSysToDev(fd: DmirrorFile, buffer: HmmBuffer, npages: number): Promise<number> {
  return hmmDmirrorCmd(fd, HMM_DMIRROR_MIGRATE_TO_DEV, buffer, npages);
}

/** `hmm_migrate_dev_to_sys`. */
export function hmmMigrateDevToSys(fd: DmirrorFile, buffer: HmmBuffer, npages: number): Promise<number> {
  return hmmDmirrorCmd(fd, HMM_DMIRROR_MIGRATE_TO_SYS, buffer, npages);
}

/** `hmm_create_file`: an unnamed temporary file of `size` bytes; its fd. */
export async function hmmCreateFile(process: Process, size: number): Promise<number> {
  return process.createTmpFile(size);
}

/** `hmm_random`: a random u32 (from a seeded generator, so runs repeat). */
export function hmmRandomSource(seed: number): () => number {
  const prng = new Prng(seed);
  return () => prng.nextU32();
}

/**
 * `hmm_nanosleep(n)`: sleeps `n` ns of virtual time. The scheduler wakes the sleeper as soon as
 * the clock (advanced by the other threads' work, e.g. HMM walks) passes the deadline, so the
 * sleep stays concurrent with the racing command.
 */
export async function hmmNanosleep(machine: Machine, n: number): Promise<void> {
  await machine.sched.sleep(n);
}

/** `read_pmd_pagesize()`: the THP size of the machine. */
export function readPmdPagesize(): number {
  return TWOMEG;
}

/** `default_huge_page_size()`: the hugetlb default size of the machine. */
export function defaultHugePageSize(): number {
  return TWOMEG;
}

/** `hugetlb_free_default_pages()`. */
export function hugetlbFreeDefaultPages(machine: Machine): number {
  return machine.hugetlb.freeHugePages;
}

// ---- int views (the C tests' `int *ptr`) ----------------------------------------------------

/** `ptr[i] = f(i)` for i in [from, to) over the CPU mapping at `addr`, as the CPU writes. */
export async function cpuFillInts(
  process: Process,
  addr: number,
  from: number,
  to: number,
  f: (i: number) => number,
): Promise<void> {
  const ints = new Int32Array(to - from);
  for (let i = from; i < to; i++) ints[i - from] = f(i);
  await process.write(addr + from * 4, new Uint8Array(ints.buffer));
}

/** The ints [from, to) of the CPU mapping at `addr`, as the CPU reads them; index i at [i - from]. */
export async function cpuReadInts(
  process: Process,
  addr: number,
  from: number,
  to: number,
): Promise<Int32Array> {
  const bytes = await process.read(addr + from * 4, (to - from) * 4);
  return new Int32Array(bytes.buffer, bytes.byteOffset, to - from);
}

/**
 * `for (i = from; i < to; ++i) ASSERT_EQ(ptr[i]++, f(i))` over the CPU mapping at `addr`: page by
 * page, the CPU loads the ints (checking each old value) and stores them incremented, so each
 * page takes a read access and then a write access like the C loop's.
 */
export async function cpuIncrementInts(
  process: Process,
  addr: number,
  from: number,
  to: number,
  f: (i: number) => number,
): Promise<void> {
  const perPage = PAGE_SIZE / 4;
  for (let first = from; first < to; first = Math.min(to, (Math.floor(first / perPage) + 1) * perPage)) {
    const last = Math.min(to, (Math.floor(first / perPage) + 1) * perPage);
    const ints = (await cpuReadInts(process, addr, first, last)).slice();
    assertInts('ptr', ints, first, last, f);
    for (let j = 0; j < ints.length; j++) ints[j] = (ints[j]! + 1) | 0;
    await process.write(addr + first * 4, new Uint8Array(ints.buffer));
  }
}

/** The mirror as an int array. */
export function mirrorInts(buffer: HmmBuffer): Int32Array {
  const m = buffer.mirror;
  return new Int32Array(m.buffer, m.byteOffset, m.length >>> 2);
}

/** `mirror[i] = f(i)` for i in [0, count). */
export function fillMirror(buffer: HmmBuffer, count: number, f: (i: number) => number): void {
  const ints = mirrorInts(buffer);
  for (let i = 0; i < count; i++) ints[i] = f(i);
}

/**
 * `for (i = from; i < to; ++i) ASSERT_EQ(ints[i - offset], f(i))`: every element is checked and
 * the first mismatch fails the test, naming the index.
 */
export function assertInts(
  what: string,
  ints: Int32Array,
  from: number,
  to: number,
  f: (i: number) => number,
  offset = from,
): void {
  for (let i = from; i < to; i++) {
    const want = f(i) | 0;
    if (ints[i - offset] !== want) expect(ints[i - offset], `${what}[${i}]`).toBe(want);
  }
}

// ---- fixtures ------------------------------------------------------------------------------

/** `FIXTURE_VARIANT(hmm)`. */
export interface HmmVariant {
  /** The variant's name. */
  readonly name: 'hmm_device_private' | 'hmm_device_coherent';
  /** `variant->device_number`: the device the fixture opens. */
  readonly device_number: number;
}

/** `FIXTURE_VARIANT(hmm2)`. */
export interface Hmm2Variant {
  /** The variant's name. */
  readonly name: 'hmm2_device_private' | 'hmm2_device_coherent';
  /** `variant->device_number0`: the first device. */
  readonly device_number0: number;
  /** `variant->device_number1`: the second device. */
  readonly device_number1: number;
}

/** `FIXTURE_VARIANT_ADD(hmm, …)`. */
export const HMM_VARIANTS: readonly HmmVariant[] = [
  { name: 'hmm_device_private', device_number: HMM_PRIVATE_DEVICE_ONE },
  { name: 'hmm_device_coherent', device_number: HMM_COHERENCE_DEVICE_ONE },
];

/** `FIXTURE_VARIANT_ADD(hmm2, …)`. */
export const HMM2_VARIANTS: readonly Hmm2Variant[] = [
  {
    name: 'hmm2_device_private',
    device_number0: HMM_PRIVATE_DEVICE_ONE,
    device_number1: HMM_PRIVATE_DEVICE_TWO,
  },
  {
    name: 'hmm2_device_coherent',
    device_number0: HMM_COHERENCE_DEVICE_ONE,
    device_number1: HMM_COHERENCE_DEVICE_TWO,
  },
];

/** `hmm_is_coherent_type`. */
export function hmmIsCoherentType(devNum: number): boolean {
  return devNum >= HMM_COHERENCE_DEVICE_ONE;
}

/** What a self-test run is told: see {@link SelftestCase.run}. */
export interface SelftestRunOptions {
  /**
   * Called with every {@link Machine} the case creates, as soon as it exists (before the test
   * process is created), e.g. to attach a trace.
   */
  onMachine?: (machine: Machine) => void;
}

/**
 * The machine the tests run on, with the module's four devices loaded (minors 0, 1 private; 2, 3
 * coherent) and one huge page reserved (`HUGETLB_SETUP_DEFAULT_PAGES(1)`), THP on madvise.
 * `options.onMachine` sees it before anything runs on it.
 */
export function hmmMachine(options?: SelftestRunOptions): Machine {
  const machine = new Machine({ memory: 256 * ONEMEG, thp: 'madvise', hugetlbPages: 1 });
  machine.addDmirrorDevice();
  machine.addDmirrorDevice();
  machine.addDmirrorDevice({ coherent: true });
  machine.addDmirrorDevice({ coherent: true });
  options?.onMachine?.(machine);
  return machine;
}

/** `hmm_open(unit)`: opens /dev/hmm_dmirror<unit> in `process`. */
export async function hmmOpen(machine: Machine, process: Process, unit: number): Promise<DmirrorFile> {
  const device = machine.dmirrorDevice(unit);
  if (device === undefined) throw new Error(`could not open hmm dmirror driver (/dev/hmm_dmirror${unit})`);
  return device.open(process);
}

/** `FIXTURE(hmm)` plus the machine and the test process. */
export interface HmmSelf {
  /** The machine the test runs on. */
  machine: Machine;
  /** The test program's process. */
  process: Process;
  /** `self->fd`: the open device file. */
  fd: DmirrorFile;
  /** `self->page_size`. */
  page_size: number;
  /** `self->page_shift`. */
  page_shift: number;
}

/** `FIXTURE(hmm2)` plus the machine and the test process. */
export interface Hmm2Self {
  /** The machine the test runs on. */
  machine: Machine;
  /** The test program's process. */
  process: Process;
  /** `self->fd0`: the first device's file. */
  fd0: DmirrorFile;
  /** `self->fd1`: the second device's file. */
  fd1: DmirrorFile;
  /** `self->page_size`. */
  page_size: number;
  /** `self->page_shift`. */
  page_shift: number;
}

/** `FIXTURE_SETUP(hmm)`, on a new machine. */
export async function fixtureSetupHmm(variant: HmmVariant, options?: SelftestRunOptions): Promise<HmmSelf> {
  const machine = hmmMachine(options);
  const process = await machine.createProcess();
  const fd = await hmmOpen(machine, process, variant.device_number);
  expect(fd.fd, 'self->fd').toBeGreaterThanOrEqual(0);
  return { machine, process, fd, page_size: PAGE_SIZE, page_shift: PAGE_SHIFT };
}

/** `FIXTURE_TEARDOWN(hmm)`: close(fd) must succeed. */
export async function fixtureTeardownHmm(self: HmmSelf): Promise<void> {
  await self.fd.close();
  expect(self.fd.isReleased, 'self->fd released').toBe(true);
}

/** `FIXTURE_SETUP(hmm2)`, on a new machine. */
export async function fixtureSetupHmm2(
  variant: Hmm2Variant,
  options?: SelftestRunOptions,
): Promise<Hmm2Self> {
  const machine = hmmMachine(options);
  const process = await machine.createProcess();
  const fd0 = await hmmOpen(machine, process, variant.device_number0);
  expect(fd0.fd, 'self->fd0').toBeGreaterThanOrEqual(0);
  const fd1 = await hmmOpen(machine, process, variant.device_number1);
  expect(fd1.fd, 'self->fd1').toBeGreaterThanOrEqual(0);
  return { machine, process, fd0, fd1, page_size: PAGE_SIZE, page_shift: PAGE_SHIFT };
}

/** `FIXTURE_TEARDOWN(hmm2)`. */
export async function fixtureTeardownHmm2(self: Hmm2Self): Promise<void> {
  await self.fd0.close();
  expect(self.fd0.isReleased, 'self->fd0 released').toBe(true);
  await self.fd1.close();
  expect(self.fd1.isReleased, 'self->fd1 released').toBe(true);
}

// ---- registration: TEST_F ------------------------------------------------------------------

/**
 * One instance of a kernel self-test: a test function in one fixture variant, named as the
 * kselftest harness prints it.
 */
export interface SelftestCase {
  /** `<fixture>.<variant>.<test>`, e.g. `hmm.hmm_device_private.anon_read`. */
  readonly name: string;
  /** `'hmm'` or `'hmm2'`. */
  readonly fixture: string;
  /** The fixture variant, e.g. `'hmm_device_private'`. */
  readonly variant: string;
  /** The test function's name, e.g. `'anon_read'`. */
  readonly test: string;
  /**
   * The kernel's `TEST_F_TIMEOUT` in milliseconds, where it sets one (the benchmark's 120 s);
   * undefined for the harness default (30 s). Nothing in the port enforces it: runs are in
   * virtual time; a test runner may use it as its wall-clock limit.
   */
  readonly timeout?: number;
  /**
   * Runs the test: the fixture is set up on a new machine, the body runs, the fixture is torn
   * down. Resolves when the test passed; rejects with the first failed assertion
   * (`SelftestAssertionError`) or whatever else the body threw.
   */
  run(options?: SelftestRunOptions): Promise<void>;
}

/** A test registered with `TEST_F`: one per test function, whatever the number of variants. */
export interface SelftestDefinition {
  /** `'hmm'` or `'hmm2'`. */
  readonly fixture: 'hmm' | 'hmm2';
  /** The test function's name. */
  readonly test: string;
  /** The kernel's timeout in milliseconds, if it sets one. */
  readonly timeout?: number;
  /** Its instances, one per variant, in the variants' declaration order. */
  readonly cases: readonly SelftestCase[];
}

/**
 * The tests of one file of the port (the kernel has them all in hmm-tests.c; the port splits
 * them by subject). `TEST_F_hmm` and `TEST_F_hmm2` are its `TEST_F(hmm, …)` and
 * `TEST_F(hmm2, …)`: they register the test, in declaration order, instead of running it. Both
 * are bound, so a file destructures them: `const { TEST_F_hmm } = file;`.
 */
export class SelftestFile {
  /** A short identifier, e.g. `'anon'` (the port's file name). */
  readonly id: string;
  /** What the file covers, e.g. `'hmm-tests.c: anonymous memory'` (the vitest suite's title). */
  readonly title: string;
  /** The registered tests, in declaration order. */
  readonly definitions: SelftestDefinition[] = [];

  /** @param id See {@link SelftestFile.id}. @param title See {@link SelftestFile.title}. */
  constructor(id: string, title: string) {
    this.id = id;
    this.title = title;
  }

  /**
   * `TEST_F(hmm, name)` (or `TEST_F_TIMEOUT` with `timeout` in ms): one case per `hmm` variant,
   * titled like the kselftest harness prints it (`hmm.hmm_device_private.anon_read`), with the
   * fixture set up and torn down around the body.
   */
  readonly TEST_F_hmm = (
    name: string,
    body: (self: HmmSelf, variant: HmmVariant) => Promise<void>,
    timeout?: number,
  ): void => {
    this.define('hmm', name, timeout, HMM_VARIANTS, async (variant, options) => {
      const self = await fixtureSetupHmm(variant, options);
      await body(self, variant);
      await fixtureTeardownHmm(self);
    });
  };

  /** `TEST_F(hmm2, name)`: as {@link SelftestFile.TEST_F_hmm}, over the two-device fixture. */
  readonly TEST_F_hmm2 = (
    name: string,
    body: (self: Hmm2Self, variant: Hmm2Variant) => Promise<void>,
    timeout?: number,
  ): void => {
    this.define('hmm2', name, timeout, HMM2_VARIANTS, async (variant, options) => {
      const self = await fixtureSetupHmm2(variant, options);
      await body(self, variant);
      await fixtureTeardownHmm2(self);
    });
  };

  /** The file's cases in declaration order, each test's variants together. */
  cases(): SelftestCase[] {
    return this.definitions.flatMap((d) => d.cases);
  }

  private define<V extends { readonly name: string }>(
    fixture: 'hmm' | 'hmm2',
    test: string,
    timeout: number | undefined,
    variants: readonly V[],
    run: (variant: V, options: SelftestRunOptions | undefined) => Promise<void>,
  ): void {
    if (this.definitions.some((d) => d.fixture === fixture && d.test === test))
      throw new Error(`TEST_F(${fixture}, ${test}) registered twice in ${this.id}`);
    const cases = variants.map(
      (variant): SelftestCase => ({
        name: `${fixture}.${variant.name}.${test}`,
        fixture,
        variant: variant.name,
        test,
        ...(timeout === undefined ? {} : { timeout }),
        run: (options) => run(variant, options),
      }),
    );
    this.definitions.push({ fixture, test, ...(timeout === undefined ? {} : { timeout }), cases });
  }
}

// ---- fork, waitpid, kill -------------------------------------------------------------------

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

// ---- /sys/kernel/debug/gup_test ------------------------------------------------------------

/** gup_test commands used by hmm_gup_test (tools/testing/selftests/mm/gup_test.h). */
export type GupTestCmd =
  | 'GUP_FAST_BENCHMARK'
  | 'PIN_FAST_BENCHMARK'
  | 'PIN_LONGTERM_BENCHMARK'
  | 'GUP_BASIC_TEST';
/** `GUP_FAST_BENCHMARK`. */
export const GUP_FAST_BENCHMARK: GupTestCmd = 'GUP_FAST_BENCHMARK';
/** `PIN_FAST_BENCHMARK`. */
export const PIN_FAST_BENCHMARK: GupTestCmd = 'PIN_FAST_BENCHMARK';
/** `PIN_LONGTERM_BENCHMARK`. */
export const PIN_LONGTERM_BENCHMARK: GupTestCmd = 'PIN_LONGTERM_BENCHMARK';
/** `GUP_BASIC_TEST`. */
export const GUP_BASIC_TEST: GupTestCmd = 'GUP_BASIC_TEST';

/**
 * `gup_test_exec` through the gup_test debugfs file (mm/gup_test.c): for each chunk of
 * `npages` pages of `size` bytes at `addr`, `get_user_pages` (basic test),
 * `get_user_pages_fast`, `pin_user_pages_fast` or `pin_user_pages(… | FOLL_LONGTERM)` with
 * `FOLL_WRITE | flags`, then the references or pins are released (`put_back_pages`). The
 * simulated machine has no lock-free fast path: the fast variants take the slow path, as the
 * kernel's do for any page the fast walk cannot take (device-private entries, pages that must
 * migrate before a long-term pin). Like the ioctl, returns 0 however many pages were obtained.
 */
export async function gupTestExec(
  process: Process,
  addr: number,
  cmd: GupTestCmd,
  npages: number,
  size: number,
  flags: number,
): Promise<number> {
  const mm = process.mm;
  let gupFlags = FOLL_WRITE | flags;
  const pin = cmd === PIN_FAST_BENCHMARK || cmd === PIN_LONGTERM_BENCHMARK;
  if (cmd === PIN_LONGTERM_BENCHMARK) gupFlags |= FOLL_LONGTERM;
  gupFlags |= pin ? FOLL_PIN : FOLL_GET;
  const nrPages = size / PAGE_SIZE;
  const pages: number[] = [];
  await mmapReadLock(mm);
  try {
    for (let i = 0; i < nrPages; ) {
      const nr = Math.min(npages, nrPages - i);
      const got = await getUserPages(mm, addr + i * PAGE_SIZE, nr, gupFlags);
      if (typeof got === 'number' || got.length === 0) break;
      pages.push(...got);
      i += got.length;
    }
  } finally {
    mmapReadUnlock(mm);
  }
  for (const pfn of pages) {
    if (pin) unpinUserPage(mm, pfn);
    else putUserPage(mm, pfn);
  }
  return 0;
}

// ---- /proc/self/pagemap --------------------------------------------------------------------

/** `PM_PRESENT`: bit 63 of a pagemap entry. */
export const PM_PRESENT = 1n << 63n;
/** `PM_SWAP`: bit 62, a swap-like entry (swap, migration, device-private…). */
export const PM_SWAP = 1n << 62n;

/**
 * `pagemap_get_entry` on /proc/self/pagemap (fs/proc/task_mmu.c, reduced to the two bits the
 * tests read): PM_PRESENT for a present PTE or PMD, PM_SWAP for any other non-empty entry
 * (swap, migration, device-private, device-exclusive), 0 for none. Frame numbers are not shown,
 * as for an unprivileged reader.
 */
export function pagemapGetEntry(process: Process, addr: number): bigint {
  const mm = process.mm;
  const k = mm.kernel;
  const vpn = Math.floor(addr / PAGE_SIZE);
  const pmd = findEntry(k.pt, mm.pgd, vpn, 2);
  if (pmd < 0) return 0n;
  let lo = k.pt.words[pmd]!;
  if ((lo & PTE_LEAF) === 0) {
    const pte = findEntry(k.pt, mm.pgd, vpn, 1);
    if (pte < 0) return 0n;
    lo = k.pt.words[pte]!;
  }
  const kind = lo & PTE_KIND_MASK;
  if (kind === PTE_NONE) return 0n;
  return kind === PTE_PRESENT ? PM_PRESENT : PM_SWAP;
}
