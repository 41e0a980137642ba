/**
 * The races that kill the driver-side mutants (variants of dmirror, see `../driver.ts`). Each is a
 * small machine (16 MiB, no hugetlb pool), one process with one dmirror file open, and two or
 * three threads: the device doing what a GPU does (READ, WRITE), the CPU doing what a program or
 * the kernel does (munmap, madvise, a load, fork's copy-on-write, the OOM reaper). The unmutated
 * driver survives every one of them; each `check` states what a correct run may end with.
 * @module
 */
import type { DmirrorFile } from '../../../devices/dmirror/file.ts';
import type { Machine, MachineOptions } from '../../../machine.ts';
import { MADV_DONTNEED, MAP_SHARED, PAGE_SIZE, PROT_READ, PROT_WRITE } from '../../../mm/constants.ts';
import type { MmuNotifierRange } from '../../../mm/mmu-notifier.ts';
import { oomReapTaskMm } from '../../../mm/oom-kill.ts';
import type { Process } from '../../../mm/process.ts';
import {
  MmuIntervalNotifier,
  mmuIntervalNotifierInsert,
  mmuIntervalNotifierRemove,
} from '../../../notifier/interval-notifier.ts';
import { NSEC_PER_MSEC } from '../../../sim/clock.ts';
import { EBUSY, EFAULT } from '../../../sim/errno.ts';
import { defaultTeardown } from '../../runner.ts';
import type { Scenario } from '../../types.ts';
import { anonBuffer, firstWords, MUTANT_SCENARIO_MACHINE, SCENARIO_CHUNK_SIZE } from '../scenario-kit.ts';

/** The machine of every driver scenario. */
export const DRIVER_SCENARIO_MACHINE: MachineOptions = MUTANT_SCENARIO_MACHINE;

/** The 32-bit word written at the start of page `i` of a scenario's buffer. */
export function pageValue(i: number): number {
  return 0x5eed_0000 + i;
}

/** What most driver scenarios share: a process, its dmirror file, and a buffer of `npages` pages. */
export interface MirrorState {
  /** The process whose address space the device mirrors. */
  readonly process: Process;
  /** Its open dmirror file (device-private device, minor 0). */
  readonly file: DmirrorFile;
  /** Start of the buffer (anonymous, private, read-write); page `i` starts with `pageValue(i)`. */
  readonly addr: number;
  /** Pages in the buffer. */
  readonly npages: number;
  /** The device's READ result (errno), once it returned. */
  readRet: number | null;
  /** The first word of each page the device read (empty unless the READ succeeded). */
  readWords: number[];
}

/** Setup shared by the scenarios: process, buffer written page by page, dmirror file opened. */
async function mirrorSetup(machine: Machine, npages: number): Promise<MirrorState> {
  const process = await machine.createProcess();
  const addr = await anonBuffer(process, npages, pageValue);
  const file = await machine.addDmirrorDevice({ chunkSize: SCENARIO_CHUNK_SIZE }).open(process);
  return { process, file, addr, npages, readRet: null, readWords: [] };
}

/** The device READs the whole buffer and records what it got. */
async function deviceRead(s: MirrorState): Promise<void> {
  const r = await s.file.read(s.addr, s.npages);
  s.readRet = r.ret;
  if (r.ret === 0) s.readWords.push(...firstWords(r.data, s.npages));
}

/** A successful READ must have returned the values written in setup. */
function checkReadWords(s: MirrorState): void {
  if (s.readRet !== 0) return;
  for (let i = 0; i < s.npages; i++) {
    if (s.readWords[i] !== pageValue(i)) {
      throw new Error(
        `device READ of page ${i} returned 0x${(s.readWords[i] ?? 0).toString(16)}, expected 0x${pageValue(i).toString(16)}`,
      );
    }
  }
}

/**
 * The device faults a buffer in (READ) while the CPU unmaps it. A correct driver either copies
 * the data written in setup or fails with -EFAULT once the pages are gone; it never keeps a
 * translation of an unmapped page. Kills D2, D3 and D6 (a stale commit after the munmap's
 * invalidation: mirror oracle, then use-after-free of the freed frames).
 */
export const deviceReadVersusMunmap: Scenario<MirrorState> = {
  name: 'driver: device READ vs munmap',
  description: 'dmirror READ faults 8 pages in while the CPU munmaps them',
  machine: DRIVER_SCENARIO_MACHINE,
  setup: (machine) => mirrorSetup(machine, 8),
  threads: {
    device: (s) => deviceRead(s),
    cpu: async (s) => {
      await s.process.munmap(s.addr, s.npages * PAGE_SIZE);
    },
  },
  check(s) {
    if (s.readRet !== 0 && s.readRet !== -EFAULT) throw new Error(`device READ returned ${s.readRet}`);
    checkReadWords(s);
    for (let i = 0; i < s.npages; i++) {
      if (s.file.pt.has(s.addr / PAGE_SIZE + i))
        throw new Error(`the device still maps page ${i} of the unmapped buffer`);
    }
  },
  stepBudget: 20_000,
};

