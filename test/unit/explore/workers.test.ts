/**
 * `workers` in the explore() API: shares of the budget run by an injected pool, merged into a
 * report that does not depend on the pool, its order or its timing; exact coverage union.
 */
import { describe, expect, it } from 'vitest';
import { uniteCoverage } from '../../../src/explore/coverage.ts';
import { explore } from '../../../src/explore/explore.ts';
import type { ExplorePool, ExploreReport, Scenario } from '../../../src/explore/types.ts';
import { exploreShare, planShares } from '../../../src/explore/workers.ts';
import { counterScenario, SMALL_MACHINE } from './scenarios.ts';

const atomic = counterScenario({ atomic: true, threads: 3 });

/**
 * A narrow window: `opener` sets a flag for one preemption point out of eight, and `looker`
 * fails when it sees it, so random schedules fail now and then, at various schedules.
 */
const lostUpdate: Scenario<{ open: boolean }> = {
  name: 'narrow-window',
  machine: SMALL_MACHINE,
  setup: () => ({ open: false }),
  threads: {
    opener: async (s, m) => {
      for (let i = 0; i < 8; i++) {
        s.open = i === 5;
        await m.sched.yield(`opener ${i}`);
      }
      s.open = false;
    },
    looker: async (s, m) => {
      for (let i = 0; i < 3; i++) {
        await m.sched.yield(`looker ${i}`);
        if (s.open && i === 2) throw new Error('saw the window');
      }
    },
  },
};

/**
 * A pool unlike the default: it runs the shares last to first and hears `stopAfter` only
 * `deafFor` schedules late (a worker thread busy with its schedule), or never.
 */
function awkwardPool<S>(scenario: Scenario<S>, deafFor: number): ExplorePool & { ran: number[] } {
  const started: (() => Promise<void>)[] = [];
  const ran: number[] = [];
  return {
    ran,
    start(share, events) {
      let limit = Number.POSITIVE_INFINITY;
      let resolve!: (r: ExploreReport) => void;
      const report = new Promise<ExploreReport>((r) => {
        resolve = r;
      });
      started.unshift(async () => {
        const r = await exploreShare(scenario, share, {
          explore,
          onProgress: (p) => events.progress(p),
          stopAfter: () => limit,
        });
        ran[share.worker] = r.schedules;
        resolve(r);
      });
      // Once every share is queued (start is called for all of them synchronously), run them.
      if (started.length === 1)
        queueMicrotask(async () => {
          for (const run of started) await run();
        });
      return {
        report,
        stopAfter(n) {
          if (deafFor >= 0) limit = Math.min(limit, n + deafFor);
        },
      };
    },
  };
}

const withoutTime = (r: ExploreReport): Omit<ExploreReport, 'elapsedMs'> => {
  const { elapsedMs: _, ...rest } = r;
  return rest;
};

