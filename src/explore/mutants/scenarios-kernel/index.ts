/**
 * The races that kill the kernel-side mutants (switches in src/mm, src/hmm and src/devmem, see
 * `../kernel.ts`). Each runs on a small machine (16 MiB, no hugetlb pool, dmirror devices with one
 * 2 MiB chunk) with one or two processes, and is what a program, a device driver or the kernel
 * would do: a device READ, SNAPSHOT or migration racing a CPU access, munmap, mprotect, madvise or
 * fork. Two scenarios drive `hmmRangeFault` themselves, as a driver that sets per-page requests
 * (`pfnFlagsMask`) does — dmirror asks for every page the same way and never exposes them. The
 * unmutated kernel survives every one; each `check` states what a correct run may end with.
 * @module
 */

import type { DmirrorFile } from '../../../devices/dmirror/file.ts';
import {
  HMM_DMIRROR_FLAG_FAIL_ALLOC,
  HMM_DMIRROR_PROT_DEV_PRIVATE_REMOTE,
  HMM_DMIRROR_PROT_ERROR,
  HMM_DMIRROR_PROT_NONE,
  HMM_DMIRROR_PROT_WRITE,
} from '../../../devices/dmirror/uapi.ts';
import { makeDeviceExclusive } from '../../../devmem/device-exclusive.ts';
import { HMM_PFN_REQ_FAULT, HMM_PFN_REQ_WRITE, HMM_PFN_VALID, HMM_PFN_WRITE } from '../../../hmm/hmm-pfn.ts';
import type { HmmRange } from '../../../hmm/hmm-range.ts';
import { hmmRangeFault } from '../../../hmm/hmm-range-fault.ts';
import type { Machine, MachineOptions } from '../../../machine.ts';
import {
  MADV_DONTNEED,
  MADV_FREE,
  MADV_PAGEOUT,
  MAP_FIXED,
  MAP_SHARED,
  PAGE_SIZE,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
  VM_MIXEDMAP,
} from '../../../mm/constants.ts';
import type { MmStruct } from '../../../mm/mm-struct.ts';
import { mmapReadLock, mmapReadUnlock } from '../../../mm/mmap-lock.ts';
import { MMU_NOTIFY_EXCLUSIVE, type MmuNotifierRange } from '../../../mm/mmu-notifier.ts';
import { unlockPage } from '../../../mm/page-lock.ts';
import { ensureEntry, findEntry } from '../../../mm/page-table.ts';
import type { Process } from '../../../mm/process.ts';
import { PTE_DEVICE_EXCLUSIVE, PTE_KIND_MASK, PTE_PRESENT, PTE_SPECIAL, PTE_YOUNG } from '../../../mm/pte.ts';
import type { Vma } from '../../../mm/vma.ts';
import {
  MmuIntervalNotifier,
  mmuIntervalNotifierInsert,
  mmuIntervalNotifierRemove,
  mmuIntervalReadBegin,
  mmuIntervalSetSeq,
} from '../../../notifier/interval-notifier.ts';
import { EBUSY, EFAULT, ENOMEM } from '../../../sim/errno.ts';
import { defaultTeardown } from '../../runner.ts';
import type { Scenario } from '../../types.ts';
import {
  anonBuffer,
  cpuLoadThreads,
  firstWords,
  hex,
  MUTANT_SCENARIO_MACHINE,
  SCENARIO_CHUNK_SIZE,
} from '../scenario-kit.ts';

/** The machine of every kernel scenario. */
export const KERNEL_SCENARIO_MACHINE: MachineOptions = MUTANT_SCENARIO_MACHINE;

/** Device memory per dmirror chunk in these scenarios. */
const CHUNK = SCENARIO_CHUNK_SIZE;

/** The 32-bit word written at the start of page `i` in setup. */
export function kernelPageValue(i: number): number {
  return 0xc0de_0000 + i;
}

/** The word a thread writes over page 0 during the race. */
const NEW_VALUE = 0x0bad_cafe;

/** `anonBuffer` written with `kernelPageValue` (unless `touch` is false). */
function kernelBuffer(process: Process, npages: number, touch = true): Promise<number> {
  return anonBuffer(process, npages, touch ? kernelPageValue : undefined);
}

/** The kind of the PTE mapping `addr` in `mm` (PTE_KIND_MASK bits), or -1 without a page table. */
function pteKind(machine: Machine, mm: MmStruct, addr: number): number {
  const off = findEntry(machine.pt, mm.pgd, addr / PAGE_SIZE, 1);
  return off < 0 ? -1 : machine.pt.words[off]! & PTE_KIND_MASK;
}