/** State of {@link deviceReadVersusUnrelatedMunmap}. */
export interface UnrelatedMunmapState extends MirrorState {
  /** A page elsewhere in the address space, unmapped by the CPU during the READ. */
  readonly other: number;
}

/**
 * The device READs a buffer while the CPU unmaps an unrelated page of the same address space:
 * dmirror's notifier spans the whole address space, so the invalidation still bumps the
 * sequence and the fault must retry once. The READ must succeed with the data written. Kills D1
 * (the retry reuses a stale sequence number until its deadline: the READ gives up with -EBUSY).
 */
export const deviceReadVersusUnrelatedMunmap: Scenario<UnrelatedMunmapState> = {
  name: 'driver: device READ vs munmap elsewhere',
  description: 'dmirror READ faults 8 pages in while the CPU munmaps another page of the mm',
  machine: DRIVER_SCENARIO_MACHINE,
  async setup(machine) {
    const s = await mirrorSetup(machine, 8);
    const other = await anonBuffer(s.process, 1, () => 1);
    return { ...s, other };
  },
  threads: {
    device: (s) => deviceRead(s),
    cpu: async (s) => {
      await s.process.munmap(s.other, PAGE_SIZE);
    },
  },
  check(s) {
    if (s.readRet !== 0) throw new Error(`device READ returned ${s.readRet}, expected 0`);
    checkReadWords(s);
  },
  stepBudget: 20_000,
};

/**
 * The device has the buffer mapped (a READ in setup) when the CPU unmaps it; the device READs it
 * again meanwhile. A correct driver's translations are gone when munmap's invalidation returns,
 * so the device either copies the old data (before) or fails with -EFAULT (after). Kills D4 (the
 * device keeps the translations of freed pages after the callback returned: mirror oracle,
 * use-after-free).
 */
export const deviceMappedVersusMunmap: Scenario<MirrorState> = {
  name: 'driver: device-mapped buffer vs munmap',
  description: 'the CPU munmaps 8 pages the device has mapped while the device READs them again',
  machine: DRIVER_SCENARIO_MACHINE,
  async setup(machine) {
    const s = await mirrorSetup(machine, 8);
    const r = await s.file.read(s.addr, s.npages);
    if (r.ret !== 0) throw new Error(`setup READ returned ${r.ret}`);
    return s;
  },
  threads: {
    cpu: async (s) => {
      await s.process.munmap(s.addr, s.npages * PAGE_SIZE);
    },
    device: (s) => deviceRead(s),
  },
  check(s) {
    if (s.readRet !== 0 && s.readRet !== -EFAULT) throw new Error(`device READ returned ${s.readRet}`);
    checkReadWords(s);
  },
  stepBudget: 20_000,
};

/** State of {@link deviceVersusCowChild}. */
export interface CowState extends MirrorState {
  /** The forked child sharing the buffer copy-on-write. */
  readonly child: Process;
  /** What the child read from page 0 after the device wrote, or null before. */
  childWord: number | null;
  /** The device's WRITE result. */
  writeRet: number | null;
}

/**
 * After fork the buffer is shared copy-on-write: every CPU PTE is read-only in a writable VMA.
 * The device READs it (its translations must be read-only, HMM_PFN_WRITE clear), then WRITEs
 * page 0 (which must break COW in the parent) while the child reads page 0 (which must still hold
 * the value written before fork). Kills D11 (device write permission from VM_WRITE: a writable
 * device translation of a read-only page, mirror oracle; then the device's write lands in the
 * page the child still shares, lost-data).
 */
