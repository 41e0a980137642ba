/**
 * The kernel's CPU-side costs (src/mm/costs.ts and the sites that charge them): defaults, the
 * validation of a cost record, and for known operations — faults, a munmap of N pages and of a
 * THP, a fork and a COW fault, notifier callbacks, a migration of a THP against 512 pages, a
 * hmm_range_fault pass — exactly the virtual time each cost should add.
 */
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_KERNEL_COSTS,
  type KernelCostHooks,
  MADV_HUGEPAGE,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  Machine,
  PAGE_SIZE,
  PMD_SIZE,
  PROT_READ,
  PROT_WRITE,
  type Process,
  UsageError,
} from '../../../src/index.ts';
import { callRangeFault, mapAnon, P, setupEnv } from '../hmm/helpers.ts';

const RW = PROT_READ | PROT_WRITE;
const ANON = MAP_PRIVATE | MAP_ANONYMOUS;

/** Every kernel cost zero (the hmm walk included), then `costs`. */
function only(costs: Partial<KernelCostHooks>): Partial<KernelCostHooks> {
  return { ...DEFAULT_KERNEL_COSTS, hmmRangeFaultPassNs: 0, hmmRangeFaultPageNs: 0, ...costs };
}

/** A 2 MiB-aligned anonymous mapping of `n` pages, written (so populated), THP when asked. */
async function populated(process: Process, n: number, thp = false): Promise<number> {
  const raw = await process.mmap(0, n * PAGE_SIZE + PMD_SIZE, RW, ANON, -1, 0);
  const addr = Math.ceil(raw / PMD_SIZE) * PMD_SIZE;
  if (thp) expect(await process.madvise(addr, n * PAGE_SIZE, MADV_HUGEPAGE)).toBe(0);
  await process.write(addr, new Uint8Array(n * PAGE_SIZE).fill(7));
  return addr;
}

/** Virtual ns that `f` takes on `machine`'s clock. */
async function timed(machine: Machine, f: () => Promise<unknown>): Promise<number> {
  const t0 = machine.sched.clock.now;
  await f();
  return machine.sched.clock.now - t0;
}

describe('kernel costs: defaults and validation', () => {
  it('a new machine charges nothing but the hmm_range_fault walk (200 ns per pass, 1 ns per page)', () => {
    const m = new Machine();
    expect(m.costs).toEqual(DEFAULT_KERNEL_COSTS);
    expect(DEFAULT_KERNEL_COSTS.hmmRangeFaultPassNs).toBe(200);
    expect(DEFAULT_KERNEL_COSTS.hmmRangeFaultPageNs).toBe(1);
    const others = Object.entries(DEFAULT_KERNEL_COSTS).filter(([k]) => !k.startsWith('hmmRangeFault'));
    expect(others.every(([, v]) => v === 0)).toBe(true);
  });

  it('machines do not share their cost records', () => {
    const a = new Machine({ costs: { pageFaultNs: 5 } });
    const b = new Machine();
    expect(a.costs.pageFaultNs).toBe(5);
    expect(b.costs.pageFaultNs).toBe(0);
  });

  it('an unknown cost or a bad value is a UsageError naming it, and changes nothing', () => {
    const m = new Machine();
    expect(() => m.setCosts({ pageFaultNs: 1, bogus: 3 } as never)).toThrow(
      /costs\.bogus.*not a kernel cost/,
    );
    expect(() => m.setCosts({ zapPteNs: -1 })).toThrow(UsageError);
    expect(() => m.setCosts({ zapPteNs: Number.NaN })).toThrow(/costs\.zapPteNs/);
    expect(() => new Machine({ costs: 'fast' as never })).toThrow(/costs/);
    expect(m.costs).toEqual(DEFAULT_KERNEL_COSTS);
  });
});

