/**
 * Device memory of the drm_gpusvm-style driver (src/devices/gpusvm: vram.ts, migrate.ts): ranges
 * migrated to VRAM on a GPU fault, `migrate_to_ram` on a CPU touch, eviction, and one explored
 * race per device-memory principle of drm_gpusvm / drm_pagemap / xe_svm, with the mistake each
 * principle forbids found by the oracles or the scenario's check. Seeds and budgets in the titles.
 */
import { describe, expect, it } from 'vitest';
import {
  ENOMEM,
  explore,
  GpuSvm,
  type GpuSvmMistake,
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
} from '../../src/index.ts';

const MACHINE = { memory: 32 * 1024 * 1024, hugetlbPages: 0, thp: 'never' } as const;
const BASE = 0x4000_0000;
const K64 = 64 * 1024;
const PAGES = K64 / PAGE_SIZE;
const SEED = 1;
const SCHEDULES = 200;

interface State {
  process: Process;
  svm: GpuSvm;
  addr: number;
  ret: number[];
  loaded: (number | null)[];
}

/** A 64 KiB mapping (or two), each page holding 0x1000 + its index except `hole` (never touched). */
async function setup(
  machine: Machine,
  o: { mistake: GpuSvmMistake; vramPages: number; ranges?: number; hole?: number; inVram?: boolean },
): Promise<State> {
  const process = await machine.createProcess();
  const bytes = (o.ranges ?? 1) * K64;
  const addr = await process.mmap(
    BASE,
    bytes,
    PROT_READ | PROT_WRITE,
    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
    -1,
    0,
  );
  for (let i = 0; i < bytes / PAGE_SIZE; i++)
    if (i !== o.hole) await process.store32(addr + i * PAGE_SIZE, 0x1000 + i);
  const svm = new GpuSvm(machine, process.mm, {
    mistake: o.mistake,
    notifierSize: 4 * PMD_SIZE,
    vramPages: o.vramPages,
  });
  if (o.inVram) {
    const ret = await svm.handleFault(addr, true);
    if (ret !== 0 || !svm.rangeAt(addr)!.inVram)
      throw new Error(`setup: the range did not go to VRAM (${ret})`);
  }
  return { process, svm, addr, ret: [], loaded: [] };
}

async function teardown(s: State): Promise<void> {
  await s.svm.fini();
  await s.process.exit();
}

function run<S>(scenario: Scenario<S>, schedules = SCHEDULES) {
  return explore({ ...scenario, strategy: 'random', schedules, seed: SEED, shrink: false });
}

const hex = (n: number | null): string => (n === null ? 'nothing' : `0x${n.toString(16)}`);

describe('gpusvm device memory', () => {
  it('a GPU fault moves the range to VRAM; a CPU touch brings a page back; eviction frees the VRAM', async () => {
    const machine = new Machine(MACHINE);
    const s = await setup(machine, { mistake: null, vramPages: 64 });
    const vram = s.svm.vram!;
    expect(await s.svm.handleFault(s.addr + 5 * PAGE_SIZE, true)).toBe(0);
    const range = s.svm.rangeAt(s.addr)!;
    expect([range.inVram, range.end - range.start]).toEqual([true, K64]);
    expect(vram.freePages).toBe(64 - PAGES);
    // The GPU reads the CPU's data from VRAM, and writes there.
    expect(await s.svm.gpuLoad32(s.addr + 3 * PAGE_SIZE)).toBe(0x1003);
    expect(range.pfns[3]).toBeGreaterThanOrEqual(vram.pfnFirst);
    expect(await s.svm.gpuStore32(s.addr + 4 * PAGE_SIZE, 0xd00d)).toBe(true);
    // The CPU touches page 4: migrate_to_ram of the block around it, at least that page.
    expect(await s.process.load32(s.addr + 4 * PAGE_SIZE)).toBe(0xd00d);
    expect(range.bound).toBe(false); // the migration invalidated the GPU mapping
    // Eviction gives every VRAM page back, and the data stays.
    expect(await s.svm.handleFault(s.addr, false)).toBe(0);
    expect(await s.svm.evict()).toBe(0);
    expect(vram.freePages).toBe(64);
    for (let i = 0; i < PAGES; i++)
      expect(await s.process.load32(s.addr + i * PAGE_SIZE)).toBe(i === 4 ? 0xd00d : 0x1000 + i);
    await teardown(s);
  });

  it('falls back to system memory when VRAM is too small, after GPUSVM_MIGRATE_TRIES attempts', async () => {
    const machine = new Machine(MACHINE);
    const s = await setup(machine, { mistake: null, vramPages: PAGES - 1 });
    expect(await s.svm.handleFault(s.addr, false)).toBe(0);
    const range = s.svm.rangeAt(s.addr)!;
    expect(range.inVram).toBe(false);
    expect(range.pfns[0]).toBeLessThan(s.svm.vram!.pfnFirst);
    expect(await s.svm.gpuLoad32(s.addr)).toBe(0x1000);
    await teardown(s);
    const bad = await setup(new Machine(MACHINE), { mistake: 'no devmem fallback', vramPages: PAGES - 1 });
    expect(await bad.svm.handleFault(bad.addr, false)).toBe(-ENOMEM);
    await teardown(bad);
  });
});

