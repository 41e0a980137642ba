/**
 * The portfolio strategy (random plus PCT at depths 2 … threads + 1, in turn), interleaving
 * coverage, and what a shrink says about itself.
 */
import { describe, expect, it } from 'vitest';
import { explore } from '../../../src/explore/explore.ts';
import { PctStrategy } from '../../../src/explore/strategies/pct.ts';
import { PortfolioStrategy, portfolioDepths } from '../../../src/explore/strategies/portfolio.ts';
import { RandomStrategy } from '../../../src/explore/strategies/random.ts';
import { counterScenario } from './scenarios.ts';

const lostUpdate = counterScenario({ atomic: false });
const atomic = counterScenario({ atomic: true });

describe('portfolio strategy', () => {
  it('takes PCT depths 2 … threads + 1 (at most 5) besides a random walk, members in turn', () => {
    expect(portfolioDepths(1)).toEqual([2]);
    expect(portfolioDepths(3)).toEqual([2, 3, 4]);
    expect(portfolioDepths(9)).toEqual([2, 3, 4, 5]);
    const p = new PortfolioStrategy(1, 3);
    expect(p.members.map((m) => (m instanceof PctStrategy ? `pct${m.depth}` : m.name))).toEqual([
      'random',
      'pct2',
      'pct3',
      'pct4',
    ]);
    expect(p.members[0]).toBeInstanceOf(RandomStrategy);
    const seen: string[] = [];
    for (let i = 0; i < 6; i++) {
      p.next();
      seen.push(p.describeLast());
    }
    expect(seen).toEqual(['random', 'pct depth 2', 'pct depth 3', 'pct depth 4', 'random', 'pct depth 2']);
  });

  it('is the default; finds the lost update; the same seed gives the same report', async () => {
    const a = await explore({ ...lostUpdate, schedules: 100, oracles: [], seed: 3 });
    const b = await explore({ ...lostUpdate, schedules: 100, oracles: [], seed: 3 });
    expect(a.strategy).toBe('portfolio');
    expect(a.failure?.violation.message).toContain('expected 2');
    expect(b.failure?.token).toBe(a.failure?.token);
    expect(b.schedules).toBe(a.schedules);
  });

  it('finds nothing in the atomic counter', async () => {
    const r = await explore({ ...atomic, schedules: 60, oracles: [] });
    expect(r.failure).toBeNull();
    expect(r.schedules).toBe(60);
  });
});

describe('interleaving coverage', () => {
  it('counts distinct ordered pairs of preemption points and when the last new one came', async () => {
    const r = await explore({ ...atomic, strategy: 'random', schedules: 200, oracles: [] });
    const c = r.coverage!;
    expect(c.pairs).toBeGreaterThan(1);
    expect(c.points).toBeGreaterThan(1);
    expect(c.pairs).toBeLessThanOrEqual(c.points * c.points);
    expect(c.lastNewAt).toBeGreaterThan(0);
    // A two-thread counter has few interleavings: they are all found long before 200 schedules.
    expect(c.lastNewAt).toBeLessThan(200);
    const again = await explore({ ...atomic, strategy: 'random', schedules: 400, oracles: [] });
    expect(again.coverage!.pairs).toBe(c.pairs);
  });
});

describe('what shrinking says', () => {
  it('reports decisions and preemptions before and after, and whether it reduced anything', async () => {
    const r = await explore({ ...lostUpdate, strategy: 'random', schedules: 50, oracles: [], seed: 5 });
    const f = r.failure!;
    expect(f.shrunkLength).toBeLessThanOrEqual(f.originalLength);
    expect(f.shrunkPreemptions).toBeLessThanOrEqual(f.originalPreemptions);
    expect(f.shrinkOutcome).toMatch(/^(reduced|not reduced: .+)$/);
    expect(f.text).toContain(`preemptions: ${f.shrunkPreemptions} (as found: ${f.originalPreemptions})`);
    const off = await explore({
      ...lostUpdate,
      strategy: 'random',
      schedules: 50,
      oracles: [],
      seed: 5,
      shrink: false,
    });
    expect(off.failure!.shrinkOutcome).toBe('not shrunk');
  });
});
