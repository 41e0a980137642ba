/**
 * The device-mirror contract on drivers written only against the public API
 * (test/race/drivers/svm-driver.ts): the correct driver survives every race with every default
 * oracle attached, and each mistake of a real driver is found by the oracle that should find it —
 * with no dmirror involved. Seeds and budgets are in the titles.
 */
import { describe, expect, it } from 'vitest';
import {
  attachObserver,
  defaultOracles,
  deviceMirrorAccess,
  deviceMirrorRegister,
  deviceMirrorUnregister,
  ENODEV,
  type ExploreReport,
  explore,
  MADV_DONTNEED,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  type Machine,
  type Oracle,
  PAGE_SIZE,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
  type Process,
  type Scenario,
} from '../../src/index.ts';
import {
  type SvmDriver as Driver,
  SvmDriver,
  type SvmMistake,
  svmDeviceLoad32,
  svmDeviceStore32,
  svmPopulate,
  svmRegister,
  svmTeardown,
} from './drivers/svm-driver.ts';

const MACHINE = { memory: 16 * 1024 * 1024, hugetlbPages: 0 } as const;
/** Room for a retry loop to reach HMM_RANGE_DEFAULT_TIMEOUT (1 s) and give up. */
const MAX_VIRTUAL_TIME = 3e9;
const SCHEDULES = 300;
const SEED = 1;

interface State {
  process: Process;
  driver: Driver;
  addr: number;
  /** What the device's populate returned. */
  ret: number | null;
}

async function setupDriver(machine: Machine, mistake: SvmMistake, npages: number): Promise<State> {
  const process = await machine.createProcess();
  const addr = await process.mmap(
    0,
    npages * PAGE_SIZE,
    PROT_READ | PROT_WRITE,
    MAP_PRIVATE | MAP_ANONYMOUS,
    -1,
    0,
  );
  for (let i = 0; i < npages; i++) await process.store32(addr + i * PAGE_SIZE, 0x1111 * (i + 1));
  const driver = new SvmDriver(machine, process.mm, mistake);
  await svmRegister(driver, addr, npages * PAGE_SIZE);
  return { process, driver, addr, ret: null };
}

function checkPopulated(s: State): void {
  if (s.ret !== 0) throw new Error(`the device's populate returned ${s.ret}, though the range settles`);
}

async function teardown(s: State): Promise<void> {
  await svmTeardown(s.driver);
  await s.process.exit();
}

/**
 * The device populates two pages for writing, reads the first and writes the second through its
 * page table; the CPU drops the first page, writes a new one there and reads the second.
 */
function populateVersusZap(mistake: SvmMistake, deviceAccesses = true): Scenario<State> {
  return {
    name: `svm-populate-vs-zap${mistake === null ? '' : ` (${mistake})`}`,
    machine: MACHINE,
    maxVirtualTime: MAX_VIRTUAL_TIME,
    setup: (machine) => setupDriver(machine, mistake, 2),
    threads: {
      async device(s) {
        s.ret = await svmPopulate(s.driver, s.addr, s.addr + 2 * PAGE_SIZE, true);
        if (deviceAccesses) {
          await svmDeviceLoad32(s.driver, s.addr);
          await svmDeviceStore32(s.driver, s.addr + PAGE_SIZE, 0xd00d);
        } else {
          // A second populate: the 'deferred flush' driver flushes what it queued only now.
          await svmPopulate(s.driver, s.addr + PAGE_SIZE, s.addr + 2 * PAGE_SIZE, false);
        }
      },
      async cpu(s) {
        await s.process.madvise(s.addr, PAGE_SIZE, MADV_DONTNEED);
        await s.process.store32(s.addr, 0xbbbb);
        await s.process.load32(s.addr + PAGE_SIZE);
      },
    },
    check: checkPopulated,
    teardown,
  };
}

