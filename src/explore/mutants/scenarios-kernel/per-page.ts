/**
 * Kernel scenarios that drive `hmmRangeFault` themselves, as a driver that sets per-page requests
 * (`pfnFlagsMask`) does — dmirror asks for every page the same way and never exposes them.
 * @module
 */
import { makeDeviceExclusive } from '../../../devmem/device-exclusive.ts';
import { HMM_PFN_REQ_FAULT, HMM_PFN_REQ_WRITE, HMM_PFN_VALID, HMM_PFN_WRITE } from '../../../hmm/hmm-pfn.ts';
import type { HmmRange } from '../../../hmm/hmm-range.ts';
import { hmmRangeFault } from '../../../hmm/hmm-range-fault.ts';
import type { Machine } from '../../../machine.ts';
import { MADV_DONTNEED, PAGE_SIZE } from '../../../mm/constants.ts';
import { mmapReadLock, mmapReadUnlock } from '../../../mm/mmap-lock.ts';
import { MMU_NOTIFY_EXCLUSIVE, type MmuNotifierRange } from '../../../mm/mmu-notifier.ts';
import { unlockPage } from '../../../mm/page-lock.ts';
import type { Process } from '../../../mm/process.ts';
import { PTE_DEVICE_EXCLUSIVE } from '../../../mm/pte.ts';
import {
  MmuIntervalNotifier,
  mmuIntervalNotifierInsert,
  mmuIntervalNotifierRemove,
  mmuIntervalReadBegin,
  mmuIntervalSetSeq,
} from '../../../notifier/interval-notifier.ts';
import { EBUSY } from '../../../sim/errno.ts';
import { defaultTeardown } from '../../runner.ts';
import type { Scenario } from '../../types.ts';
import { KERNEL_SCENARIO_MACHINE, kernelBuffer, kernelPageValue, pteKind } from './kit.ts';

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