describe('kernel costs: each hook charges exactly its work', () => {
  it('pageFaultNs: once per handle_mm_fault (writing N fresh pages takes N faults)', async () => {
    const m = new Machine({ costs: only({ pageFaultNs: 1000 }) });
    const p = await m.createProcess();
    const addr = await p.mmap(0, 16 * P, RW, ANON, -1, 0);
    expect(await timed(m, () => p.write(addr, new Uint8Array(16 * P).fill(1)))).toBe(16 * 1000);
    // Populated pages do not fault again.
    expect(await timed(m, () => p.write(addr, new Uint8Array(16 * P).fill(2)))).toBe(0);
  });

  it('munmap of N pages: one range, N entries, one TLB flush', async () => {
    const m = new Machine({ costs: only({ zapRangeNs: 1000, zapPteNs: 10, tlbShootdownNs: 5000 }) });
    const p = await m.createProcess();
    const addr = await populated(p, 100);
    expect(await timed(m, () => p.munmap(addr, 100 * P))).toBe(1000 + 100 * 10 + 5000);
  });

  it('munmap of an unpopulated mapping: the range only, no entry and no flush', async () => {
    const m = new Machine({ costs: only({ zapRangeNs: 1000, zapPteNs: 10, tlbShootdownNs: 5000 }) });
    const p = await m.createProcess();
    const addr = await p.mmap(0, 64 * P, RW, ANON, -1, 0);
    expect(await timed(m, () => p.munmap(addr, 64 * P))).toBe(1000);
  });

  it('munmap of a PMD-mapped THP: one entry (zap_huge_pmd), not 512', async () => {
    const m = new Machine({ costs: only({ zapRangeNs: 1000, zapPteNs: 10, tlbShootdownNs: 5000 }) });
    const p = await m.createProcess();
    const addr = await populated(p, 512, true);
    expect(await timed(m, () => p.munmap(addr, PMD_SIZE))).toBe(1000 + 10 + 5000);
  });

  it('fork: one flush_tlb_mm of the parent; the COW fault after it: one fault and one ptep_clear_flush', async () => {
    const m = new Machine({ costs: only({ tlbShootdownNs: 5000, pageFaultNs: 1000 }) });
    const p = await m.createProcess();
    const addr = await populated(p, 8);
    let child: Process | null = null;
    expect(
      await timed(m, async () => {
        child = await p.fork();
      }),
    ).toBe(5000);
    expect(child).not.toBeNull();
    expect(await timed(m, () => p.write(addr, new Uint8Array(P).fill(3)))).toBe(1000 + 5000);
  });

  it('notifierCallbackNs: per interval-notifier callback (one munmap hitting one notifier: one)', async () => {
    const env = await setupEnv({ costs: only({ notifierCallbackNs: 300 }) });
    const base = 0x4000_0000;
    await mapAnon(env, base, 16 * P);
    await env.proc.write(base, new Uint8Array(16 * P).fill(1));
    const before = env.invalidations.length;
    expect(await timed(env.machine, () => env.proc.munmap(base, 16 * P))).toBe(
      300 * (env.invalidations.length - before),
    );
    expect(env.invalidations.length - before).toBe(1);
  });

  it('hmm_range_fault: the pass and page costs come from the machine (one pass over N populated pages)', async () => {
    const env = await setupEnv({ costs: only({ hmmRangeFaultPassNs: 1000, hmmRangeFaultPageNs: 10 }) });
    const base = 0x4000_0000;
    await mapAnon(env, base, 32 * P);
    await env.proc.write(base, new Uint8Array(32 * P).fill(1));
    expect(await timed(env.machine, () => callRangeFault(env, base, 32))).toBe(1000 + 32 * 10);
  });

  it('hmm_range_fault with the defaults still charges 200 ns per pass and 1 ns per page', async () => {
    const env = await setupEnv();
    const base = 0x4000_0000;
    await mapAnon(env, base, 32 * P);
    await env.proc.write(base, new Uint8Array(32 * P).fill(1));
    expect(await timed(env.machine, () => callRangeFault(env, base, 32))).toBe(200 + 32);
  });
});

describe('kernel work counters', () => {
  it('count each site whether or not it costs anything (munmap of N pages; a THP migration)', async () => {
    const m = new Machine({ memory: 64 * 1024 * 1024, hugetlbPages: 0 });
    const p = await m.createProcess();
    const addr = await populated(p, 100);
    const before = { ...m.work };
    expect(await timed(m, () => p.munmap(addr, 100 * P))).toBe(0);
    expect(m.work.zapPtes - before.zapPtes).toBe(100);
    expect(m.work.zapRanges - before.zapRanges).toBe(1);
    expect(m.work.tlbShootdowns - before.tlbShootdowns).toBe(1);
    const dev = m.addDmirrorDevice();
    const file = await dev.open(p);
    const thp = await populated(p, 512, true);
    const w0 = { ...m.work };
    expect((await file.migrateToDev(thp, 512)).ret).toBe(0);
    expect(m.work.migrateFolios - w0.migrateFolios).toBe(1);
    expect(m.work.migratePages - w0.migratePages).toBe(512);
    expect(m.work.notifierCallbacks - w0.notifierCallbacks).toBeGreaterThanOrEqual(1);
    expect(m.work.pageFaults).toBeGreaterThan(0);
  });
});

describe('kernel costs: migrate_vma per folio and per page', () => {
  /** Time of MIGRATE_TO_DEV then MIGRATE_TO_SYS of 512 pages, device costs zero. */
  async function migrateBothWays(costs: Partial<KernelCostHooks>, thp: boolean): Promise<[number, number]> {
    const m = new Machine({ memory: 64 * 1024 * 1024, hugetlbPages: 0, costs: only(costs) });
    const dev = m.addDmirrorDevice({ costs: { copyPageNs: 0, allocNs: 0 } });
    const p = await m.createProcess();
    const file = await dev.open(p);
    const addr = await populated(p, 512, thp);
    let toDev = 0;
    let toSys = 0;
    toDev = await timed(m, async () => expect((await file.migrateToDev(addr, 512)).ret).toBe(0));
    toSys = await timed(m, async () => expect((await file.migrateToSys(addr, 512)).ret).toBe(0));
    return [toDev, toSys];
  }

  it('a THP moves as one folio of 512 pages, 512 base pages as 512 folios, both ways', async () => {
    const costs = { migrateVmaFolioNs: 1000, migrateVmaPageNs: 10 };
    expect(await migrateBothWays(costs, true)).toEqual([1000 + 512 * 10, 1000 + 512 * 10]);
    expect(await migrateBothWays(costs, false)).toEqual([512 * 1000 + 512 * 10, 512 * 1000 + 512 * 10]);
  });

  it('collecting a PMD-mapped THP or a table of PTEs flushes the TLB once; device-private entries need none', async () => {
    const costs = { tlbShootdownNs: 5000 };
    expect(await migrateBothWays(costs, true)).toEqual([5000, 0]);
    expect(await migrateBothWays(costs, false)).toEqual([5000, 0]);
  });

  it('the dmirror device charges its own copy and allocation costs (per page copied, per folio allocated)', async () => {
    const m = new Machine({ memory: 64 * 1024 * 1024, hugetlbPages: 0, costs: only({}) });
    const dev = m.addDmirrorDevice({ costs: { copyPageNs: 100, allocNs: 7 } });
    const p = await m.createProcess();
    const file = await dev.open(p);
    const addr = await populated(p, 512, true);
    expect(await timed(m, () => file.migrateToDev(addr, 512))).toBe(512 * 100 + 7);
    expect(() => m.addDmirrorDevice({ costs: { copyPageNs: -1 } })).toThrow(/options\.costs\)\.copyPageNs/);
  });
});
