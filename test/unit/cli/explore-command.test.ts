/** Sharding of `hmmsim explore --workers` (the core's plan and merge); the selftest filter. */
import { describe, expect, it } from 'vitest';
import { matchesFilter } from '../../../src/cli/main.ts';
import {
  type ExploreFailure,
  type ExploreReport,
  mergeShareReports as mergeReports,
  splitBudget,
} from '../../../src/explore/index.ts';

const report = (seed: number, schedules: number, failAt: number | null): ExploreReport => ({
  scenario: 's',
  strategy: 'random',
  mutant: null,
  seed,
  schedules,
  exhausted: false,
  elapsedMs: seed * 10,
  failure:
    failAt === null
      ? null
      : ({
          schedule: failAt,
          token: `t${seed}`,
          violation: { oracle: 'mirror' },
        } as unknown as ExploreFailure),
});

describe('explore --workers', () => {
  it('splits a budget among workers', () => {
    expect(splitBudget(1000, 3)).toEqual([334, 333, 333]);
    expect(splitBudget(2, 4)).toEqual([1, 1, 0, 0]);
  });

  it('merges reports: the first failure by schedule order, then by worker; each cut where it puts them', () => {
    const m = mergeReports([report(1, 50, null), report(2, 8, 7), report(3, 8, 7), report(4, 3, 2)]);
    // Worker 3 failed in its schedule 2: workers before it count schedules 0 … 2, the later none.
    expect(m.schedules).toBe(12);
    expect(m.failure?.token).toBe('t4');
    expect(m.seed).toBe(4);
    expect(m.elapsedMs).toBe(40);
    expect(m.workers).toEqual([
      { seed: 1, schedules: 3, failed: false },
      { seed: 2, schedules: 3, failed: false },
      { seed: 3, schedules: 3, failed: false },
      { seed: 4, schedules: 3, failed: true },
    ]);
    expect(mergeReports([report(1, 5, 3), report(2, 5, 3)]).failure?.token).toBe('t1');
    expect(mergeReports([report(1, 5, null), report(2, 5, null)])).toMatchObject({ failure: null, seed: 1 });
  });
});

describe('selftest --filter', () => {
  it('matches a substring, or a glob with * and ?', () => {
    expect(matchesFilter('hmm.hmm_device_private.anon_read', 'anon_read')).toBe(true);
    expect(matchesFilter('hmm.hmm_device_private.anon_read', 'hmm.*.anon_rea?')).toBe(true);
    expect(matchesFilter('hmm.hmm_device_private.anon_read_prot', 'hmm.*.anon_rea?')).toBe(false);
    expect(matchesFilter('hmm2.hmm2_device_private.snapshot', 'migrate')).toBe(false);
  });
});
