/**
 * The drm_gpusvm-style reference driver (src/devices/gpusvm): its structure (notifiers sized by a
 * parameter, ranges of the largest chunk that fits, garbage collection) and one explored race per
 * design principle of Documentation/gpu/rfc/gpusvm.rst that it models, with the mistake each
 * principle forbids found by the oracles. Seeds and budgets are in the titles.
 */
import { describe, expect, it } from 'vitest';
import {
  EFAULT,
  explore,
  GpuSvm,
  type GpuSvmMistake,
  MADV_DONTNEED,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  Machine,
  MREMAP_FIXED,
  MREMAP_MAYMOVE,
  PAGE_SIZE,
  PMD_SIZE,
  PROT_READ,
  PROT_WRITE,
  type Process,
  type Scenario,
  UsageError,
} from '../../src/index.ts';

const MACHINE = { memory: 32 * 1024 * 1024, hugetlbPages: 0, thp: 'never' } as const;
/** A 2 MiB-aligned address for fixed mappings. */
const BASE = 0x4000_0000;
const K64 = 64 * 1024;
const SEED = 1;

interface State {
  process: Process;
  svm: GpuSvm;
  addr: number;
  ret: number | null;
  loaded: number | null;
}

async function setup(
  machine: Machine,
  mistake: GpuSvmMistake,
  bytes: number,
  fault: boolean,
): Promise<State> {
  const process = await machine.createProcess();
  const addr = await process.mmap(
    BASE,
    bytes,
    PROT_READ | PROT_WRITE,
    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
    -1,
    0,
  );
  for (let a = addr; a < addr + bytes; a += PAGE_SIZE)
    await process.store32(a, 0x1000 + (a - addr) / PAGE_SIZE);
  const svm = new GpuSvm(machine, process.mm, { mistake, notifierSize: 4 * PMD_SIZE });
  if (fault) {
    const ret = await svm.handleFault(addr, true);
    if (ret !== 0) throw new Error(`fault in setup: ${ret}`);
  }
  return { process, svm, addr, ret: null, loaded: null };
}

async function teardown(s: State): Promise<void> {
  await s.svm.fini();
  await s.process.exit();
}

function run<S>(scenario: Scenario<S>, schedules = 300) {
  return explore({ ...scenario, strategy: 'random', schedules, seed: SEED, shrink: false });
}