// ─── hmm_range_fault called directly, with per-page requests ────────────────────────────────────

/** State of the scenarios that call `hmmRangeFault` as a driver with per-page requests does. */
export interface PerPageState {
  /** The process whose address space the driver mirrors. */
  readonly process: Process;
  /** Start of a two-page buffer. */
  readonly addr: number;
  /** The driver's interval notifier over the buffer. */
  readonly notifier: MmuIntervalNotifier;
  /** The driver's owner cookie (its device-private pages and its EXCLUSIVE conversions). */
  readonly owner: object;
  /** The range the driver walks. */
  readonly range: HmmRange;
  /** `hmmRangeFault`'s final result, once returned. */
  ret: number | null;
  /** The words of the successful call. */
  words: bigint[];
  /** The device-exclusive conversion's result (a pfn, or -errno), once done. */
  exclusive: number | null;
}

/**
 * A driver's setup: a two-page buffer (page 0 written, page 1 untouched) and an interval notifier
 * over it. The callback ignores the EXCLUSIVE invalidation of the driver's own conversion, as
 * nouveau does (its device mapping is updated by the conversion itself); every other invalidation
 * bumps the sequence.
 */
async function perPageSetup(machine: Machine): Promise<PerPageState> {
  const process = await machine.createProcess();
  const addr = await kernelBuffer(process, 2, false);
  await process.store32(addr, kernelPageValue(0));
  const owner = { name: 'per-page driver' };
  const notifier = new MmuIntervalNotifier();
  const ret = await mmuIntervalNotifierInsert(notifier, process.mm, addr, 2 * PAGE_SIZE, {
    invalidate(sub: MmuIntervalNotifier, range: MmuNotifierRange, curSeq: number) {
      if (range.event === MMU_NOTIFY_EXCLUSIVE && range.owner === owner) return true;
      mmuIntervalSetSeq(sub, curSeq);
      return true;
    },
  });
  if (ret !== 0) throw new Error(`mmu_interval_notifier_insert returned ${ret}`);
  const range: HmmRange = {
    notifier,
    notifierSeq: 0,
    start: addr,
    end: addr + 2 * PAGE_SIZE,
    hmmPfns: new BigUint64Array(2),
    defaultFlags: 0n,
    pfnFlagsMask: HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE,
    devPrivateOwner: owner,
  };
  return { process, addr, notifier, owner, range, ret: null, words: [], exclusive: null };
}

/**
 * The documented caller loop (Documentation/mm/hmm.rst) with per-page requests: the requests are
 * written afresh before every call, since a call overwrites them with its output.
 */
async function perPageFault(s: PerPageState, requests: readonly bigint[]): Promise<void> {
  const mm = s.process.mm;
  for (let attempt = 0; attempt < 100; attempt++) {
    s.range.notifierSeq = await mmuIntervalReadBegin(s.notifier);
    for (let i = 0; i < requests.length; i++) s.range.hmmPfns[i] = requests[i]!;
    await mmapReadLock(mm);
    let ret: number;
    try {
      ret = await hmmRangeFault(s.range);
    } finally {
      mmapReadUnlock(mm);
    }
    if (ret === -EBUSY) continue;
    s.ret = ret;
    if (ret === 0) s.words = [...s.range.hmmPfns];
    return;
  }
  s.ret = -EBUSY;
}

async function perPageTeardown(s: PerPageState, machine: Machine): Promise<void> {
  await mmuIntervalNotifierRemove(s.notifier);
  await defaultTeardown(machine);
}

/**
 * A driver asks for page 1 only (page 0 is written and mapped writable, page 1 is empty) while
 * the same driver makes page 0 device-exclusive for its atomics. The walk describes page 0
 * (VALID | WRITE), faults page 1 and restarts; the conversion may land during that fault without
 * bumping the driver's sequence (its own EXCLUSIVE event). A correct restart resumes at page 1
 * and never touches page 0, so the device keeps its exclusive access. Kills H1: the restart
 * begins at page 0 again, reads its output word as REQ_FAULT | REQ_WRITE and faults the page
 * back, revoking the exclusive access nobody asked to end (and the restart invariant fails).
 */
