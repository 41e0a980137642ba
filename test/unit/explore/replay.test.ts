import { describe, expect, it } from 'vitest';
import { formatAccount } from '../../../src/explore/account.ts';
import { explore, replay } from '../../../src/explore/explore.ts';
import { defaultOracles } from '../../../src/explore/oracles/index.ts';
import { formatReplayToken, parseReplayToken, trimChoices } from '../../../src/explore/replay-token.ts';
import { UsageError } from '../../../src/sim/errors.ts';
import { counterScenario, readVersusMunmap } from './scenarios.ts';

const SHELL_SAFE = /^[A-Za-z0-9._-]+$/;

describe('replay tokens', () => {
  it('round-trips scenario, seed, mutant and choices', () => {
    const cases = [
      { scenario: 'read-vs-munmap', seed: 1, mutant: null, choices: [] },
      {
        scenario: 'a b.c_d/é ✓',
        seed: 4294967295,
        mutant: 'D1' as const,
        choices: [0, 0, 1, 0, 2, 2, 2, 35, 36, 1000],
      },
      {
        scenario: 'x',
        seed: 0,
        mutant: 'L1' as const,
        choices: [...new Array(5000).fill(0), 1, ...new Array(70).fill(3)],
      },
    ];
    for (const c of cases) {
      const token = formatReplayToken(c);
      expect(token).toMatch(SHELL_SAFE);
      expect(parseReplayToken(token)).toEqual({ ...c, choices: trimChoices(c.choices) });
    }
  });

  it('is compact: runs are counted, trailing zeros dropped', () => {
    const token = formatReplayToken({
      scenario: 's',
      seed: 7,
      mutant: null,
      choices: [...new Array(56).fill(0), 1, 0, 0, 0, 0, 0, 2, 0, 0, 0],
    });
    expect(token).toBe('hx1.s.7.none.0_1k-1-0_5-2');
  });

  it.each([
    ['hx1.s.1.none', 'replay token'],
    ['hx2.s.1.none.', 'replay token version'],
    ['hx1.a b.1.none.', 'replay token scenario'],
    ['hx1._zz.1.none.', 'replay token scenario'],
    ['hx1.s.01.none.', 'replay token seed'],
    ['hx1.s.-1.none.', 'replay token seed'],
    ['hx1.s.1.Z9.', 'replay token mutant'],
    ['hx1.s.1.none.1--2', 'replay token choices'],
    ['hx1.s.1.none.1_0', 'replay token choices'],
    ['hx1.s.1.none.A', 'replay token choices'],
  ])('rejects %s, naming the %s', (token, what) => {
    let err: unknown;
    try {
      parseReplayToken(token);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).what).toBe(what);
  });
});

describe('replay', () => {
  it('reproduces the same run, event for event', async () => {
    const token = formatReplayToken({
      scenario: readVersusMunmap.name,
      seed: 3,
      mutant: null,
      choices: [1, 0, 1, 1],
    });
    const a = await replay(readVersusMunmap, token);
    const b = await replay(readVersusMunmap, token);
    expect(a.account.length).toBeGreaterThan(10);
    expect(b).toEqual(a);
    expect(formatAccount(b.account, b.violation)).toBe(formatAccount(a.account, a.violation));
  });

  it('different choices give a different interleaving', async () => {
    const t = (choices: number[]) =>
      formatReplayToken({ scenario: readVersusMunmap.name, seed: 3, mutant: null, choices });
    const a = await replay(readVersusMunmap, t([0]));
    const b = await replay(readVersusMunmap, t([1]));
    expect(b.account).not.toEqual(a.account);
  });

  it('reproduces the violation of a failing token', async () => {
    const lost = counterScenario({ atomic: false });
    const report = await explore({ ...lost, seed: 11, schedules: 100, oracles: [] });
    const failure = report.failure!;
    for (const token of [failure.token, failure.shrunkToken]) {
      const r = await replay(lost, token, { oracles: [] });
      expect(r.violation).toEqual(failure.violation);
    }
  });

  it('refuses a token of another scenario or one that does not fit', async () => {
    const lost = counterScenario({ atomic: false });
    await expect(replay(lost, 'hx1.other.1.none.')).rejects.toThrow(/scenario "other"/);
    await expect(replay(lost, 'hx1.lost-update.1.none.5')).rejects.toThrow(/does not fit this scenario/);
  });

  it('uses the default oracles unless told otherwise', () => {
    expect(defaultOracles().length).toBeGreaterThan(0);
  });
});