/** A snapshot (no fault) of a readable page and a PROT_NONE page, racing a CPU write. */
function snapshotWithProtNone(mistake: SvmMistake): Scenario<State> {
  return {
    name: `svm-snapshot-prot-none${mistake === null ? '' : ` (${mistake})`}`,
    machine: MACHINE,
    maxVirtualTime: MAX_VIRTUAL_TIME,
    async setup(machine) {
      const s = await setupDriver(machine, mistake, 2);
      await s.process.mprotect(s.addr + PAGE_SIZE, PAGE_SIZE, PROT_NONE);
      return s;
    },
    threads: {
      async device(s) {
        s.ret = await svmPopulate(s.driver, s.addr, s.addr + 2 * PAGE_SIZE, false, false);
      },
      async cpu(s) {
        await s.process.store32(s.addr, 0xcccc);
      },
    },
    check: checkPopulated,
    teardown,
  };
}

/**
 * The driver tears down (device unbind, file close) while the device populates another page and
 * the CPU drops the page the device had mirrored and writes a new one there.
 */
function populateVersusTeardown(mistake: SvmMistake): Scenario<State> {
  return {
    name: `svm-populate-vs-teardown${mistake === null ? '' : ` (${mistake})`}`,
    machine: MACHINE,
    maxVirtualTime: MAX_VIRTUAL_TIME,
    async setup(machine) {
      const s = await setupDriver(machine, mistake, 2);
      const ret = await svmPopulate(s.driver, s.addr, s.addr + PAGE_SIZE, false);
      if (ret !== 0) throw new Error(`populate in setup: ${ret}`);
      return s;
    },
    threads: {
      async device(s) {
        s.ret = await svmPopulate(s.driver, s.addr + PAGE_SIZE, s.addr + 2 * PAGE_SIZE, false);
      },
      async unbind(s) {
        await svmTeardown(s.driver);
      },
      async cpu(s) {
        await s.process.madvise(s.addr, PAGE_SIZE, MADV_DONTNEED);
        await s.process.store32(s.addr, 0xbbbb);
      },
    },
    async check(s) {
      if (s.ret !== 0 && s.ret !== -ENODEV) throw new Error(`the device's populate returned ${s.ret}`);
    },
    async teardown(s) {
      await s.process.exit();
    },
  };
}

function run<S>(scenario: Scenario<S>, schedules = SCHEDULES): Promise<ExploreReport> {
  return explore({ ...scenario, strategy: 'random', schedules, seed: SEED, shrink: false });
}

describe('a driver outside the project, through the device-mirror contract', () => {
  it(`the correct driver survives every race (random, seed ${SEED}, ${SCHEDULES} schedules each)`, async () => {
    for (const scenario of [
      populateVersusZap(null),
      populateVersusZap(null, false),
      snapshotWithProtNone(null),
      populateVersusTeardown(null),
    ]) {
      const report = await run(scenario);
      expect(report.failure?.violation ?? null, scenario.name).toBeNull();
      expect(report.schedules).toBe(SCHEDULES);
    }
  });

  const cases: [SvmMistake, () => Scenario<State>, readonly string[]][] = [
    ['wrong lock', () => populateVersusZap('wrong lock'), ['mirror']],
    ['lockless check', () => populateVersusZap('lockless check'), ['mirror']],
    ['deferred flush', () => populateVersusZap('deferred flush'), ['mirror', 'use-after-free']],
    // Every attempt fails on the old sequence until the deadline: -EBUSY though the range
    // settled, which the scenario's check reports (the loop itself is bounded: no livelock).
    ['stale seq', () => populateVersusZap('stale seq'), ['scenario']],
    ['error as mapping', () => snapshotWithProtNone('error as mapping'), ['mirror']],
    ['teardown order', () => populateVersusTeardown('teardown order'), ['mirror', 'use-after-free']],
  ];
  it.each(cases)(
    `finds the '%s' driver (random, seed ${SEED}, ≤ ${SCHEDULES} schedules)`,
    async (_m, make, oracles) => {
      const report = await run(make());
      expect(report.failure, `survived ${report.schedules} schedules`).not.toBeNull();
      expect(oracles, report.failure!.violation.message).toContain(report.failure!.violation.oracle);
    },
  );

  it('a stale translation that heals before the end, never used by the device, is still caught', async () => {
    const report = await run(populateVersusZap('deferred flush', false));
    expect(report.failure).not.toBeNull();
    expect(report.failure!.violation.oracle).toBe('mirror');
    expect(report.failure!.violation.message).toMatch(
      /svm-driver \(deferred flush\) maps 0x[0-9a-f]+ to pfn \d+/,
    );
  });
});

