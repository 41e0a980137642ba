import { describe, expect, it } from 'vitest';
import { RandomPolicy, RoundRobinPolicy, RunToBlockPolicy } from '../../../src/sim/policy.ts';
import { Prng } from '../../../src/sim/prng.ts';
import { SimThread } from '../../../src/sim/thread.ts';

/** Candidates as the scheduler passes them: at a point the running thread first; after a block, only waiting ones. */
function threads(states: SimThread['state'][]): SimThread[] {
  return states.map((state, i) => {
    const t = new SimThread(i, `t${i}`);
    t.state = state;
    return t;
  });
}

describe('RunToBlockPolicy', () => {
  it('is not preemptive and takes the first candidate', () => {
    const p = new RunToBlockPolicy();
    expect(p.preemptive).toBe(false);
    expect(p.choose()).toBe(0);
  });
});

describe('RoundRobinPolicy', () => {
  const p = new RoundRobinPolicy();

  it('is preemptive', () => {
    expect(p.preemptive).toBe(true);
  });

  it('at a point passes over the running thread to the longest-waiting one', () => {
    expect(p.choose(threads(['running', 'runnable', 'runnable']))).toBe(1);
  });

  it('after a block or an exit takes the longest-waiting thread', () => {
    expect(p.choose(threads(['runnable', 'runnable', 'runnable']))).toBe(0);
  });

  it('keeps a lone candidate', () => {
    expect(p.choose(threads(['running']))).toBe(0);
    expect(p.choose(threads(['runnable']))).toBe(0);
  });
});

describe('RandomPolicy', () => {
  it('is preemptive and chooses like nextInt of its generator', () => {
    const p = new RandomPolicy(new Prng(5));
    const ref = new Prng(5);
    expect(p.preemptive).toBe(true);
    const cands = threads(['running', 'runnable', 'runnable', 'runnable']);
    const seen = new Set<number>();
    for (let i = 0; i < 200; i++) {
      const c = p.choose(cands);
      expect(c).toBe(ref.nextInt(4));
      seen.add(c);
    }
    expect([...seen].sort()).toEqual([0, 1, 2, 3]);
  });
});
