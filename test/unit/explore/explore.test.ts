import { describe, expect, it } from 'vitest';
import { explore } from '../../../src/explore/explore.ts';
import type { ExploreOptions, ExploreProgress } from '../../../src/explore/types.ts';
import { UsageError } from '../../../src/sim/errors.ts';
import { type Counter, counterScenario, readVersusMunmap } from './scenarios.ts';

const lost = counterScenario({ atomic: false });
const atomic = counterScenario({ atomic: true });

/** The UsageError `explore(options)` rejects with. */
async function usageError(options: unknown): Promise<UsageError> {
  try {
    await explore(options as ExploreOptions<Counter>);
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return err as UsageError;
  }
  throw new Error('expected a UsageError');
}

describe('explore: options', () => {
  it.each([
    [{ strategy: 'dfs' }, 'explore(options.strategy)'],
    [{ schedules: 0 }, 'explore(options.schedules)'],
    [{ schedules: -5 }, 'explore(options.schedules)'],
    [{ schedules: 1.5 }, 'explore(options.schedules)'],
    [{ seconds: 0 }, 'explore(options.seconds)'],
    [{ mutant: 'Q7' }, 'explore(options.mutant)'],
    [{ seed: -1 }, 'explore(options.seed)'],
    [{ depth: 0 }, 'explore(options.depth)'],
    [{ preemptionBound: -1 }, 'explore(options.preemptionBound)'],
    [{ progressEvery: 0 }, 'explore(options.progressEvery)'],
    [{ onProgress: 'yes' }, 'explore(options.onProgress)'],
    [{ threads: { a: 'not a function' } }, 'explore(threads.a)'],
    [{ threads: {} }, 'explore(threads)'],
    [{ setup: undefined }, 'explore(setup)'],
    [{ name: '' }, 'explore(name)'],
    [{ stepBudget: 0 }, 'explore(stepBudget)'],
    [{ oracles: [1] }, 'explore(options.oracles)'],
    [{ snapshot: 'yes' }, 'explore(snapshot)'],
  ])('rejects %o', async (bad, what) => {
    const err = await usageError({ ...atomic, ...bad });
    expect(err.what).toBe(what);
  });

  it('rejects a non-object', async () => {
    expect((await usageError(null)).what).toBe('explore(options)');
  });
});

describe('explore: budget, progress, determinism', () => {
  it('runs the budget in schedules and reports progress every progressEvery', async () => {
    const seen: ExploreProgress[] = [];
    const r = await explore({
      ...atomic,
      schedules: 250,
      progressEvery: 100,
      oracles: [],
      onProgress: (p) => seen.push(p),
    });
    expect(r.schedules).toBe(250);
    expect(r.failure).toBeNull();
    expect(seen.map((p) => p.schedules)).toEqual([100, 200]);
    expect(seen[0]).toMatchObject({ budget: 250, violations: 0, elapsedMs: 0 });
  });

  it('reports the failing schedule as progress too', async () => {
    const seen: ExploreProgress[] = [];
    const r = await explore({
      ...lost,
      seed: 2,
      progressEvery: 1000,
      oracles: [],
      onProgress: (p) => seen.push(p),
    });
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ schedules: r.schedules, violations: 1 });
  });

  it('stops on a time budget measured with the injected clock', async () => {
    let t = 0;
    const now = (): number => {
      t += 10;
      return t;
    };
    const r = await explore({ ...atomic, seconds: 0.5, now, oracles: [] });
    // 10 ms per reading: the start, one reading per loop test, one per schedule's progress check.
    expect(r.schedules).toBeGreaterThan(5);
    expect(r.schedules).toBeLessThan(60);
    expect(r.elapsedMs).toBeGreaterThanOrEqual(500);
  });

  it('the same seed gives the same report; the failure is shrunk and explained', async () => {
    for (const strategy of ['random', 'pct', 'exhaustive'] as const) {
      const options = {
        ...counterScenario({ atomic: false, threads: 3, rounds: 2 }),
        strategy,
        seed: 9,
        oracles: [],
      };
      const a = await explore(options);
      const b = await explore(options);
      expect(b).toEqual(a);
      const f = a.failure!;
      expect(f.violation.oracle).toBe('scenario');
      expect(f.shrunkLength).toBeLessThanOrEqual(f.originalLength);
      expect(f.token).toMatch(/^hx1\.lost-update\.9\.none\./);
      expect(f.text).toContain(`replay: ${f.shrunkToken}`);
      expect(f.text).toContain('VIOLATION (scenario) in #0 main');
      expect(f.text).toContain('» switch from');
      expect(f.account.length).toBeGreaterThan(0);
    }
  });

  it('finds nothing in the device read racing munmap with the default oracles', async () => {
    const r = await explore({ ...readVersusMunmap, strategy: 'random', schedules: 100, seed: 1 });
    expect(r.failure?.text ?? null).toBeNull();
    expect(r).toMatchObject({ scenario: 'read-vs-munmap', strategy: 'random', mutant: null, schedules: 100 });
  });
});
