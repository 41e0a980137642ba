import { describe, expect, it } from 'vitest';
import { explore } from '../../../src/explore/explore.ts';
import { runSchedule } from '../../../src/explore/runner.ts';
import {
  ExhaustiveStrategy,
  NondeterministicScenarioError,
} from '../../../src/explore/strategies/exhaustive.ts';
import { PctStrategy } from '../../../src/explore/strategies/pct.ts';
import { RandomStrategy } from '../../../src/explore/strategies/random.ts';
import type { Scenario } from '../../../src/explore/types.ts';
import { type Counter, counterScenario, SMALL_MACHINE } from './scenarios.ts';

const lostUpdate = counterScenario({ atomic: false });
const atomic = counterScenario({ atomic: true });

describe('random strategy', () => {
  it('finds the lost update of a non-atomic counter', async () => {
    const r = await explore({ ...lostUpdate, strategy: 'random', schedules: 50, oracles: [], seed: 5 });
    expect(r.failure?.violation.oracle).toBe('scenario');
    expect(r.failure?.violation.message).toContain('counter is 1, expected 2');
    expect(r.exhausted).toBe(false);
  });

  it('finds nothing in the atomic counter', async () => {
    const r = await explore({ ...atomic, strategy: 'random', schedules: 50, oracles: [] });
    expect(r.failure).toBeNull();
    expect(r.schedules).toBe(50);
  });

  it('draws the same choices from the same seed', async () => {
    const a = new RandomStrategy(7);
    const b = new RandomStrategy(7);
    const fake = [{}, {}, {}] as never[];
    const xs = Array.from({ length: 20 }, () => a.next().choose(fake, 'p'));
    const ys = Array.from({ length: 20 }, () => b.next().choose(fake, 'p'));
    expect(xs).toEqual(ys);
    expect(new Set(xs).size).toBe(3);
  });
});

describe('PCT strategy', () => {
  it('finds the lost update with depth 2', async () => {
    const r = await explore({
      ...lostUpdate,
      strategy: 'pct',
      depth: 2,
      schedules: 100,
      oracles: [],
      seed: 3,
    });
    expect(r.failure?.violation.oracle).toBe('scenario');
  });

  it('never preempts with depth 1 (no change point): the highest priority thread runs to its end', async () => {
    const r = await explore({
      ...lostUpdate,
      strategy: 'pct',
      depth: 1,
      schedules: 100,
      oracles: [],
      seed: 3,
    });
    expect(r.failure).toBeNull();
    expect(r.schedules).toBe(100);
  });

  it('learns the run length from the schedules it saw', async () => {
    const pct = new PctStrategy(1, 2);
    pct.next();
    pct.done({
      choices: new Array(40).fill(0),
      violation: null,
      account: [],
      steps: 0,
      switches: 0,
      preemptions: 0,
      time: 0,
    });
    // With k = 40 the change point lies in [1, 40]: over many schedules some lie beyond 16.
    let beyond = false;
    for (let i = 0; i < 50; i++) {
      pct.next();
      const changes = (pct as unknown as { changes: number[] }).changes;
      expect(changes).toHaveLength(1);
      expect(changes[0]).toBeGreaterThanOrEqual(1);
      expect(changes[0]).toBeLessThanOrEqual(40);
      if (changes[0]! > 16) beyond = true;
    }
    expect(beyond).toBe(true);
  });
});

describe('exhaustive strategy', () => {
  // Two threads, one preemption point each. Decisions: which thread starts (2 ways, free), then
  // at the first thread's point: continue, or preempt (1 preemption); after a preemption the
  // second thread's point may preempt back (a 2nd preemption). So 2 schedules with bound 0,
  // 2·2 = 4 with bound 1, 2·3 = 6 with bound 2.
  it.each([
    [0, 2],
    [1, 4],
    [2, 6],
    [3, 6],
  ])('enumerates every schedule of two threads with bound %i: %i schedules', async (bound, count) => {
    const r = await explore({
      ...atomic,
      strategy: 'exhaustive',
      preemptionBound: bound,
      schedules: 1000,
      oracles: [],
    });
    expect(r.failure).toBeNull();
    expect(r.exhausted).toBe(true);
    expect(r.schedules).toBe(count);
  });

  it('three threads with bound 0: 3 · 2 = 6 orders of the whole threads', async () => {
    const r = await explore({
      ...counterScenario({ atomic: true, threads: 3 }),
      strategy: 'exhaustive',
      preemptionBound: 0,
      oracles: [],
    });
    expect(r.exhausted).toBe(true);
    expect(r.schedules).toBe(6);
  });

  it('misses the lost update with bound 0 and finds it with bound 1', async () => {
    const none = await explore({ ...lostUpdate, strategy: 'exhaustive', preemptionBound: 0, oracles: [] });
    expect(none.failure).toBeNull();
    expect(none.exhausted).toBe(true);
    expect(none.schedules).toBe(2);
    const found = await explore({ ...lostUpdate, strategy: 'exhaustive', preemptionBound: 1, oracles: [] });
    expect(found.failure?.violation.message).toContain('counter is 1');
    // Depth-first: [0, 0] passes, [0, 1, 0] (inc0 preempted at its point) fails.
    expect(found.schedules).toBe(2);
    expect(found.exhausted).toBe(false);
  });

  it('stops at the budget without claiming exhaustion', async () => {
    const r = await explore({
      ...atomic,
      strategy: 'exhaustive',
      preemptionBound: 2,
      schedules: 3,
      oracles: [],
    });
    expect(r.schedules).toBe(3);
    expect(r.exhausted).toBe(false);
  });

  it('reports a scenario that does not repeat itself', async () => {
    let runs = 0;
    const flaky: Scenario<Counter> = {
      name: 'flaky',
      machine: SMALL_MACHINE,
      setup: () => ({ n: runs++ }),
      threads: {
        async a(s, m) {
          // Only the first run passes a preemption point here.
          if (s.n === 0) await m.sched.yield('a');
        },
        async b(_s, m) {
          await m.sched.yield('b');
        },
      },
    };
    const strategy = new ExhaustiveStrategy(1);
    const first = strategy.next()!;
    strategy.done(await runSchedule(flaky, first, { seed: 1, oracles: [] }));
    const second = strategy.next()!;
    await expect(
      runSchedule(flaky, second, { seed: 1, oracles: [] }).then((r) => strategy.done(r)),
    ).rejects.toThrow(NondeterministicScenarioError);
  });
});