export const deviceVersusCowChild: Scenario<CowState> = {
  name: 'driver: device READ/WRITE of a COW-shared buffer',
  description: 'after fork, the device reads then writes page 0 while the child reads it',
  machine: DRIVER_SCENARIO_MACHINE,
  async setup(machine) {
    const s = await mirrorSetup(machine, 2);
    const child = await s.process.fork();
    return { ...s, child, childWord: null, writeRet: null };
  },
  threads: {
    device: async (s) => {
      await deviceRead(s);
      const data = new Uint8Array(PAGE_SIZE);
      new DataView(data.buffer).setUint32(0, 0xdead_beef, true);
      s.writeRet = (await s.file.write(s.addr, 1, data)).ret;
    },
    child: async (s) => {
      s.childWord = await s.child.load32(s.addr);
    },
  },
  async check(s) {
    if (s.readRet !== 0) throw new Error(`device READ returned ${s.readRet}, expected 0`);
    checkReadWords(s);
    if (s.writeRet !== 0) throw new Error(`device WRITE returned ${s.writeRet}, expected 0`);
    const childNow = await s.child.load32(s.addr);
    if (s.childWord !== pageValue(0) || childNow !== pageValue(0)) {
      throw new Error(
        `the child sees 0x${(s.childWord ?? 0).toString(16)} then 0x${childNow.toString(16)} in page 0, expected 0x${pageValue(0).toString(16)}: the device's write reached the page shared copy-on-write`,
      );
    }
    const parentNow = await s.process.load32(s.addr);
    if (parentNow !== 0xdead_beef)
      throw new Error(`the parent sees 0x${parentNow.toString(16)} after the device WRITE`);
  },
  async teardown(s, machine) {
    // The child shares the file descriptor: it goes first so that closing the parent's releases.
    await s.child.exit();
    await defaultTeardown(machine);
  },
  stepBudget: 20_000,
};

/** State of {@link oomReaperVersusDevice}. */
export interface ReaperState extends MirrorState {
  /** A shared file mapping the device reads (the reaper leaves shared file memory alone). */
  readonly shared: number;
  /** Result of the reaper. */
  reaped: boolean | null;
}

/**
 * The OOM reaper frees the victim's private memory (non-blockable invalidations) while the
 * victim's device READs a shared file mapping. dmirror's callback must not sleep when the range
 * is not blockable (trylock, else give up): sleeping there is the "sleeping function called from
 * invalid context" splat. Kills D5 (assertion).
 */
