/**
 * The explorer's post-setup snapshot: `GraphSnapshot` puts objects, arrays, maps, sets and typed
 * arrays back in place and refuses what it cannot record; a `ScheduleRunner` that restores it
 * gives, schedule for schedule, the same result and account (every bus event, decision and
 * switch) as fresh machines, on both benchmark scenarios and on every mutant's scenario with
 * and without its mutant.
 */
import { describe, expect, it } from 'vitest';
import { readVersusMunmap, readVersusStore } from '../../../bench/explore.bench.ts';
import { explore } from '../../../src/explore/explore.ts';
import { MUTANTS } from '../../../src/explore/mutants/index.ts';
import { runSchedule, ScheduleRunner } from '../../../src/explore/runner.ts';
import { GraphSnapshot, SnapshotRefused } from '../../../src/explore/snapshot.ts';
import { RandomStrategy } from '../../../src/explore/strategies/random.ts';
import type { Strategy } from '../../../src/explore/strategies/strategy.ts';
import type { Scenario } from '../../../src/explore/types.ts';
import type { MutantId } from '../../../src/mm/mutant.ts';
import { counterScenario } from './scenarios.ts';

/** The WebAssembly global (the project's TypeScript libraries do not declare it). */
interface WasmGlobal {
  WebAssembly: { Memory: new (d: { initial: number }) => object };
}

describe('GraphSnapshot', () => {
  it('restores fields, arrays, maps, sets and typed arrays in the same objects', () => {
    class Node {
      value = 1;
      next: Node | null = null;
      readonly list: number[] = [1, 2];
      readonly words = new Uint32Array(4);
    }
    const a = new Node();
    const b = new Node();
    a.next = b;
    a.words[1] = 7;
    const map = new Map<string, Node>([['a', a]]);
    const set = new Set<Node>([b]);
    const roots = { a, map, set, view: new DataView(a.words.buffer) };
    const snap = new GraphSnapshot([roots]);

    a.value = 5;
    a.next = new Node();
    a.list.push(3);
    a.list[0] = 9;
    b.list.length = 0;
    a.words[1] = 8;
    a.words[2] = 1;
    map.delete('a');
    map.set('c', b);
    set.add(a);
    (a as unknown as Record<string, unknown>).added = true;
    delete (b as unknown as Record<string, unknown>).value;
    snap.restore();

    expect(roots.a).toBe(a);
    expect(a.value).toBe(1);
    expect(a.next).toBe(b);
    expect(a.list).toEqual([1, 2]);
    expect(b.list).toEqual([1, 2]);
    expect([...a.words]).toEqual([0, 7, 0, 0]);
    expect([...map]).toEqual([['a', a]]);
    expect([...set]).toEqual([b]);
    expect(Object.keys(a)).not.toContain('added');
    expect(b.value).toBe(1);
  });

  it('keeps functions and shared objects by identity and does not restore frozen ones', () => {
    const shared = { n: 1 };
    const frozen = Object.freeze({ inner: { n: 1 } });
    const f = (): number => 1;
    const root = { f, shared, frozen };
    const snap = new GraphSnapshot([root], new Set([shared]));
    root.f = (): number => 2;
    shared.n = 2;
    frozen.inner.n = 2;
    snap.restore();
    expect(root.f).toBe(f);
    expect(shared.n).toBe(2);
    expect(frozen.inner.n).toBe(1);
  });

  it.each([
    ['a promise', { p: Promise.resolve() }],
    ['a WeakMap', { w: new WeakMap() }],
    ['a date', { d: new Date(0) }],
    ['an accessor', Object.defineProperty({}, 'x', { get: () => 1, enumerable: true })],
    ['a symbol-keyed property', { [Symbol('s')]: 1 }],
    ['an array with extra properties', { a: Object.assign([1], { extra: 2 }) }],
    [
      'a WebAssembly memory',
      { m: new (globalThis as unknown as WasmGlobal).WebAssembly.Memory({ initial: 1 }) },
    ],
  ])('refuses %s', (_what, root) => {
    expect(() => new GraphSnapshot([root])).toThrow(SnapshotRefused);
  });
});

/** Runs `n` schedules of `scenario` two ways in lockstep, fresh and restored, and compares each. */
async function compare<S>(
  scenario: Scenario<S>,
  mutant: MutantId | null,
  seed: number,
  n: number,
): Promise<void> {
  const fresh: Strategy = new RandomStrategy(seed);
  const restored: Strategy = new RandomStrategy(seed);
  const runner = new ScheduleRunner(scenario, { seed, mutant, record: true }, true);
  try {
    for (let i = 0; i < n; i++) {
      const c1 = fresh.next();
      const c2 = restored.next();
      if (c1 === null || c2 === null) break;
      const a = await runSchedule(scenario, c1, { seed, mutant, record: true });
      const b = await runner.run(c2);
      expect(JSON.stringify(b), `${scenario.name} (mutant ${mutant}), schedule ${i}`).toBe(JSON.stringify(a));
      fresh.done(a);
      restored.done(b);
    }
    expect(runner.refused).toBeNull();
  } finally {
    runner.dispose();
  }
}

describe('ScheduleRunner: a restored machine runs every schedule as a fresh one', () => {
  it.each([readVersusMunmap, readVersusStore].map((s) => [s.name, s] as const))(
    'bench scenario %s, 150 schedules',
    async (_name, scenario) => {
      await compare(scenario, null, 3, 150);
    },
  );

  it.each(MUTANTS.map((m) => [m.id, m] as const))(
    'mutant %s: its scenario with and without it, 40 schedules each (after violations too)',
    async (id, spec) => {
      // The schedules after a violation are compared as well (explore stops at the first).
      await compare(spec.scenario, id, 7, 40);
      await compare(spec.scenario, null, 7, 40);
    },
  );

  it('explore gives the same report with and without the snapshot', async () => {
    const lost = counterScenario({ atomic: false, threads: 3, rounds: 2 });
    for (const strategy of ['random', 'pct', 'portfolio'] as const) {
      const on = await explore({ ...lost, strategy, schedules: 200, seed: 5 });
      const off = await explore({ ...lost, strategy, schedules: 200, seed: 5, snapshot: false });
      expect(JSON.stringify({ ...on, elapsedMs: 0 })).toBe(JSON.stringify({ ...off, elapsedMs: 0 }));
    }
  });
});
