import { describe, expect, it } from 'vitest';
import { explore } from '../../../src/explore/explore.ts';
import { parseReplayToken, trimChoices } from '../../../src/explore/replay-token.ts';
import { runSchedule } from '../../../src/explore/runner.ts';
import { shrinkSchedule } from '../../../src/explore/shrink.ts';
import { ListChooser } from '../../../src/explore/strategies/list.ts';
import { counterScenario } from './scenarios.ts';

const lost = counterScenario({ atomic: false, threads: 3, rounds: 4 });

describe('shrinkSchedule', () => {
  it('finds a failing schedule no longer than the original, with the same oracle', async () => {
    for (const seed of [1, 2, 3, 4]) {
      const report = await explore({ ...lost, seed, schedules: 200, oracles: [], shrink: false });
      const failure = report.failure!;
      expect(failure.shrunkToken).toBe(failure.token);
      // The default schedule (no preemption) passes: the failure needs its choices.
      const plain = await runSchedule(lost, new ListChooser([], true), { seed, oracles: [] });
      expect(plain.violation).toBeNull();
      const original = parseReplayToken(failure.token).choices;
      const s = await shrinkSchedule(lost, original, 'scenario', { seed, oracles: [] });
      expect(s.choices.length).toBeLessThanOrEqual(original.length);
      expect(s.runs).toBeLessThanOrEqual(500);
      const again = await runSchedule(lost, new ListChooser(s.choices, true), { seed, oracles: [] });
      expect(again.violation?.oracle).toBe('scenario');
      expect(trimChoices(again.choices)).toEqual(s.choices);
    }
  });

  it('shrinks a noisy lost update down to one preemption', async () => {
    const two = counterScenario({ atomic: false, threads: 2, rounds: 3 });
    const noisy = [1, 1, 0, 1, 1, 0, 1, 1, 1, 0, 1];
    const r = await runSchedule(two, new ListChooser(noisy, false), { seed: 1, oracles: [] });
    expect(r.violation?.oracle).toBe('scenario');
    const s = await shrinkSchedule(two, r.choices, 'scenario', { seed: 1, oracles: [] });
    expect(s.choices.filter((c) => c !== 0)).toEqual([1]);
    expect(s.choices.length).toBeLessThan(trimChoices(r.choices).length);
  });

  it('keeps to its bound on re-runs', async () => {
    const report = await explore({ ...lost, seed: 1, schedules: 200, oracles: [], shrink: false });
    const original = parseReplayToken(report.failure!.token).choices;
    const s = await shrinkSchedule(lost, original, 'scenario', { seed: 1, oracles: [], maxRuns: 3 });
    expect(s.runs).toBeLessThanOrEqual(3);
    expect(s.choices.length).toBeLessThanOrEqual(original.length);
  });
});
