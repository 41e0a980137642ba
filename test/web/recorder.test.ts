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
import { replayToken } from '../../web/src/model/jobs.ts';
import type { CpuSummary } from '../../web/src/model/pages.ts';
import { DC_STALE } from '../../web/src/model/pages.ts';
import { recordScenario, rerunTo } from '../../web/src/model/record-run.ts';
import type { Recorder, Recording } from '../../web/src/model/recorder.ts';
import { SeekState } from '../../web/src/model/seek.ts';
import { exploreIn } from './explore-in.ts';

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

describe('recorder: the first answer (rows at step ends only) equals the full recording there', () => {
  // The page paints this one first: its regions, labels and page states at every step end must
  // be the full recording's, so the swap to the full recording changes nothing on screen.
  it.each(files)('%s', async (f) => {
    const { rec, truth } = await recorded(f);
    const first = await recordScenario(doc(f), { stepsOnly: true });
    expect(first.rows.length).toBe(first.marks.length);
    expect(first.marks.map((m) => [m.op, m.line, m.text])).toEqual(
      rec.marks.map((m) => [m.op, m.line, m.text]),
    );
    expect(first.regions.map(({ since: _, ...r }) => r)).toEqual(rec.regions.map(({ since: _, ...r }) => r));
    expect([first.scenario, first.steps, first.pages, first.ramFrames, first.failure]).toEqual([
      rec.scenario,
      rec.steps,
      rec.pages,
      rec.ramFrames,
      rec.failure,
    ]);
    expect(new Set(first.threads)).toEqual(new Set(rec.threads));
    expect(new Set(first.devices)).toEqual(new Set(rec.devices));
    const a = new SeekState(first);
    const b = new SeekState(rec);
    for (let k = 0; k <= rec.steps; k++) {
      a.seek(a.atStep(k));
      b.seek(b.atStep(k));
      expect(a.summary()).toEqual({ scenario: rec.scenario, step: k, steps: rec.steps, cpu: truth[k] });
      expect(a.summary()).toEqual(b.summary());
      for (const key of ['codes', 'pfns', 'dev', 'dpfn'] as const)
        expect(Buffer.from(a[key].buffer).equals(Buffer.from(b[key].buffer)), `${f} step ${k}: ${key}`).toBe(
          true,
        );
      const i = a.at - 1;
      const j = b.at - 1;
      expect(first.open[i]).toEqual(rec.open[j]);
      expect(first.notifiers[i]).toEqual(rec.notifiers[j]);
    }
  });
});

describe('recorder: reading only what changed misses nothing', () => {
  // Every row: the states the recorder keeps (it decodes a 2 MiB stretch only when its raw
  // words changed, device entries only where something they depend on did) equal a full read of
  // every region at that row.
  const same = (a: ArrayBufferView, b: ArrayBufferView) =>
    Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(
      Buffer.from(b.buffer, b.byteOffset, b.byteLength),
    );
  const check = (what: string, row: number, rec: Recorder): void => {
    const full = rec.snapshot();
    const kept = rec.recorded();
    for (const k of ['codes', 'pfns', 'dev', 'dpfn'] as const)
      if (!same(full[k], kept[k])) expect.fail(`${what}: row ${row}: ${k} differ from a full read`);
  };
  it.each(files)('%s', async (f) => {
    let rows = 0;
    await recordScenario(doc(f), {
      everyRow: (row, rec) => {
        check(f, row, rec);
        rows++;
      },
    });
    expect(rows).toBeGreaterThan(0);
  });
  // A mutant's failing schedule: device entries go stale while invalidations open and close,
  // which the correct examples never reach.
  it('mutant D2, its shrunk failing schedule', async () => {
    const report = await exploreIn({ mutant: 'D2' }, {});
    const token = report.failure?.shrunkToken;
    expect(token).toBeTruthy();
    let stale = 0;
    const race = await replayToken(token!, [], {
      row: 'every',
      at: (_m, rec, row) => {
        check('D2', row, rec);
        stale = Math.max(stale, rec.recorded().dev.filter((d) => (d & DC_STALE) !== 0).length);
      },
    });
    expect(race.violation).not.toBeNull();
    expect(stale).toBeGreaterThan(0);
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
