/**
 * Kernel scenarios of device-private pages and the CPU: CPU faults on a page in device memory,
 * and migrations racing madvise.
 * @module
 */
import { HMM_DMIRROR_FLAG_FAIL_ALLOC } from '../../../devices/dmirror/uapi.ts';
import type { Machine } from '../../../machine.ts';
import { MADV_DONTNEED, MADV_FREE, MADV_PAGEOUT, PAGE_SIZE } from '../../../mm/constants.ts';
import type { Scenario } from '../../types.ts';
import { cpuLoadThreads, hex } from '../scenario-kit.ts';
import {
  type DeviceState,
  deviceSetup,
  KERNEL_SCENARIO_MACHINE,
  kernelPageValue,
  migrateToDevice,
  NEW_VALUE,
} from './kit.ts';

/** A process whose buffer was migrated to device memory in setup, and what its threads saw. */
export interface DevicePageState extends DeviceState {
  /** Values loaded by the CPU threads, by thread. */
  readonly loaded: Record<string, number>;
}

/** {@link deviceSetup}, then the buffer migrated to device memory. */
export async function devicePageSetup(machine: Machine, npages: number): Promise<DevicePageState> {
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
