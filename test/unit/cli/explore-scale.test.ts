/** The seed and budget plan of `--shard I/N` (the core's planShares) and its parsing. */
import { describe, expect, it } from 'vitest';
import { isModuleScenario, parseShard } from '../../../src/cli/explore-scale.ts';
import { planShares as shardPlan, splitBudget } from '../../../src/explore/index.ts';

describe('shard plans', () => {
  it('N shards of one worker explore what --workers N explores: seeds s+i, the same shares', () => {
    const shares = splitBudget(1000, 3);
    for (let i = 0; i < 3; i++)
      expect(shardPlan(7, 1000, { index: i, count: 3 }, 1)).toEqual([{ seed: 7 + i, schedules: shares[i] }]);
  });

  it('shards with W workers cover seeds s … s+N·W−1 exactly once, the budget in all', () => {
    const seen: number[] = [];
    let total = 0;
    for (let i = 0; i < 4; i++)
      for (const p of shardPlan(1, 1003, { index: i, count: 4 }, 3)) {
        seen.push(p.seed);
        total += p.schedules;
      }
    expect(seen.sort((a, b) => a - b)).toEqual(Array.from({ length: 12 }, (_, g) => 1 + g));
    expect(total).toBe(1003);
  });

  it('a time budget gives every worker an unbounded share; tiny budgets leave empty shards out', () => {
    expect(shardPlan(1, Number.POSITIVE_INFINITY, { index: 1, count: 2 }, 2)).toEqual([
      { seed: 2, schedules: Number.POSITIVE_INFINITY },
      { seed: 4, schedules: Number.POSITIVE_INFINITY },
    ]);
    expect(shardPlan(1, 1, { index: 1, count: 2 }, 1)).toEqual([]);
  });

  it('parses I/N and refuses the rest', () => {
    expect(parseShard('3/8')).toEqual({ index: 3, count: 8 });
    expect(() => parseShard('8/8')).toThrow(/0 … N − 1/);
    expect(() => parseShard('a/b')).toThrow(/expected I\/N/);
    expect(isModuleScenario('x.ts')).toBe(true);
    expect(isModuleScenario('x.json')).toBe(false);
  });
});