export const walkRestartVersusOwnExclusive: Scenario<PerPageState> = {
  name: 'kernel: hmm_range_fault restart vs own device-exclusive',
  description: 'a driver faults page 1 of 2 with per-page requests while it makes page 0 device-exclusive',
  machine: KERNEL_SCENARIO_MACHINE,
  setup: (machine) => perPageSetup(machine),
  threads: {
    walk: (s) => perPageFault(s, [0n, HMM_PFN_REQ_FAULT]),
    exclusive: async (s, machine) => {
      const mm = s.process.mm;
      await mmapReadLock(mm);
      try {
        const page = await makeDeviceExclusive(mm, s.addr, s.owner);
        s.exclusive = page;
        if (page > 0) {
          unlockPage(machine, page);
          machine.putPage(page);
        }
      } finally {
        mmapReadUnlock(mm);
      }
    },
  },
  check(s, machine) {
    if (s.ret !== 0) throw new Error(`hmm_range_fault returned ${s.ret}, expected 0`);
    if ((s.words[1]! & HMM_PFN_VALID) === 0n) throw new Error('the requested page 1 is not VALID');
    if (s.exclusive === null || s.exclusive < 0)
      throw new Error(`make_device_exclusive returned ${s.exclusive}`);
    if (pteKind(machine, s.process.mm, s.addr) !== PTE_DEVICE_EXCLUSIVE) {
      throw new Error(
        `page 0 is no longer device-exclusive although nothing touched it: hmm_range_fault faulted a page it was not asked for`,
      );
    }
  },
  teardown: perPageTeardown,
  stepBudget: 20_000,
};

/**
 * A driver asks for page 0 readable and page 1 writable, both never touched, while the CPU reads
 * page 0. The first fault (page 0's read fault covers page 1 too) returns -EBUSY internally and
 * the walk resumes at page 0; a correct walk still sees page 1's REQ_WRITE, write-faults it and
 * returns VALID | WRITE for it. Kills H2: the words from page 0 on are overwritten with
 * HMM_PFN_NONE before the fault, the resumed walk sees no request for page 1 and returns 0 with
 * page 1 read-only (the zero page) although a write was requested.
 */
export const perPageWriteRequest: Scenario<PerPageState> = {
  name: 'kernel: hmm_range_fault per-page write request',
  description: 'a driver requests page 0 for read and page 1 for write; the CPU reads page 0',
  machine: KERNEL_SCENARIO_MACHINE,
  async setup(machine) {
    const s = await perPageSetup(machine);
    // Both pages empty again: page 0's first fault must cover page 1.
    await s.process.madvise(s.addr, 2 * PAGE_SIZE, MADV_DONTNEED);
    return s;
  },
  threads: {
    walk: (s) => perPageFault(s, [HMM_PFN_REQ_FAULT, HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE]),
    cpu: async (s) => {
      await s.process.load32(s.addr);
    },
  },
  check(s) {
    if (s.ret !== 0) throw new Error(`hmm_range_fault returned ${s.ret}, expected 0`);
    if ((s.words[0]! & HMM_PFN_VALID) === 0n) throw new Error('the requested page 0 is not VALID');
    const w1 = s.words[1]!;
    if ((w1 & HMM_PFN_VALID) === 0n || (w1 & HMM_PFN_WRITE) === 0n) {
      throw new Error(
        `page 1 was requested writable but hmm_range_fault returned 0 with word 0x${w1.toString(16)} (no HMM_PFN_WRITE)`,
      );
    }
  },
  teardown: perPageTeardown,
  stepBudget: 20_000,
};

// ─── dmirror against the CPU ────────────────────────────────────────────────────────────────────

/** A process, its buffer and one dmirror file. */
export interface DeviceState {
  /** The process whose address space the device mirrors. */
  readonly process: Process;
  /** Its open dmirror file (device-private device, minor 0). */
  readonly file: DmirrorFile;
  /** Start of the buffer (anonymous, private, read-write); page `i` starts with `kernelPageValue(i)`. */
  readonly addr: number;
  /** Pages in the buffer. */
  readonly npages: number;
  /** The command's result (errno), once returned. */
  ret: number | null;
  /** First word of each page read, or the snapshot bytes. */
  got: number[];
}

async function deviceSetup(machine: Machine, npages: number): Promise<DeviceState> {
  const process = await machine.createProcess();
  const addr = await kernelBuffer(process, npages);
  const file = await machine.addDmirrorDevice({ chunkSize: CHUNK }).open(process);
  return { process, file, addr, npages, ret: null, got: [] };
}

async function deviceRead(s: DeviceState, file: DmirrorFile = s.file): Promise<void> {
  const r = await file.read(s.addr, s.npages);
  s.ret = r.ret;
  if (r.ret === 0) s.got = firstWords(r.data, s.npages);
}

/** A successful READ returned the words written in setup. */
function checkWords(s: DeviceState): void {
  for (let i = 0; i < s.npages; i++) {
    if (s.got[i] !== kernelPageValue(i))
      throw new Error(
        `device READ of page ${i} returned ${hex(s.got[i] ?? 0)}, expected ${hex(kernelPageValue(i))}`,
      );
  }
}

