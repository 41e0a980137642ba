/**
 * The case of issue #14: a bug of depth 3 among three threads — it needs two ordered preemptions,
 * so PCT with depth 2 (one priority change point) cannot find it at all, while the portfolio
 * (which also runs PCT at depths 3 and 4 for three threads) does.
 */
import { describe, expect, it } from 'vitest';
import { explore } from '../../../src/explore/explore.ts';
import type { Scenario } from '../../../src/explore/types.ts';
import { SMALL_MACHINE } from './scenarios.ts';

interface Relay {
  raised: boolean;
  relayed: boolean;
}

/**
 * `raiser` holds a flag up across one preemption point; `relay` copies it into a second flag
 * that it holds up across one point; `watcher` fails when it sees the second flag. The watcher
 * fails only if the raiser is preempted while its flag is up AND the relay, having seen it, is
 * preempted while its own flag is up: two preemptions in this order.
 */
const relay: Scenario<Relay> = {
  name: 'relay',
  machine: SMALL_MACHINE,
  setup: () => ({ raised: false, relayed: false }),
  threads: {
    async raiser(s, m) {
      await m.sched.yield('raiser before raising');
      s.raised = true;
      await m.sched.yield('raiser with the flag up');
      s.raised = false;
    },
    async relay(s, m) {
      await m.sched.yield('relay before looking');
      if (s.raised) s.relayed = true;
      await m.sched.yield('relay with the flag up');
      s.relayed = false;
    },
    async watcher(s, m) {
      await m.sched.yield('watcher before looking');
      if (s.relayed) throw new Error('the watcher saw the relayed flag');
    },
  },
};

const SCHEDULES = 2000;

describe(`a depth-3 bug among three threads (${SCHEDULES} schedules per strategy, seeds 1…5)`, () => {
  it('PCT with depth 2 never finds it: one change point cannot make two preemptions', async () => {
    for (let seed = 1; seed <= 5; seed++) {
      const r = await explore({
        ...relay,
        strategy: 'pct',
        depth: 2,
        schedules: SCHEDULES,
        seed,
        oracles: [],
      });
      expect(r.failure, `seed ${seed}`).toBeNull();
    }
  });

  it('PCT with depth 3 and the portfolio (the default) find it', async () => {
    for (let seed = 1; seed <= 5; seed++) {
      for (const strategy of ['portfolio', 'pct'] as const) {
        const r = await explore({
          ...relay,
          strategy,
          depth: strategy === 'pct' ? 3 : undefined,
          schedules: SCHEDULES,
          seed,
          oracles: [],
        });
        expect(r.failure?.violation.message, `${strategy}, seed ${seed}`).toMatch(/saw the relayed flag/);
        expect(r.failure!.shrunkPreemptions).toBeGreaterThanOrEqual(2);
      }
    }
  });
});