describe('device accesses', () => {
  /** One driver, one page; `device` runs on the populated page, then the CPU reads it. */
  function accessScenario(device: (s: State, machine: Machine) => Promise<void>): Scenario<State> {
    return {
      name: 'svm-device-access',
      machine: MACHINE,
      setup: (machine) => setupDriver(machine, null, 1),
      threads: {
        async device(s, machine) {
          s.ret = await svmPopulate(s.driver, s.addr, s.addr + PAGE_SIZE, true);
          await device(s, machine);
        },
      },
      async check(s) {
        await s.process.load32(s.addr);
      },
      teardown,
    };
  }

  it('a reported device write is accounted: the CPU reading it back is no lost data', async () => {
    const report = await run(
      accessScenario(async (s) => {
        expect(await svmDeviceStore32(s.driver, s.addr, 0xfeed)).toBe(true);
      }),
      5,
    );
    expect(report.failure).toBeNull();
  });

  it('an unreported device write is lost data on the next CPU read (the contract says: report every access)', async () => {
    const report = await run(
      accessScenario(async (s, machine) => {
        const pfn = Math.floor(s.driver.table.get(s.addr / PAGE_SIZE)! / 4);
        machine.pm.writeBytes(pfn, 0, new Uint8Array([1, 2, 3, 4]), 0, 4);
      }),
      5,
    );
    expect(report.failure?.violation.oracle).toBe('lost-data');
  });

  it('a device read through a frame the CPU no longer maps is a mirror violation, not a crash', async () => {
    const report = await run(
      accessScenario(async (s, machine) => {
        // The device reads through a made-up translation: the CPU maps another frame there.
        const pfn = Math.floor(s.driver.table.get(s.addr / PAGE_SIZE)! / 4);
        deviceMirrorAccess(machine, s.driver, s.addr, pfn + 1, false, new Uint8Array(4));
      }),
      5,
    );
    expect(report.failure?.violation.oracle).toBe('mirror');
    expect(report.failure?.violation.message).toMatch(/^device read: svm-driver maps/);
  });

  it('a custom oracle attached with attachObserver sees every invalidation start and end', async () => {
    let starts = 0;
    let ends = 0;
    const counting: Oracle = (ctx) => {
      const detach = attachObserver(ctx.machine, {
        invalidateStart: () => starts++,
        invalidateEnd: () => ends++,
      });
      return {
        atEnd() {
          if (starts !== ends) ctx.violate('custom', `${starts} starts, ${ends} ends`);
        },
        detach,
      };
    };
    const report = await explore({
      ...populateVersusZap(null),
      strategy: 'random',
      schedules: 20,
      seed: SEED,
      oracles: [...defaultOracles(), counting],
    });
    expect(report.failure).toBeNull();
    expect(starts).toBeGreaterThan(20); // the DONTNEED and exit of every schedule
    expect(starts).toBe(ends);
  });

  it('unregistering a mirror with translations left is a failed assertion', async () => {
    const report = await run(
      accessScenario(async (s, machine) => {
        deviceMirrorUnregister(machine, s.driver);
        deviceMirrorRegister(machine, s.driver); // (for the teardown)
      }),
      5,
    );
    expect(report.failure?.violation.oracle).toBe('assertion');
    expect(report.failure?.violation.message).toMatch(/still has 1 translation/);
  });
});