export const oomReaperVersusDevice: Scenario<ReaperState> = {
  name: 'driver: OOM reaper vs device READ',
  description: 'the OOM reaper reaps the anonymous buffer while the device reads a shared file mapping',
  machine: DRIVER_SCENARIO_MACHINE,
  async setup(machine) {
    const s = await mirrorSetup(machine, 4);
    const fd = await s.process.createTmpFile(2 * PAGE_SIZE);
    const shared = await s.process.mmap(0, 2 * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    await s.process.store32(shared, pageValue(0));
    await s.process.store32(shared + PAGE_SIZE, pageValue(1));
    return { ...s, shared, reaped: null };
  },
  threads: {
    reaper: async (s) => {
      s.reaped = await oomReapTaskMm(s.process.mm);
    },
    device: async (s) => {
      const r = await s.file.read(s.shared, 2);
      s.readRet = r.ret;
      if (r.ret === 0) s.readWords.push(...firstWords(r.data, 2));
    },
  },
  check(s) {
    if (s.readRet !== 0) throw new Error(`device READ of the shared mapping returned ${s.readRet}`);
    if (s.readWords[0] !== pageValue(0) || s.readWords[1] !== pageValue(1))
      throw new Error(`device READ of the shared mapping returned ${s.readWords.map((w) => w.toString(16))}`);
    // The reaper may lose the mmap lock race (trylock) or be refused (-EAGAIN): both are fine.
    if (s.reaped === null) throw new Error('the reaper did not finish');
  },
  stepBudget: 20_000,
};

/** State of {@link cpuFaultVersusDeviceRead}. */
export interface DevmemState extends MirrorState {
  /** What the CPU loaded from page 0. */
  cpuWord: number | null;
  /** A file of a second device-private device mirroring the same process: the reader. */
  readonly reader: DmirrorFile;
}

/**
 * The buffer lives in the memory of device 0 (MIGRATE_TO_DEV in setup), then is made read-only
 * (mprotect: every translation of it goes). The CPU loads page 0 (a fault on a device-private
 * entry: device 0's `migrate_to_ram`, with the page locked) while device 1 READs the buffer:
 * for device 1 the pages are another owner's, so its `hmm_range_fault` faults them back through
 * device 0's `migrate_to_ram` too. Both must see the data written in setup. Kills M9 (a
 * driver-private lock, one for the whole driver, held by the device fault across
 * `hmm_range_fault` and taken again by `migrate_to_ram`: the device fault ends up waiting for
 * the lock it holds, and the CPU for the device fault — a deadlock).
 *
 * The reader is a second device on purpose: a fault of device 0 itself racing the CPU's
 * `migrate_to_ram` hits a race of the kernel's own test driver (see
 * test/race/dmirror-own-migration.test.ts), which is not M9's.
 */
export const cpuFaultVersusDeviceRead: Scenario<DevmemState> = {
  name: 'driver: CPU fault on device memory vs another device READ',
  description: "the CPU touches a page in device 0's memory while device 1 reads the buffer",
  machine: DRIVER_SCENARIO_MACHINE,
  async setup(machine) {
    const s = await mirrorSetup(machine, 2);
    const r = await s.file.migrateToDev(s.addr, s.npages);
    if (r.ret !== 0 || r.cpages !== s.npages) throw new Error(`setup MIGRATE_TO_DEV returned ${r.ret}`);
    const p = await s.process.mprotect(s.addr, s.npages * PAGE_SIZE, PROT_READ);
    if (p !== 0 || s.file.pt.size !== 0)
      throw new Error(`setup mprotect returned ${p}, ${s.file.pt.size} entries left`);
    const reader = await machine.addDmirrorDevice({ chunkSize: SCENARIO_CHUNK_SIZE }).open(s.process);
    return { ...s, cpuWord: null, reader };
  },
  threads: {
    cpu: async (s) => {
      s.cpuWord = await s.process.load32(s.addr);
    },
    device: async (s) => {
      const r = await s.reader.read(s.addr, s.npages);
      s.readRet = r.ret;
      if (r.ret === 0) s.readWords.push(...firstWords(r.data, s.npages));
    },
  },
  check(s) {
    if (s.cpuWord !== pageValue(0)) throw new Error(`the CPU loaded 0x${(s.cpuWord ?? 0).toString(16)}`);
    if (s.readRet !== 0) throw new Error(`device 1 READ returned ${s.readRet}, expected 0`);
    checkReadWords(s);
  },
  stepBudget: 20_000,
};

/** Virtual time a slow device's invalidation callback waits for its TLB flush. */
export const SLOW_TLB_FLUSH_NS = NSEC_PER_MSEC;

/** State of {@link deviceReadVersusEndlessInvalidation}. */
export interface EndlessState extends MirrorState {
  /** A page elsewhere in the address space, dropped over and over by the CPU. */
  readonly other: number;
  /** The slow mirror's subscription. */
  readonly slow: MmuIntervalNotifier;
  /** Set once the device READ returned: the invalidating thread stops. */
  done: boolean;
}

/**
 * Invalidations without end: while the device READs a buffer, the CPU keeps dropping another page
 * of the address space (MADV_DONTNEED), and a second, slow mirror of the same address space takes
 * 1 ms to flush its TLB in each invalidation. A schedule that lets the CPU run whenever it can
 * invalidates between every `mmu_interval_read_begin` and `hmm_range_fault` of the device's retry
 * loop: the correct driver gives up with -EBUSY after HMM_RANGE_DEFAULT_TIMEOUT (1000 ms of
 * virtual time) and the CPU stops. Both outcomes, the data or -EBUSY, are correct. Kills L1 (no
 * deadline: the retry loop and the invalidations go on past the scenario's 1500 ms: liveness).
 */
export const deviceReadVersusEndlessInvalidation: Scenario<EndlessState> = {
  name: 'driver: device READ vs endless invalidations',
  description:
    'dmirror READ retries while the CPU keeps invalidating the address space and a slow mirror flushes for 1 ms each time',
  machine: DRIVER_SCENARIO_MACHINE,
  async setup(machine) {
    const s = await mirrorSetup(machine, 4);
    const other = await anonBuffer(s.process, 1);
    const slow = new MmuIntervalNotifier();
    const ret = await mmuIntervalNotifierInsert(slow, s.process.mm, other, PAGE_SIZE, {
      invalidate(_sub, range: MmuNotifierRange) {
        // A device that must wait for its TLB flush; a non-blockable range is refused instead.
        if (!range.blockable) return false;
        return machine.sched.sleep(SLOW_TLB_FLUSH_NS).then(() => true);
      },
    });
    if (ret !== 0) throw new Error(`mmu_interval_notifier_insert returned ${ret}`);
    return { ...s, other, slow, done: false };
  },
  threads: {
    device: async (s) => {
      try {
        await deviceRead(s);
      } finally {
        s.done = true;
      }
    },
    cpu: async (s) => {
      while (!s.done) await s.process.madvise(s.other, PAGE_SIZE, MADV_DONTNEED);
    },
  },
  check(s) {
    if (s.readRet !== 0 && s.readRet !== -EBUSY) throw new Error(`device READ returned ${s.readRet}`);
    checkReadWords(s);
  },
  async teardown(s, machine) {
    await mmuIntervalNotifierRemove(s.slow);
    await defaultTeardown(machine);
  },
  stepBudget: 100_000,
  maxVirtualTime: 1500 * NSEC_PER_MSEC,
};
