/**
 * The race lanes step through a replayed schedule by its account: each account step must map to
 * the recording's row of the same bus event (or, for the explorer's notes, to the event before).
 */
import { describe, expect, it } from 'vitest';
import { replayToken } from '../../web/src/model/jobs.ts';
import { COUNTS } from '../../web/src/model/recorder.ts';
import { exploreIn } from './explore-in.ts';

const NOTE = /^(threads start|decision \d+ at |switch from |violation \(|step budget spent )/;

describe('race account → recording rows', () => {
  it.each(['D2', 'H1', 'M1'])(
    'mutant %s: every event step lands on its own row, notes on the event before',
    async (m) => {
      const report = await exploreIn({ mutant: m }, {});
      const token = report.failure?.shrunkToken;
      expect(token, `mutant ${m} is found`).toBeTruthy();
      const race = await replayToken(token!, []);
      const rows = race.recording.rows;
      const steps = race.accountSteps;
      expect(race.stepAt).toHaveLength(steps.length);
      let events = 0;
      let last = -1;
      for (const [j, st] of steps.entries()) {
        const at = race.stepAt[j]!;
        // Cursors never go back along the account.
        expect(at).toBeGreaterThanOrEqual(last);
        last = at;
        if (race.stepIsEvent[j]) {
          events++;
          const row = rows[at - 1]!;
          expect(row.time, `step ${j + 1}: ${st.what}`).toBe(st.time);
          expect(row.type === 'step').toBe(false);
          // The row's text names the same kind of event as the account line.
          const kind = st.what.split(/[ (]/)[0]!;
          if (kind === 'invalidate_start' || kind === 'invalidate_end') expect(row.type).toBe(kind);
        } else expect(st.what, `step ${j + 1}`).toMatch(NOTE);
      }
      expect(events).toBeGreaterThan(0);
      // A mirror violation is visible at its own step: the device maps a page the CPU does not back.
      const v = steps.findIndex((st) => st.what.startsWith('violation ('));
      expect(v).toBeGreaterThan(0);
      if (race.violation?.oracle === 'mirror') {
        const stale = race.recording.counts[(race.stepAt[v]! - 1) * COUNTS + 4]!;
        expect(stale).toBeGreaterThan(0);
      }
    },
  );
});