/**
 * Principle "the GPU page-table commit is protected by the notifier lock and a pages-valid
 * check, also when the pages move to VRAM": the GPU faults (migrating the range) and uses it
 * while the CPU reads one page (bringing it back with migrate_to_ram) and writes another.
 */
function migrateVersusCpu(mistake: GpuSvmMistake): Scenario<State> {
  return {
    name: `gpusvm VRAM fault vs CPU${mistake ? ` (${mistake})` : ''}`,
    machine: MACHINE,
    setup: (machine) => setup(machine, { mistake, vramPages: 64 }),
    threads: {
      async gpu(s) {
        s.ret.push(await s.svm.handleFault(s.addr, true));
        s.loaded.push(await s.svm.gpuLoad32(s.addr + PAGE_SIZE));
        await s.svm.gpuStore32(s.addr + 2 * PAGE_SIZE, 0xd00d);
      },
      async cpu(s) {
        await s.process.load32(s.addr + PAGE_SIZE);
        await s.process.store32(s.addr + 3 * PAGE_SIZE, 0xbbbb);
      },
    },
    check(s) {
      if (s.ret[0] !== 0) throw new Error(`GPU fault returned ${s.ret[0]}`);
    },
    teardown,
  };
}

/**
 * Principle "no partial-range migration assumptions: after migrate_vma only the core knows what
 * moved, so the driver learns the pages from hmm_range_fault": the GPU migrates a range with a
 * hole while the CPU writes into the hole (the hole's slot is then not migrated).
 */
function partialMigration(mistake: GpuSvmMistake): Scenario<State> {
  return {
    name: `gpusvm partial migration${mistake ? ` (${mistake})` : ''}`,
    machine: MACHINE,
    setup: (machine) => setup(machine, { mistake, vramPages: 64, hole: 6 }),
    threads: {
      async gpu(s) {
        s.ret.push(await s.svm.handleFault(s.addr, false));
        s.loaded.push(await s.svm.gpuLoad32(s.addr + 6 * PAGE_SIZE));
      },
      async cpu(s) {
        await s.process.store32(s.addr + 6 * PAGE_SIZE, 0xcafe);
      },
    },
    check(s) {
      if (s.ret[0] !== 0) throw new Error(`GPU fault returned ${s.ret[0]}`);
      const v = s.loaded[0]!;
      if (v !== null && v !== 0 && v !== 0xcafe) throw new Error(`the GPU read ${hex(v)} in the hole`);
    },
    teardown,
  };
}

/**
 * Principle "device-memory allocation may fail; the fault falls back to system memory (after
 * retrying)": VRAM holds one range, the GPU faults two while VRAM is being evicted.
 */
function vramPressure(mistake: GpuSvmMistake): Scenario<State> {
  return {
    name: `gpusvm VRAM pressure${mistake ? ` (${mistake})` : ''}`,
    machine: MACHINE,
    setup: (machine) => setup(machine, { mistake, vramPages: PAGES, ranges: 2 }),
    threads: {
      async gpu(s) {
        s.ret.push(await s.svm.handleFault(s.addr, false));
        s.ret.push(await s.svm.handleFault(s.addr + K64, true));
        s.loaded.push(await s.svm.gpuLoad32(s.addr + K64 + PAGE_SIZE));
      },
      async evictor(s) {
        await s.svm.evict();
      },
    },
    check(s) {
      s.ret.forEach((r, i) => {
        if (r !== 0) throw new Error(`GPU fault ${i} returned ${r}`);
      });
      if (s.loaded[0] !== 0x1000 + PAGES + 1) throw new Error(`the GPU read ${hex(s.loaded[0]!)}`);
    },
    teardown,
  };
}

/**
 * Principle "migrate_to_ram relies only on core-MM concepts (migration entries, page references
 * and locks), no driver lock": the CPU reads VRAM pages while the GPU faults the range again.
 */