/**
 * The device READs a buffer while the CPU makes it inaccessible (mprotect PROT_NONE). A correct
 * kernel gives the device the data written or -EFAULT (the pages are requested and the VMA is not
 * readable). Kills H3: HMM_PFN_ERROR words come back with success and the driver maps them.
 */
export const deviceReadVersusMprotectNone: Scenario<DeviceState> = {
  name: 'kernel: device READ vs mprotect(PROT_NONE)',
  description: 'dmirror READ of 4 pages while the CPU mprotects them PROT_NONE',
  machine: KERNEL_SCENARIO_MACHINE,
  setup: (machine) => deviceSetup(machine, 4),
  threads: {
    device: (s) => deviceRead(s),
    cpu: async (s) => {
      const r = await s.process.mprotect(s.addr, s.npages * PAGE_SIZE, PROT_NONE);
      if (r !== 0) throw new Error(`mprotect returned ${r}`);
    },
  },
  check(s) {
    if (s.ret === -EFAULT) return;
    if (s.ret !== 0) throw new Error(`device READ returned ${s.ret}, expected 0 or -EFAULT`);
    checkWords(s);
  },
  stepBudget: 20_000,
};

/**
 * The device takes a SNAPSHOT of a buffer while the CPU unmaps it. Each page must read as mapped
 * (WRITE, before the munmap) or as an error (no VMA, after it). Kills H8: an address without
 * a VMA reads as HMM_DMIRROR_PROT_NONE, an empty but valid page.
 */
export const snapshotVersusMunmap: Scenario<DeviceState> = {
  name: 'kernel: device SNAPSHOT vs munmap',
  description: 'dmirror SNAPSHOT of 4 pages while the CPU munmaps them',
  machine: KERNEL_SCENARIO_MACHINE,
  setup: (machine) => deviceSetup(machine, 4),
  threads: {
    device: async (s) => {
      const r = await s.file.snapshot(s.addr, s.npages);
      s.ret = r.ret;
      if (r.ret === 0) s.got = [...r.prot];
    },
    cpu: async (s) => {
      const r = await s.process.munmap(s.addr, s.npages * PAGE_SIZE);
      if (r !== 0) throw new Error(`munmap returned ${r}`);
    },
  },
  check(s) {
    if (s.ret !== 0) throw new Error(`SNAPSHOT returned ${s.ret}, expected 0`);
    const mapped = HMM_DMIRROR_PROT_WRITE; // a present writable page
    for (let i = 0; i < s.npages; i++) {
      const m = s.got[i]!;
      if (m !== mapped && m !== HMM_DMIRROR_PROT_ERROR)
        throw new Error(
          `SNAPSHOT says page ${i} is ${hex(m)}: neither mapped (${hex(mapped)}) nor an error (no VMA)`,
        );
    }
  },
  stepBudget: 20_000,
};

/** The bytes of a SNAPSHOT, once returned with 0. */
async function deviceSnapshot(s: DeviceState): Promise<void> {
  const r = await s.file.snapshot(s.addr, s.npages);
  s.ret = r.ret;
  if (r.ret === 0) s.got = [...r.prot];
}

/**
 * The device SNAPSHOTs a buffer while the CPU makes it inaccessible (mprotect PROT_NONE). A
 * snapshot requests nothing, so an unreadable VMA reads as errors, never as a failure: each page
 * is mapped (WRITE) or an error. Kills H5: once the mprotect has landed, the walk returns -EFAULT
 * for the unreadable VMA without asking whether any page needed a fault.
 */
export const snapshotVersusMprotectNone: Scenario<DeviceState> = {
  name: 'kernel: device SNAPSHOT vs mprotect(PROT_NONE)',
  description: 'dmirror SNAPSHOT of 4 pages while the CPU mprotects them PROT_NONE',
  machine: KERNEL_SCENARIO_MACHINE,
  setup: (machine) => deviceSetup(machine, 4),
  threads: {
    device: (s) => deviceSnapshot(s),
    cpu: async (s) => {
      const r = await s.process.mprotect(s.addr, s.npages * PAGE_SIZE, PROT_NONE);
      if (r !== 0) throw new Error(`mprotect returned ${r}`);
    },
  },
  check(s) {
    if (s.ret !== 0) throw new Error(`SNAPSHOT returned ${s.ret}, expected 0 (a snapshot requests no page)`);
    for (let i = 0; i < s.npages; i++) {
      const m = s.got[i]!;
      if (m !== HMM_DMIRROR_PROT_WRITE && m !== HMM_DMIRROR_PROT_ERROR)
        throw new Error(`SNAPSHOT says page ${i} is ${hex(m)}: neither mapped nor an error`);
    }
  },
  stepBudget: 20_000,
};