describe('explore({ workers })', () => {
  it('without a failure: the same report in this thread and in any pool; the budget in all', async () => {
    const base = { ...atomic, strategy: 'random' as const, schedules: 90, seed: 4, oracles: [] };
    const here = await explore({ ...base, workers: 3 });
    expect(here.schedules).toBe(90);
    expect(here.workers).toEqual([
      { seed: 4, schedules: 30, failed: false },
      { seed: 5, schedules: 30, failed: false },
      { seed: 6, schedules: 30, failed: false },
    ]);
    const { oracles: _, ...pooled } = base;
    const there = await explore({ ...pooled, workers: 3, pool: awkwardPool(atomic, 0) });
    expect(withoutTime(there)).toEqual(withoutTime(await explore({ ...pooled, workers: 3 })));
  });

  it('with failures: the first by (schedule, worker) wins, the same whatever the pool heard', async () => {
    const base = { ...lostUpdate, strategy: 'random' as const, schedules: 400, seed: 11 };
    const here = await explore({ ...base, workers: 4 });
    expect(here.failure).not.toBeNull();
    // What each worker finds on its own: the winner is the first by schedule, then by worker.
    const alone = await Promise.all(
      planShares(11, 400, { index: 0, count: 1 }, 4).map((p) =>
        explore({ ...base, seed: p.seed, schedules: p.schedules }),
      ),
    );
    const places = alone
      .map((r, w) => ({ w, at: r.failure?.schedule ?? Number.POSITIVE_INFINITY }))
      .sort((a, b) => a.at - b.at || a.w - b.w);
    const win = places[0]!;
    // Not a trivial race: the workers fail at different schedules, the winner not at the first.
    expect(new Set(places.map((p) => p.at)).size).toBeGreaterThan(1);
    expect(here.seed).toBe(11 + win.w);
    expect(here.failure!.shrunkToken).toBe(alone[win.w]!.failure!.shrunkToken);
    expect(here.workers!.map((w) => w.failed)).toEqual([0, 1, 2, 3].map((w) => w === win.w));
    expect(here.schedules).toBe(
      [0, 1, 2, 3].reduce((n, w) => n + Math.min(alone[w]!.schedules, w <= win.w ? win.at + 1 : win.at), 0),
    );
    // A pool that hears stopAfter late, or never, runs more schedules but reports the same.
    for (const deafFor of [3, -1]) {
      const pool = awkwardPool(lostUpdate, deafFor);
      const there = await explore({ ...base, workers: 4, pool });
      expect(withoutTime(there)).toEqual(withoutTime(here));
      expect(pool.ran.reduce((a, b) => a + b, 0)).toBeGreaterThan(here.schedules);
    }
  });

  it('unites the coverage of its workers exactly', async () => {
    const base = { ...atomic, strategy: 'portfolio' as const, schedules: 60, oracles: [] };
    const merged = await explore({ ...base, workers: 2, seed: 2 });
    const a = await explore({ ...base, schedules: 30, seed: 2 });
    const b = await explore({ ...base, schedules: 30, seed: 3 });
    const pairs = (r: ExploreReport) => new Set(r.coverage!.seen!.map(([f, t]) => `${f}→${t}`));
    const union = new Set([...pairs(a), ...pairs(b)]);
    expect(merged.coverage!.pairs).toBe(union.size);
    expect(pairs(merged)).toEqual(union);
    expect(merged.coverage!.pairs).toBeGreaterThanOrEqual(Math.max(a.coverage!.pairs, b.coverage!.pairs));
    expect(uniteCoverage([a.coverage, b.coverage])).toEqual(merged.coverage);
    // Cut after schedule n, a coverage keeps only the pairs its first n schedules saw.
    const cut = uniteCoverage([a.coverage], [1])!;
    expect(cut.seen!.every(([, , at]) => at === 1)).toBe(true);
    expect(cut.pairs).toBe(a.coverage!.seen!.filter(([, , at]) => at === 1).length);
    expect(uniteCoverage([a.coverage, { pairs: 3, points: 2, lastNewAt: 1 }])).toBeNull();
  });

  it('one share (workers 1 of a shard) is a plain exploration of its seed', async () => {
    const base = { ...lostUpdate, strategy: 'random' as const, schedules: 100, oracles: [] };
    const shard = await explore({ ...base, seed: 1, workers: 1, shard: { index: 2, count: 4 } });
    const plain = await explore({ ...base, seed: 3, schedules: 25 });
    expect(withoutTime(shard)).toEqual(withoutTime(plain));
  });

  it('refuses bad values with what was wrong', async () => {
    const base = { ...atomic, schedules: 10 };
    const bad = async (extra: object, message: RegExp) =>
      expect(explore({ ...base, ...extra } as never)).rejects.toThrow(message);
    await bad({ workers: 0 }, /options\.workers.*integer ≥ 1, got 0/);
    await bad({ workers: 1.5 }, /options\.workers.*integer ≥ 1, got 1\.5/);
    await bad({ workers: 5000 }, /options\.workers.*at most 1024/);
    await bad({ workers: 2, pool: {} }, /options\.pool.*start\(share, events\)/);
    await bad({ shard: { index: 2, count: 2 } }, /options\.shard.*0 … count − 1, got 2 of 2/);
    await bad({ shard: { index: 0, count: 0 } }, /options\.shard\.count.*integer ≥ 1/);
    await bad(
      { workers: 2, strategy: 'exhaustive' },
      /options\.workers.*exhaustive search runs on one worker/,
    );
    await bad({ workers: 2, pool: awkwardPool(atomic, 0), oracles: [] }, /options\.oracles.*cannot cross/);
    await bad({ schedules: 1, shard: { index: 1, count: 2 } }, /shard 1 of 2 has no schedules/);
    await expect(
      exploreShare(
        lostUpdate,
        {
          worker: 0,
          scenario: 'other',
          strategy: 'random',
          seed: 1,
          schedules: 1,
          mutant: null,
          shrink: false,
          progressEvery: 1,
        },
        { explore },
      ),
    ).rejects.toThrow(/rebuilt scenario "narrow-window", but the share is of "other"/);
  });
});
