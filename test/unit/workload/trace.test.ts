/** The Chrome trace of a workload run: the SM-group (μTLB) tracks. */
import { describe, expect, it } from 'vitest';
import { traceWorkload } from '../../../src/trace/workload.ts';
import { ChromeTraceWriter } from '../../../src/trace/writer.ts';
import { generatorWorkload, runWorkload } from '../../../src/workload/engine/run.ts';

interface Ev {
  name: string;
  ph: string;
  pid: number;
  tid: number;
  ts: number;
  dur: number;
  args: Record<string, unknown>;
}

function traced(gen: string, bytes: number): Ev[] {
  let text = '';
  const w = new ChromeTraceWriter((c) => {
    text += c;
  });
  w.begin();
  const r = runWorkload(generatorWorkload(gen, bytes, {}), {
    platform: 'pascal-pcie3',
    observer: traceWorkload(w, 'run'),
  });
  w.end();
  expect(r.counters.faults).toBeGreaterThan(0);
  return JSON.parse(text).traceEvents as Ev[];
}

describe('workload trace: SM-group tracks', () => {
  it('one named track per μTLB (two SMs each on pascal-pcie3), with non-overlapping wait slices', () => {
    const ev = traced('random-page', 8 * 2 ** 20);
    const names = ev.filter((e) => e.name === 'thread_name' && e.tid >= 100);
    // 28 SMs, 2 per μTLB: 14 groups, every one of which faulted.
    expect(names.map((e) => e.args.name).sort()).toEqual(
      Array.from({ length: 14 }, (_, u) => `μTLB ${u} (SMs ${2 * u}–${2 * u + 1})`).sort(),
    );
    const waits = ev.filter((e) => e.name === 'faults outstanding');
    expect(waits.length).toBeGreaterThanOrEqual(14);
    for (let tid = 100; tid < 114; tid++) {
      const mine = waits.filter((e) => e.tid === tid).sort((a, b) => a.ts - b.ts);
      expect(mine.length).toBeGreaterThan(0);
      for (const e of mine) {
        expect(e.dur).toBeGreaterThan(0);
        expect(e.args.maxOutstanding).toBeGreaterThan(0);
        expect(e.args.maxOutstanding as number).toBeLessThanOrEqual(56);
      }
      for (let i = 1; i < mine.length; i++)
        expect(mine[i]!.ts).toBeGreaterThanOrEqual(mine[i - 1]!.ts + mine[i - 1]!.dur);
    }
    // The waits lie within the kernel's slice.
    const k = ev.find((e) => e.ph === 'X' && e.tid === 1)!;
    for (const e of waits) {
      expect(e.ts).toBeGreaterThanOrEqual(k.ts);
      expect(e.ts + e.dur).toBeLessThanOrEqual(k.ts + k.dur + 1e-6);
    }
  });

  it('tracing changes no result', () => {
    const plain = runWorkload(generatorWorkload('stream', 8 * 2 ** 20, {}), { platform: 'pascal-pcie3' });
    let n = 0;
    const obs = runWorkload(generatorWorkload('stream', 8 * 2 ** 20, {}), {
      platform: 'pascal-pcie3',
      observer: { onSmGroup: () => n++ },
    });
    expect(n).toBeGreaterThan(0);
    expect(obs.timeNs).toBe(plain.timeNs);
    expect(obs.counters).toEqual(plain.counters);
  });
});