function cpuTouchesVram(mistake: GpuSvmMistake): Scenario<State> {
  return {
    name: `gpusvm migrate_to_ram${mistake ? ` (${mistake})` : ''}`,
    machine: MACHINE,
    setup: (machine) => setup(machine, { mistake, vramPages: 64, inVram: true }),
    threads: {
      async cpu(s) {
        s.loaded.push(await s.process.load32(s.addr + 2 * PAGE_SIZE));
      },
      async gpu(s) {
        s.ret.push(await s.svm.handleFault(s.addr + 9 * PAGE_SIZE, false));
      },
    },
    check(s) {
      if (s.ret[0] !== 0) throw new Error(`GPU fault returned ${s.ret[0]}`);
      if (s.loaded[0] !== 0x1002) throw new Error(`the CPU read ${hex(s.loaded[0]!)}`);
    },
    teardown,
  };
}

/**
 * Principle "eviction looks only at physical memory (the allocation's pages), never at the mm or
 * a VMA: the core may move the mapping at any moment": VRAM is evicted while the CPU mremaps the
 * range elsewhere.
 */
function evictVersusMremap(mistake: GpuSvmMistake): Scenario<State> {
  const to = BASE + 2 * PMD_SIZE;
  return {
    name: `gpusvm eviction vs mremap${mistake ? ` (${mistake})` : ''}`,
    machine: MACHINE,
    setup: (machine) => setup(machine, { mistake, vramPages: 64, inVram: true }),
    threads: {
      async cpu(s) {
        await s.process.mremap(s.addr, K64, K64, MREMAP_MAYMOVE | MREMAP_FIXED, to);
      },
      async evictor(s) {
        s.ret.push(await s.svm.evict());
      },
    },
    async check(s) {
      // A pass may meet a page locked by a racing migration (-EBUSY): nothing races now.
      if (s.ret[0] !== 0) await s.svm.evict();
      const vram = s.svm.vram!;
      if (vram.freePages !== vram.nrPages)
        throw new Error(`${vram.nrPages - vram.freePages} VRAM pages still held after eviction`);
      for (let i = 0; i < PAGES; i++) {
        const v = await s.process.load32(to + i * PAGE_SIZE);
        if (v !== 0x1000 + i) throw new Error(`page ${i} holds ${hex(v)} after the move`);
      }
    },
    teardown,
  };
}

describe(`gpusvm device-memory principles, explored (random, seed ${SEED}, ${SCHEDULES} schedules)`, () => {
  it('the correct driver survives every scenario with no false alarm', async () => {
    for (const scenario of [
      migrateVersusCpu(null),
      partialMigration(null),
      vramPressure(null),
      cpuTouchesVram(null),
      evictVersusMremap(null),
    ]) {
      const report = await run(scenario);
      expect(report.failure?.violation ?? null, scenario.name).toBeNull();
      expect(report.schedules).toBe(SCHEDULES);
    }
  });

  it('notifier lock: binding VRAM pages without checking pages valid is caught (mirror)', async () => {
    const report = await run(migrateVersusCpu('bind without pages valid'));
    expect(report.failure?.violation.oracle).toMatch(/^(mirror|use-after-free)$/);
  });

  it('partial migration: assuming the whole range moved maps a page the CPU does not', async () => {
    const report = await run(partialMigration('assume range migrated'));
    expect(report.failure?.violation.oracle).toMatch(/^(mirror|use-after-free)$/);
  });

  it('VRAM allocation failure: a fault without the fallback fails (-ENOMEM)', async () => {
    const report = await run(vramPressure('no devmem fallback'));
    expect(report.failure?.violation.oracle).toBe('scenario');
    expect(report.failure?.violation.message).toMatch(/returned -12/);
  });

  it('migrate_to_ram under a driver lock deadlocks against the invalidation it causes', async () => {
    const report = await run(cpuTouchesVram('driver lock in migrate_to_ram'));
    // The notifier callback of the migration wants the lock for writing on the same thread.
    expect(report.failure?.violation.oracle).toBe('scenario');
    expect(report.failure?.violation.message).toMatch(
      /notifier_lock: #\d+ cpu takes it for writing while already holding it \(self-deadlock\)/,
    );
  });

  it('eviction through a virtual address loses the VRAM once the core moved the mapping', async () => {
    const report = await run(evictVersusMremap('evict by virtual address'));
    expect(report.failure?.violation.oracle).toBe('scenario');
    expect(report.failure?.violation.message).toMatch(/VRAM pages still held/);
  });
});
