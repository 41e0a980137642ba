/**
 * Kernel-side mutants (src/explore/mutants/kernel.ts): every mutant is killed within its budget by
 * the oracle its spec names, and the unmutated kernel survives the same scenario, strategy and
 * budget with every default oracle attached. Seeds are in the titles.
 */
import { describe, expect, it } from 'vitest';
import { explore } from '../../src/explore/explore.ts';
import { MUTANTS } from '../../src/explore/mutants/index.ts';
import { KERNEL_MUTANTS } from '../../src/explore/mutants/kernel.ts';
import { walkRestartVersusOwnExclusive } from '../../src/explore/mutants/scenarios-kernel/index.ts';
import type { MutantSpec } from '../../src/explore/mutants/spec.ts';
import { Machine } from '../../src/machine.ts';
import { MAP_ANONYMOUS, MAP_PRIVATE, PAGE_SIZE, PROT_READ, PROT_WRITE } from '../../src/mm/constants.ts';
import { MUTANT_IDS } from '../../src/mm/mutant.ts';
import { findEntry } from '../../src/mm/page-table.ts';
import { staleTlbFlush, staleTlbInsert, staleTlbLookup } from '../../src/mm/stale-tlb.ts';

const SEED = 1;

/** Explores a mutant's scenario with its strategy and budget; no shrinking (the kill is what counts). */
function run(spec: MutantSpec, mutant: MutantSpec['id'] | null, seed = SEED) {
  return explore({
    ...spec.scenario,
    mutant,
    strategy: spec.strategy,
    schedules: spec.schedules,
    seed,
    shrink: false,
  });
}

describe('mutant registry', () => {
  it('registers every mutant id exactly once, at least 20, each with a budget of at most 2,000 schedules', () => {
    expect(MUTANTS.map((m) => m.id).sort()).toEqual([...MUTANT_IDS].sort());
    expect(MUTANTS.length).toBeGreaterThanOrEqual(20);
    for (const m of MUTANTS) {
      expect(m.schedules).toBeGreaterThan(0);
      expect(m.schedules).toBeLessThanOrEqual(2000);
    }
  });

  it('lists D1–D6, D11, M9 and L1 as driver-side mutants with their switch in dmirror', () => {
    const driver = MUTANTS.filter((m) => m.side === 'driver');
    expect(driver.map((m) => m.id)).toEqual(['D1', 'D2', 'D3', 'D4', 'D5', 'D6', 'D11', 'M9', 'L1']);
    for (const m of driver) expect(m.site).toMatch(/^src\/devices\/dmirror\//);
  });

  it('lists H1–H5, H8, H9, H10, H12, M1, M2, M3, M8, F1 and F2, each once, all kernel-side and registered', () => {
    const ids = KERNEL_MUTANTS.map((m) => m.id);
    expect(ids).toEqual([
      'H1',
      'H2',
      'H3',
      'H4',
      'H5',
      'H8',
      'H9',
      'H10',
      'H12',
      'M1',
      'M2',
      'M3',
      'M8',
      'F1',
      'F2',
    ]);
    for (const m of KERNEL_MUTANTS) {
      expect(MUTANT_IDS).toContain(m.id);
      expect(m.side).toBe('kernel');
      expect(MUTANTS).toContain(m);
      expect(m.schedules).toBeLessThanOrEqual(2000);
      expect(m.title.length).toBeGreaterThan(10);
      expect(m.site).toMatch(/^src\/(mm|hmm|devmem)\//);
    }
  });
});

describe.each(MUTANTS.map((m) => [m.id, m] as const))('mutant %s', (id, spec) => {
  it(`is killed by the ${spec.oracle} oracle within ${spec.schedules} ${spec.strategy} schedules (seed ${SEED})`, async () => {
    const report = await run(spec, id);
    expect(report.mutant).toBe(id);
    expect(
      report.failure,
      `${id} survived ${report.schedules} schedules of "${spec.scenario.name}"`,
    ).not.toBeNull();
    expect(report.failure!.violation.oracle, report.failure!.violation.message).toBe(spec.oracle);
    expect(report.schedules).toBeLessThanOrEqual(spec.schedules);
  });

  it(`the unmutated system survives "${spec.scenario.name}" for the same budget (seed ${SEED})`, async () => {
    const report = await run(spec, null);
    expect(report.failure?.violation ?? null).toBeNull();
    expect(report.schedules).toBe(spec.schedules);
  });
});

describe('H1 without the restart invariant', () => {
  // The assertion oracle catches H1 by checking `last` itself; the scenario's own check must also
  // see what the wrong restart does: a page faulted back that nobody asked for.
  it('is killed by the scenario check alone: exclusive access revoked (random, seed 1)', async () => {
    const report = await explore({
      ...walkRestartVersusOwnExclusive,
      mutant: 'H1',
      strategy: 'random',
      schedules: 100,
      seed: SEED,
      shrink: false,
      oracles: [],
    });
    expect(report.failure).not.toBeNull();
    expect(report.failure!.violation.oracle).toBe('scenario');
    expect(report.failure!.violation.message).toContain('no longer device-exclusive');
  });

  it('the unmutated walk never revokes it (random, seed 1, 100 schedules)', async () => {
    const report = await explore({
      ...walkRestartVersusOwnExclusive,
      mutant: null,
      strategy: 'random',
      schedules: 100,
      seed: SEED,
      shrink: false,
      oracles: [],
    });
    expect(report.failure).toBeNull();
  });
});

describe('M2 stale TLB model', () => {
  it('holds translations per mm and vpn until flushed; read-only ones do not serve writes', async () => {
    const machine = new Machine({ memory: 16 * 1024 * 1024, hugetlbPages: 0 });
    const p = await machine.createProcess();
    const q = await machine.createProcess();
    staleTlbInsert(p.mm, 10, 1234, true);
    staleTlbInsert(p.mm, 11, 1235, false);
    expect(staleTlbLookup(p.mm, 10, true)).toBe(1234);
    expect(staleTlbLookup(p.mm, 11, false)).toBe(1235);
    expect(staleTlbLookup(p.mm, 11, true)).toBe(-1);
    expect(staleTlbLookup(q.mm, 10, false)).toBe(-1);
    staleTlbFlush(p.mm, 11, 12);
    expect(staleTlbLookup(p.mm, 11, false)).toBe(-1);
    expect(staleTlbLookup(p.mm, 10, false)).toBe(1234);
    staleTlbFlush(p.mm, 0, 100);
    expect(staleTlbLookup(p.mm, 10, false)).toBe(-1);
  });

  it('is consulted by CPU accesses only while M2 is active', async () => {
    for (const mutant of ['M2', null] as const) {
      const machine = new Machine({ memory: 16 * 1024 * 1024, hugetlbPages: 0, mutant });
      const p = await machine.createProcess();
      const a = await p.mmap(0, 2 * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      await p.store32(a, 0x1111);
      await p.store32(a + PAGE_SIZE, 0x2222);
      // Pretend the CPU still caches a translation of page 1's address to page 0's frame.
      const pfn0 = machine.pt.words[findEntry(machine.pt, p.mm.pgd, a / PAGE_SIZE, 1) + 1]!;
      staleTlbInsert(p.mm, (a + PAGE_SIZE) / PAGE_SIZE, pfn0, true);
      expect(await p.load32(a + PAGE_SIZE)).toBe(mutant === 'M2' ? 0x1111 : 0x2222);
      staleTlbFlush(p.mm, 0, 2 ** 40);
      expect(await p.load32(a + PAGE_SIZE)).toBe(0x2222);
    }
  });
});
