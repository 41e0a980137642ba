/**
 * The race explorer on a deliberately broken driver. The driver is examples/mirror-driver.ts
 * (Documentation/mm/hmm.rst's pattern) with one mistake switched on: it commits its device page
 * table without `mmu_interval_read_retry` (docs/mutants.md, D2). The scenario races the driver
 * populating one page against the CPU dropping that page (MADV_DONTNEED) and writing it again —
 * a new page. Afterwards the device must not map the old, freed page: the scenario's `check`
 * reads what the device would read through its page table and compares it with what the CPU
 * reads.
 *
 * `explore` runs the race under many schedules. With the correct driver nothing is found; with
 * the broken one it reports the failing interleaving, shrunk, with a replay token.
 *
 * Run: npx tsx examples/broken-driver.ts (or explore it with the CLI:
 * hmmsim explore examples/broken-driver.ts --strategy random --schedules 300)
 * @module
 */
import { argv } from 'node:process';
import { pathToFileURL } from 'node:url';
import {
  type ExploreReport,
  explore,
  HMM_PFN_REQ_FAULT,
  MADV_DONTNEED,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  type Machine,
  mmuIntervalNotifierRemove,
  PAGE_SIZE,
  PROT_READ,
  PROT_WRITE,
  type Process,
  type Scenario,
} from '../src/index.ts';
import { type DriverMistake, driverPopulateRange, driverRegister, MirrorDriver } from './mirror-driver.ts';

/** What the racing threads share. */
interface State {
  process: Process;
  driver: MirrorDriver;
  addr: number;
}

/** The race, for the driver with `mistake` (null: the correct driver). */
export function populateVersusDontneed(mistake: DriverMistake): Scenario<State> {
  return {
    name: mistake === null ? 'mirror-driver' : 'mirror-driver-without-read-retry',
    description: 'the driver populates a page while the CPU drops it and writes a new one',
    machine: { memory: 16 * 1024 * 1024, hugetlbPages: 0 },
    async setup(machine: Machine): Promise<State> {
      const process = await machine.createProcess();
      const addr = await process.mmap(
        0,
        PAGE_SIZE,
        PROT_READ | PROT_WRITE,
        MAP_PRIVATE | MAP_ANONYMOUS,
        -1,
        0,
      );
      await process.store32(addr, 0xaaaa);
      const driver = new MirrorDriver(machine);
      const ret = await driverRegister(driver, process.mm, addr, PAGE_SIZE);
      if (ret !== 0) throw new Error(`mmu_interval_notifier_insert returned ${ret}`);
      return { process, driver, addr };
    },
    threads: {
      async device(s) {
        const ret = await driverPopulateRange(
          s.driver,
          s.addr,
          s.addr + PAGE_SIZE,
          HMM_PFN_REQ_FAULT,
          mistake,
        );
        if (ret !== 0) throw new Error(`driver_populate_range returned ${ret}`);
      },
      async cpu(s) {
        await s.process.madvise(s.addr, PAGE_SIZE, MADV_DONTNEED);
        await s.process.store32(s.addr, 0xbbbb);
      },
    },
    async check(s, machine) {
      const entry = s.driver.devicePageTable.get(s.addr / PAGE_SIZE);
      if (entry === undefined) return; // invalidated and not re-populated: nothing stale
      const pfn = Math.floor(entry / 2);
      const bytes = new Uint8Array(4);
      machine.pm.readBytes(pfn, 0, bytes, 0, 4);
      const device = new DataView(bytes.buffer).getUint32(0, true);
      const cpu = await s.process.load32(s.addr);
      if (device !== cpu) {
        throw new Error(
          `the device maps pfn ${pfn} at 0x${s.addr.toString(16)} and would read 0x${device.toString(16)}, ` +
            `but the CPU reads 0x${cpu.toString(16)} there: a stale device mapping`,
        );
      }
    },
    async teardown(s) {
      // The driver unregisters, then the process exits: everything must come back (balance).
      await mmuIntervalNotifierRemove(s.driver.intervalSub);
      await s.process.exit();
    },
  };
}

/**
 * The broken driver's race as a module scenario:
 * `hmmsim explore examples/broken-driver.ts --strategy random --schedules 300`.
 */
export const scenario: Scenario<State> = populateVersusDontneed('no read_retry');

/** Explores the race with the correct and with the broken driver. */
export async function runBrokenDriverExample(
  now?: () => number,
): Promise<{ correct: ExploreReport; broken: ExploreReport }> {
  const options = { strategy: 'random', schedules: 300, seed: 1, now } as const;
  const correct = await explore({ ...populateVersusDontneed(null), ...options });
  const broken = await explore({ ...populateVersusDontneed('no read_retry'), ...options });
  return { correct, broken };
}

if (argv[1] !== undefined && import.meta.url === pathToFileURL(argv[1]).href) {
  const { correct, broken } = await runBrokenDriverExample(() => performance.now());
  console.log(
    `correct driver: ${correct.schedules} schedules, ${correct.failure === null ? 'no violation' : 'VIOLATION'}`,
  );
  if (broken.failure === null) {
    console.log(`broken driver: survived ${broken.schedules} schedules`);
  } else {
    const f = broken.failure;
    console.log(
      `broken driver: violation in schedule ${f.schedule} (${f.violation.oracle}): ${f.violation.message}`,
    );
    console.log(`\nshrunk from ${f.originalLength} to ${f.shrunkLength} decisions:\n${f.text}`);
    console.log(`\nreplay token: ${f.shrunkToken}`);
  }
}