/** A frame number with no struct page behind it (far above the scenario machine's RAM): a device BAR. */
const BAR_PFN = 0x10_0000;

/**
 * `vmf_insert_mixed` of a frame without a struct page on an architecture with pte_special: the
 * PTE is a special one (present, no reference, no mapcount; vm_normal_page() is NULL), and the
 * VMA becomes VM_MIXEDMAP. The caller holds the mmap lock for writing (the driver's mmap).
 */
function vmfInsertMixedRaw(vma: Vma, addr: number, pfn: number): number {
  const k = vma.mm.kernel;
  vma.flags |= VM_MIXEDMAP;
  const off = ensureEntry(k.pt, vma.mm.pgd, addr / PAGE_SIZE, 1);
  if (off < 0) return -ENOMEM;
  k.pt.words[off] = PTE_PRESENT | PTE_SPECIAL | PTE_YOUNG;
  k.pt.words[off + 1] = pfn;
  return 0;
}

/**
 * The device SNAPSHOTs a buffer while the program maps a device's doorbell page over its first
 * page (mmap MAP_FIXED of a driver file whose mmap inserts the BAR frame with vmf_insert_mixed:
 * a VM_MIXEDMAP VMA with a special PTE). A snapshot requests nothing: the doorbell page reads as
 * an error (no struct page), the rest as mapped. Kills H4: the special PTE fails the whole walk
 * with -EFAULT although no fault was requested.
 */
export const snapshotVersusMixedMap: Scenario<DeviceState> = {
  name: 'kernel: device SNAPSHOT vs mmap of a VM_MIXEDMAP doorbell page',
  description: 'dmirror SNAPSHOT of 2 pages while the CPU maps a raw device frame over page 0',
  machine: KERNEL_SCENARIO_MACHINE,
  setup: (machine) => deviceSetup(machine, 2),
  threads: {
    device: (s) => deviceSnapshot(s),
    cpu: async (s) => {
      const fd = s.process.openDevice({
        name: 'doorbell',
        mmap: (vma) => vmfInsertMixedRaw(vma, vma.start, BAR_PFN),
      });
      const a = await s.process.mmap(
        s.addr,
        PAGE_SIZE,
        PROT_READ | PROT_WRITE,
        MAP_SHARED | MAP_FIXED,
        fd,
        0,
      );
      if (a !== s.addr) throw new Error(`mmap of the doorbell returned ${a}`);
    },
  },
  check(s) {
    if (s.ret !== 0) throw new Error(`SNAPSHOT returned ${s.ret}, expected 0 (a snapshot requests no page)`);
    const p0 = s.got[0]!;
    if (p0 !== HMM_DMIRROR_PROT_WRITE && p0 !== HMM_DMIRROR_PROT_ERROR && p0 !== HMM_DMIRROR_PROT_NONE)
      throw new Error(`SNAPSHOT says page 0 is ${hex(p0)}: neither mapped, nor an error, nor empty`);
    if (s.got[1] !== HMM_DMIRROR_PROT_WRITE)
      throw new Error(`SNAPSHOT says page 1 is ${hex(s.got[1] ?? 0)}, expected mapped writable`);
  },
  stepBudget: 20_000,
};

// ─── two devices ────────────────────────────────────────────────────────────────────────────────

/** One process mirrored by two device-private dmirror devices (minors 0 and 1). */
export interface TwoDeviceState extends DeviceState {
  /** The file of the second device. */
  readonly other: DmirrorFile;
}

async function twoDeviceSetup(machine: Machine, npages: number): Promise<TwoDeviceState> {
  const s = await deviceSetup(machine, npages);
  const other = await machine.addDmirrorDevice({ chunkSize: CHUNK }).open(s.process);
  return { ...s, other };
}

/** Device 0 migrates the buffer into its memory (its result is not judged: it may race). */
async function migrateToDevice(s: DeviceState): Promise<void> {
  await s.file.migrateToDev(s.addr, s.npages);
}

/**
 * Device 0 migrates a buffer to its memory while device 1 takes a SNAPSHOT. Device 0's private
 * pages are not device 1's: a snapshot (no fault requested) reports them as not present. Kills H9:
 * without the owner check device 1 gets device 0's private pfns as valid pages
 * (HMM_DMIRROR_PROT_DEV_PRIVATE_REMOTE).
 */