describe('gpusvm structure', () => {
  it('ranges take the largest chunk that fits the VMA, the notifier and the existing ranges', async () => {
    const machine = new Machine(MACHINE);
    const p = await machine.createProcess();
    await p.mmap(BASE, PMD_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    await p.mmap(
      BASE + 4 * PMD_SIZE,
      3 * K64,
      PROT_READ | PROT_WRITE,
      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
      -1,
      0,
    );
    await p.mmap(
      BASE + 8 * PMD_SIZE,
      3 * PAGE_SIZE,
      PROT_READ | PROT_WRITE,
      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
      -1,
      0,
    );
    const svm = new GpuSvm(machine, p.mm, { notifierSize: 4 * PMD_SIZE });
    expect(await svm.handleFault(BASE + 5 * PAGE_SIZE, false)).toBe(0);
    expect(await svm.handleFault(BASE + 4 * PMD_SIZE + K64 + 5, true)).toBe(0);
    expect(await svm.handleFault(BASE + 8 * PMD_SIZE + PAGE_SIZE, false)).toBe(0);
    const sizes = svm
      .ranges()
      .map((r) => [r.start - BASE, r.end - r.start])
      .sort((a, b) => a[0]! - b[0]!);
    expect(sizes).toEqual([
      [0, PMD_SIZE],
      [4 * PMD_SIZE + K64, K64],
      [8 * PMD_SIZE + PAGE_SIZE, PAGE_SIZE],
    ]);
    // One notifier per 8 MiB block holding a range: blocks 0, 1 (4·2M = 8M) and 2.
    expect([...svm.notifiers.keys()].map((k) => (k - BASE) / (4 * PMD_SIZE)).sort()).toEqual([0, 1, 2]);
    expect(await svm.handleFault(BASE + 9 * PMD_SIZE, false)).toBe(-EFAULT); // no VMA
    await svm.fini();
    await p.exit();
    expect(machine.deviceMirrors).toEqual([]);
  });

  it('refuses a notifier size that is not a power-of-two multiple of the largest chunk', async () => {
    const machine = new Machine(MACHINE);
    const p = await machine.createProcess();
    expect(() => new GpuSvm(machine, p.mm, { notifierSize: 3 * PMD_SIZE })).toThrow(UsageError);
    expect(() => new GpuSvm(machine, p.mm, { chunkSizes: [K64, PMD_SIZE, PAGE_SIZE] })).toThrow(UsageError);
  });
});

/**
 * Principle "GPU fault side: a big retry loop handles every race with the notifier; the mmap
 * lock only around core-MM calls": the GPU faults a 64 KiB range for writing and reads it while
 * the CPU drops one page and writes a new one there.
 */
function faultVersusZap(mistake: GpuSvmMistake): Scenario<State> {
  return {
    name: `gpusvm fault vs zap${mistake ? ` (${mistake})` : ''}`,
    machine: MACHINE,
    setup: (machine) => setup(machine, mistake, K64, false),
    threads: {
      async gpu(s) {
        s.ret = await s.svm.handleFault(s.addr, true);
        s.loaded = await s.svm.gpuLoad32(s.addr + PAGE_SIZE);
        await s.svm.gpuStore32(s.addr + 2 * PAGE_SIZE, 0xd00d);
      },
      async cpu(s) {
        await s.process.madvise(s.addr + PAGE_SIZE, PAGE_SIZE, MADV_DONTNEED);
        await s.process.store32(s.addr + PAGE_SIZE, 0xbbbb);
        await s.process.load32(s.addr + 2 * PAGE_SIZE);
      },
    },
    check(s) {
      if (s.ret !== 0) throw new Error(`GPU fault returned ${s.ret}`);
    },
    teardown,
  };
}

/**
 * Principle "partial unmapping: the notifier marks the range unmapped and the garbage collector
 * removes it; a later fault makes a range that fits the new VMA": the CPU unmaps the last page
 * of a bound 64 KiB range while the GPU faults its first page again.
 */
function partialUnmap(mistake: GpuSvmMistake): Scenario<State> {
  return {
    name: `gpusvm partial unmap${mistake ? ` (${mistake})` : ''}`,
    machine: MACHINE,
    setup: (machine) => setup(machine, mistake, K64, true),
    threads: {
      async gpu(s) {
        s.ret = await s.svm.handleFault(s.addr, false);
      },
      async cpu(s) {
        await s.process.munmap(s.addr + K64 - PAGE_SIZE, PAGE_SIZE);
      },
    },
    async check(s) {
      if (s.ret !== 0) throw new Error(`GPU fault during the munmap returned ${s.ret}`);
      const again = await s.svm.handleFault(s.addr, false);
      if (again !== 0) throw new Error(`GPU fault after the munmap returned ${again}`);
      for (const r of s.svm.ranges())
        if (r.end > s.addr + K64 - PAGE_SIZE && r.start < s.addr + K64)
          throw new Error(
            `range [0x${r.start.toString(16)}, 0x${r.end.toString(16)}) still spans the unmapped page`,
          );
    },
    teardown,
  };
}

/**
 * Principle "no physical-to-virtual back-pointers: the core MM may move a mapping (mremap) and
 * tells the driver only through the notifier": the CPU moves the bound mapping while the GPU
 * faults and reads at the new address.
 */
function mremapVersusFault(): Scenario<State> {
  const to = BASE + 2 * PMD_SIZE;
  return {
    name: 'gpusvm mremap vs fault',
    machine: MACHINE,
    setup: (machine) => setup(machine, null, 4 * PAGE_SIZE, true),
    threads: {
      async gpu(s) {
        const ret = await s.svm.handleFault(to, false);
        s.ret = ret === -EFAULT ? 0 : ret; // before the move nothing is mapped there yet
        if (ret === 0) s.loaded = await s.svm.gpuLoad32(to);
      },
      async cpu(s) {
        await s.process.mremap(s.addr, 4 * PAGE_SIZE, 4 * PAGE_SIZE, MREMAP_MAYMOVE | MREMAP_FIXED, to);
      },
    },
    check(s) {
      if (s.ret !== 0) throw new Error(`GPU fault returned ${s.ret}`);
      if (s.loaded !== null && s.loaded !== 0x1000)
        throw new Error(`the GPU read 0x${s.loaded.toString(16)}`);
    },
    teardown,
  };
}

describe(`gpusvm design principles, explored (random, seed ${SEED}, 300 schedules)`, () => {
  it('the correct driver survives every principle scenario', async () => {
    for (const scenario of [faultVersusZap(null), partialUnmap(null), mremapVersusFault()]) {
      const report = await run(scenario);
      expect(report.failure?.violation ?? null, scenario.name).toBeNull();
      expect(report.schedules).toBe(300);
    }
  });

  it('fault side without the retry under the notifier lock: a stale GPU mapping (mirror)', async () => {
    const report = await run(faultVersusZap('no read retry'));
    expect(report.failure?.violation.oracle).toBe('mirror');
  });

  it('page-table locking: binding without checking pages valid under the notifier lock (mirror)', async () => {
    const report = await run(faultVersusZap('bind without pages valid'));
    expect(report.failure?.violation.oracle).toMatch(/^(mirror|use-after-free)$/);
  });

  it('partial unmap without the garbage collector: the old range never faults again (-EBUSY)', async () => {
    const report = await run(partialUnmap('no garbage collection'));
    expect(report.failure?.violation.oracle).toBe('scenario');
    expect(report.failure?.violation.message).toMatch(/returned -16/);
  });
});
