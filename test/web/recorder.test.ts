/**
 * The recorder in Node: the `#state` summary at every step end equals the machine's own count,
 * and seeking to any row gives the page states a fresh run read directly at that row (seek-to-N
 * equals re-run-to-N), forwards, backwards and in random orders.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { loadScenario } from '../../src/cli/scenario/validate.ts';
import type { CpuSummary } from '../../web/src/model/pages.ts';
import { recordScenario, rerunTo } from '../../web/src/model/record-run.ts';
import type { Recording } from '../../web/src/model/recorder.ts';
import { SeekState } from '../../web/src/model/seek.ts';

const dir = path.resolve(import.meta.dirname, '../../examples/scenarios');
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .sort();
const doc = (f: string) => loadScenario(readFileSync(path.join(dir, f), 'utf8'), f);

const recordings = new Map<string, { rec: Recording; truth: CpuSummary[] }>();
async function recorded(f: string): Promise<{ rec: Recording; truth: CpuSummary[] }> {
  let r = recordings.get(f);
  if (!r) {
    const truth: CpuSummary[] = [];
    const rec = await recordScenario(doc(f), { onStepEnd: (i, s) => (truth[i] = s) });
    r = { rec, truth };
    recordings.set(f, r);
  }
  return r;
}

describe('recorder: the #state summary at every step end equals the machine', () => {
  it.each(files)('%s', async (f) => {
    const { rec, truth } = await recorded(f);
    expect(rec.failure).toBeNull();
    expect(truth.length).toBe(rec.steps + 1);
    const s = new SeekState(rec);
    for (let k = 0; k <= rec.steps; k++) {
      s.seek(s.atStep(k));
      expect(s.summary()).toEqual({ scenario: rec.scenario, step: k, steps: rec.steps, cpu: truth[k] });
    }
    s.seek(s.atStep('end'));
    expect(s.summary().step).toBe(rec.steps);
    expect(s.summary().cpu).toEqual(truth[rec.steps]);
  });
});

/** Re-running costs a whole run per probe: the property runs on the quicker examples. */
const PROPERTY_FILES = ['anon_write.json', 'device-read-vs-munmap.json', 'migrate.json', 'snapshot.json'];

describe('recorder: seek-to-N equals re-run-to-N', () => {
  for (const f of PROPERTY_FILES) {
    test.prop([fc.array(fc.nat(), { minLength: 3, maxLength: 3 })], { numRuns: 1 })(f, async (picks) => {
      const { rec } = await recorded(f);
      const s = new SeekState(rec);
      for (const p of picks) {
        const row = p % rec.rows.length;
        const again = await rerunTo(doc(f), row);
        expect(again).not.toBeNull();
        s.seek(row + 1);
        expect(Buffer.from(s.codes).equals(Buffer.from(again!.snap.codes))).toBe(true);
        expect(s.pfns).toEqual(again!.snap.pfns);
        expect(s.dev).toEqual(again!.snap.dev);
        expect(s.dpfn).toEqual(again!.snap.dpfn);
        expect(s.summary().cpu).toEqual(again!.summary);
      }
    });
  }

  it('seeking away and back is the identity', async () => {
    const { rec } = await recorded('fork_device_private.json');
    const s = new SeekState(rec);
    const mid = Math.floor(rec.rows.length / 2);
    s.seek(mid);
    const before = [s.codes.slice(), s.pfns.slice(), s.dev.slice(), s.dpfn.slice()];
    for (const to of [0, rec.rows.length, 17, mid + 1000, mid - 1]) s.seek(to);
    s.seek(mid);
    expect([s.codes, s.pfns, s.dev, s.dpfn]).toEqual(before);
  });
});