export const snapshotVersusOtherDeviceMigration: Scenario<TwoDeviceState> = {
  name: 'kernel: device 1 SNAPSHOT vs device 0 migration',
  description: 'dmirror 0 migrates 2 pages to its memory while dmirror 1 snapshots them',
  machine: KERNEL_SCENARIO_MACHINE,
  setup: (machine) => twoDeviceSetup(machine, 2),
  threads: {
    migrate: (s) => migrateToDevice(s),
    snapshot: async (s) => {
      const r = await s.other.snapshot(s.addr, s.npages);
      s.ret = r.ret;
      if (r.ret === 0) s.got = [...r.prot];
    },
  },
  check(s) {
    if (s.ret !== 0) throw new Error(`SNAPSHOT returned ${s.ret}, expected 0`);
    for (let i = 0; i < s.npages; i++) {
      if ((s.got[i]! & 0xf0) === HMM_DMIRROR_PROT_DEV_PRIVATE_REMOTE)
        throw new Error(
          `device 1 was handed device 0's private page ${i} as a valid page (${hex(s.got[i]!)})`,
        );
    }
  },
  stepBudget: 20_000,
};

/**
 * Device 0 migrates a buffer to its memory while device 1 READs it. Device 1 requests every page:
 * the kernel migrates device 0's pages back to RAM (migrate_to_ram) and the READ returns the
 * data. Kills H10: device 1 gets -EFAULT for a page that is merely on another device.
 */
export const readVersusOtherDeviceMigration: Scenario<TwoDeviceState> = {
  name: 'kernel: device 1 READ vs device 0 migration',
  description: 'dmirror 0 migrates 2 pages to its memory while dmirror 1 reads them',
  machine: KERNEL_SCENARIO_MACHINE,
  setup: (machine) => twoDeviceSetup(machine, 2),
  threads: {
    migrate: (s) => migrateToDevice(s),
    read: (s) => deviceRead(s, s.other),
  },
  check(s) {
    if (s.ret !== 0) throw new Error(`device 1 READ returned ${s.ret}, expected 0`);
    checkWords(s);
  },
  stepBudget: 20_000,
};

// ─── device-private pages and the CPU ───────────────────────────────────────────────────────────

/** A process whose buffer was migrated to device memory in setup, and what its threads saw. */
export interface DevicePageState extends DeviceState {
  /** Values loaded by the CPU threads, by thread. */
  readonly loaded: Record<string, number>;
}

async function devicePageSetup(machine: Machine, npages: number): Promise<DevicePageState> {
  const s = await deviceSetup(machine, npages);
  const r = await s.file.migrateToDev(s.addr, npages);
  if (r.ret !== 0) throw new Error(`setup: MIGRATE_TO_DEV returned ${r.ret}`);
  return { ...s, loaded: {} };
}

/**
 * Two CPU threads load the same word of a page that lives in device memory: the first takes the
 * page lock and migrates it back (its migrate_to_ram passes notifier callbacks, where it can be
 * preempted); the second finds the page locked. Explored with PCT, whose strict priorities are
 * SCHED_FIFO's: a correct kernel puts the second thread to sleep until the page is unlocked.
 * Kills H12: the second thread retries the fault at once, forever, and the lower-priority holder
 * never runs again (in the kernel the holder also waited for a work item queued on the spinning
 * CPU; here the priorities alone starve it): liveness, by the step budget.
 */
export const cpuThreadsFaultOneDevicePage: Scenario<DevicePageState> = {
  name: 'kernel: two CPU threads fault one device-private page',
  description: 'two threads of a process load a word of a page in device memory',
  machine: KERNEL_SCENARIO_MACHINE,
  setup: (machine) => devicePageSetup(machine, 1),
  threads: cpuLoadThreads(['cpu0', 'cpu1']),
  check(s) {
    for (const t of ['cpu0', 'cpu1']) {
      if (s.loaded[t] !== kernelPageValue(0))
        throw new Error(`${t} loaded ${hex(s.loaded[t] ?? 0)}, expected ${hex(kernelPageValue(0))}`);
    }
  },
  stepBudget: 5_000,
};

/**
 * Three CPU threads load the same word of a page that lives in device memory. A correct kernel
 * lets one of them lock the page and migrate it back, the others sleep until it is unlocked and
 * then find it in RAM. Kills M8: every faulting thread takes its reference before trying the
 * lock, the waiting threads hold theirs while they sleep, and the lock holder's migration sees
 * references it does not expect, restores the page and retries; as the threads keep arriving the
 * page never leaves the device (liveness, by the step budget).
 */
export const manyCpuThreadsFaultOneDevicePage: Scenario<DevicePageState> = {
  name: 'kernel: three CPU threads fault one device-private page',
  description: 'three threads of a process load a word of a page in device memory',
  machine: KERNEL_SCENARIO_MACHINE,
  setup: (machine) => devicePageSetup(machine, 1),
  threads: cpuLoadThreads(['cpu0', 'cpu1', 'cpu2']),
  check(s) {
    for (const t of ['cpu0', 'cpu1', 'cpu2']) {
      if (s.loaded[t] !== kernelPageValue(0))
        throw new Error(`${t} loaded ${hex(s.loaded[t] ?? 0)}, expected ${hex(kernelPageValue(0))}`);
    }
  },
  stepBudget: 5_000,
};

/**
 * A CPU thread loads a word of a page in device memory while another thread of the process drops
 * the page (MADV_DONTNEED, which takes the mmap lock only for reading). The load returns the data
 * or, once the page is dropped, zero. A correct fault path holds a reference on the device page
 * across migrate_to_ram, so the page outlives the zap. Kills M1: the zap frees the page while the
 * fault path still uses it; unlocking it then trips folio_unlock's VM_BUG_ON (assertion).
 */
export const cpuFaultVersusDontneed: Scenario<DevicePageState> = {
  name: 'kernel: CPU fault on a device page vs MADV_DONTNEED',
  description: 'a thread loads from a page in device memory while another drops it',
  machine: KERNEL_SCENARIO_MACHINE,
  setup: (machine) => devicePageSetup(machine, 1),
  threads: {
    load: async (s) => {
      s.loaded.load = await s.process.load32(s.addr);
    },
    dontneed: async (s) => {
      const r = await s.process.madvise(s.addr, PAGE_SIZE, MADV_DONTNEED);
      if (r !== 0) throw new Error(`madvise returned ${r}`);
    },
  },
  check(s) {
    const v = s.loaded.load;
    if (v !== kernelPageValue(0) && v !== 0)
      throw new Error(`the load returned ${hex(v ?? 0)}: neither the data nor a dropped page's zero`);
  },
  stepBudget: 20_000,
};

/**
 * The device tries to migrate a page (its allocation fails: HMM_DMIRROR_FLAG_FAIL_ALLOC, so the
 * page is restored) while the program drops the page (MADV_DONTNEED) and writes it again. The
 * write after the madvise must stick: it faults a fresh page in. Kills M2: the collect cleared the
 * PTE but the CPU still caches the translation until the late TLB flush, the write lands in the
 * old page, which the migration then frees; the next read finds an empty page (lost data).
 */
export const collectVersusDontneedAndWrite: Scenario<DeviceState> = {
  name: 'kernel: migration collect vs MADV_DONTNEED and a write',
  description: 'dmirror tries to migrate a page while the CPU drops it and writes it again',
  machine: KERNEL_SCENARIO_MACHINE,
  async setup(machine) {
    const s = await deviceSetup(machine, 1);
    const r = await s.file.setFlags(HMM_DMIRROR_FLAG_FAIL_ALLOC);
    if (r.ret !== 0) throw new Error(`setup: FLAGS returned ${r.ret}`);
    return s;
  },
  threads: {
    migrate: (s) => migrateToDevice(s),
    cpu: async (s) => {
      const r = await s.process.madvise(s.addr, PAGE_SIZE, MADV_DONTNEED);
      if (r !== 0) throw new Error(`madvise returned ${r}`);
      await s.process.store32(s.addr, NEW_VALUE);
      s.got = [await s.process.load32(s.addr)];
    },
  },
  async check(s) {
    const v = await s.process.load32(s.addr);
    if (v !== NEW_VALUE)
      throw new Error(`the page reads ${hex(v)} after the CPU wrote ${hex(NEW_VALUE)} to it`);
  },
  stepBudget: 20_000,
};

/**
 * A page marked lazily freeable (MADV_FREE) and written again afterwards — so only its PTE knows
 * it is dirty — meets a device migration that fails (HMM_DMIRROR_FLAG_FAIL_ALLOC: the page is
 * restored) and reclaim (MADV_PAGEOUT). The write after MADV_FREE must survive: reclaim sees the
 * dirty state and swaps the page out instead of discarding it. Kills M3: the collect drops the
 * PTE's dirty bit, the restored page looks clean, reclaim discards it and the program reads zero.
 */
export const lazyfreeVersusFailedMigration: Scenario<DeviceState> = {
  name: 'kernel: lazy-free page vs failed migration and reclaim',
  description: 'dmirror tries to migrate a re-dirtied MADV_FREE page while the CPU pages it out',
  machine: { ...KERNEL_SCENARIO_MACHINE, swap: 1024 * 1024 },
  async setup(machine) {
    const s = await deviceSetup(machine, 1);
    const r = await s.process.madvise(s.addr, PAGE_SIZE, MADV_FREE);
    if (r !== 0) throw new Error(`setup: MADV_FREE returned ${r}`);
    // Dirty again, in the PTE only: the page itself stays clean and lazily freeable.
    await s.process.store32(s.addr, NEW_VALUE);
    const f = await s.file.setFlags(HMM_DMIRROR_FLAG_FAIL_ALLOC);
    if (f.ret !== 0) throw new Error(`setup: FLAGS returned ${f.ret}`);
    return s;
  },
  threads: {
    migrate: (s) => migrateToDevice(s),
    cpu: async (s) => {
      const r = await s.process.madvise(s.addr, PAGE_SIZE, MADV_PAGEOUT);
      if (r !== 0) throw new Error(`madvise(MADV_PAGEOUT) returned ${r}`);
      s.got = [await s.process.load32(s.addr)];
    },
  },
  check(s) {
    if (s.got[0] !== NEW_VALUE)
      throw new Error(
        `the page reads ${hex(s.got[0] ?? 0)} after it was written ${hex(NEW_VALUE)} (lost dirty state)`,
      );
  },
  stepBudget: 20_000,
};

// ─── fork ───────────────────────────────────────────────────────────────────────────────────────

/** A parent whose page 0 is on the device or device-exclusive, and what its child read. */
export interface ForkState extends DeviceState {
  /** The child's value of page 0 after the parent wrote it. */
  childValue: number | null;
  /** The child, once forked (the teardown exits it before the parent). */
  child: Process | null;
}

/** fork, the parent writes page 0, the child reads it: copy-on-write keeps the child's copy. */
async function forkThenParentWrites(s: ForkState): Promise<void> {
  const child = await s.process.fork();
  s.child = child;
  await child.load32(s.addr);
  await s.process.store32(s.addr, NEW_VALUE);
  s.childValue = await child.load32(s.addr);
}

async function forkTeardown(s: ForkState, machine: Machine): Promise<void> {
  if (s.child !== null && !s.child.exited) await s.child.exit();
  await defaultTeardown(machine);
}

/** The child must still see the value written before the fork. */
function checkChild(s: ForkState): void {
  if (s.childValue !== kernelPageValue(0)) {
    throw new Error(
      `the child reads ${hex(s.childValue ?? 0)} after the parent wrote ${hex(NEW_VALUE)}; it forked with ${hex(kernelPageValue(0))}`,
    );
  }
}

/**
 * A page migrated to device memory (mapped writable), the process forks and the parent writes
 * the page; meanwhile the device reads it. After fork both entries are read-only, so the parent's
 * write copies the page and the child keeps the old data. Kills F1: the parent's entry stays
 * writable, its write lands in the page it shares with the child (lost data for the child).
 */
export const forkWithDevicePrivatePage: Scenario<ForkState> = {
  name: 'kernel: fork with a writable device-private page',
  description: 'the parent forks and writes a page that lives in device memory; the device reads it',
  machine: KERNEL_SCENARIO_MACHINE,
  async setup(machine) {
    const s = await devicePageSetup(machine, 1);
    return { ...s, childValue: null, child: null };
  },
  threads: {
    parent: (s) => forkThenParentWrites(s),
    device: (s) => deviceRead(s),
  },
  check: checkChild,
  teardown: forkTeardown,
  stepBudget: 20_000,
};

/**
 * A page made device-exclusive (dmirror EXCLUSIVE), the process forks, the child reads the page
 * and the parent writes it. Fork restores the parent's entry and copies it as a present,
 * copy-on-write page. Kills F2: the exclusive entry is copied as it is; each side restores its
 * own entry writable on first access, and the parent's write shows in the child.
 */
export const forkWithExclusivePage: Scenario<ForkState> = {
  name: 'kernel: fork with a device-exclusive page',
  description: 'the parent forks with a device-exclusive page, the child reads it, the parent writes it',
  machine: KERNEL_SCENARIO_MACHINE,
  async setup(machine) {
    const s = await deviceSetup(machine, 1);
    const r = await s.file.exclusive(s.addr, 1);
    if (r.ret !== 0) throw new Error(`setup: EXCLUSIVE returned ${r.ret}`);
    return { ...s, childValue: null, child: null };
  },
  threads: {
    parent: (s) => forkThenParentWrites(s),
    device: async (s) => {
      s.ret = (await s.file.checkExclusive(s.addr, 1)).ret;
    },
  },
  check: checkChild,
  teardown: forkTeardown,
  stepBudget: 20_000,
};
